// Model files as other apps keep them, for the "found on this computer" tests: a GGUF v3 header
// of Japanese StableLM Instruct Gamma 7B in Q8_0 followed by its data section as a hole (a sparse
// file: 7 GB long, no disk space), the same file crates/jslm-cli/tests/cli_found.rs writes.
import { closeSync, mkdirSync, openSync, ftruncateSync, writeSync } from "node:fs";
import path from "node:path";

const Q8_0 = 8;
const F32 = 0;

function u32(n) {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}
function u64(n) {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
}
function str(s) {
  const bytes = Buffer.from(s, "utf8");
  return Buffer.concat([u64(bytes.length), bytes]);
}

/** Writes the 7B-shaped Q8_0 GGUF header at `file` (sparse); returns the file's length. */
export function write7bGguf(file) {
  const [hidden, ffn, layers, kv, vocab] = [4096, 14336, 32, 1024, 32000];
  const tensors = [
    ["token_embd.weight", [hidden, vocab], Q8_0],
    ["output_norm.weight", [hidden], F32],
    ["output.weight", [hidden, vocab], Q8_0],
  ];
  for (let l = 0; l < layers; l++) {
    for (const [part, dims, type] of [
      ["attn_norm", [hidden], F32],
      ["attn_q", [hidden, hidden], Q8_0],
      ["attn_k", [hidden, kv], Q8_0],
      ["attn_v", [hidden, kv], Q8_0],
      ["attn_output", [hidden, hidden], Q8_0],
      ["ffn_norm", [hidden], F32],
      ["ffn_gate", [hidden, ffn], Q8_0],
      ["ffn_up", [hidden, ffn], Q8_0],
      ["ffn_down", [ffn, hidden], Q8_0],
    ]) {
      tensors.push([`blk.${l}.${part}.weight`, dims, type]);
    }
  }
  const metadata = [
    ["general.architecture", "llama"],
    ["general.name", "stabilityai_japanese-stablelm-instruct-gamma-7b"],
    ["general.file_type", 7],
    ["llama.block_count", layers],
    ["llama.embedding_length", hidden],
    ["llama.feed_forward_length", ffn],
    ["llama.attention.head_count", 32],
    ["llama.attention.head_count_kv", 8],
    ["llama.context_length", 32768],
    ["llama.rope.dimension_count", 128],
  ];
  const parts = [Buffer.from("GGUF"), u32(3), u64(tensors.length), u64(metadata.length)];
  for (const [key, value] of metadata) {
    parts.push(str(key));
    if (typeof value === "number") parts.push(u32(4), u32(value));
    else parts.push(u32(8), str(value));
  }
  let offset = 0n;
  for (const [name, dims, type] of tensors) {
    parts.push(str(name), u32(dims.length), ...dims.map(u64), u32(type), u64(offset));
    const elems = dims.reduce((a, b) => a * BigInt(b), 1n);
    const bytes = type === Q8_0 ? (elems / 32n) * 34n : elems * 4n;
    offset = ((offset + bytes + 31n) / 32n) * 32n;
  }
  const header = Buffer.concat(parts);
  const dataStart = BigInt(Math.ceil(header.length / 32) * 32);
  const length = dataStart + offset;
  mkdirSync(path.dirname(file), { recursive: true });
  const fd = openSync(file, "w");
  try {
    writeSync(fd, header);
    ftruncateSync(fd, Number(length));
  } finally {
    closeSync(fd);
  }
  return Number(length);
}
