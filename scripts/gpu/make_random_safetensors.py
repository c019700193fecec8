"""A random-weight Mistral-7B-shaped model as bf16 safetensors (config.json + one
model.safetensors), for benchmarking the GPU path without the gated download.

Runs where scripts/gpu-check.sh runs (a GPU machine with PyTorch, no internet). Writes tensor by
tensor, so memory stays at one tensor. Values are uniform with standard deviation 0.02 and norms
1.0, like `jslm bench`'s random GGUF files (crates/jslm-engine/src/synthetic.rs).

    python3 scripts/gpu/make_random_safetensors.py OUT_DIR
"""

import json
import os
import shutil
import struct
import sys

import torch

# Mistral-7B-v0.1's config, which Japanese StableLM Instruct Gamma 7B shares.
CONFIG = {
    "architectures": ["MistralForCausalLM"],
    "model_type": "mistral",
    "bos_token_id": 1,
    "eos_token_id": 2,
    "hidden_act": "silu",
    "hidden_size": 4096,
    "intermediate_size": 14336,
    "max_position_embeddings": 32768,
    "num_attention_heads": 32,
    "num_hidden_layers": 32,
    "num_key_value_heads": 8,
    "rms_norm_eps": 1e-05,
    "rope_theta": 10000.0,
    "sliding_window": 4096,
    "tie_word_embeddings": False,
    "torch_dtype": "bfloat16",
    "vocab_size": 32000,
}


def shapes():
    h, i, v = CONFIG["hidden_size"], CONFIG["intermediate_size"], CONFIG["vocab_size"]
    kv = CONFIG["num_key_value_heads"] * (h // CONFIG["num_attention_heads"])
    yield "model.embed_tokens.weight", (v, h)
    for layer in range(CONFIG["num_hidden_layers"]):
        p = f"model.layers.{layer}."
        yield p + "input_layernorm.weight", (h,)
        yield p + "self_attn.q_proj.weight", (h, h)
        yield p + "self_attn.k_proj.weight", (kv, h)
        yield p + "self_attn.v_proj.weight", (kv, h)
        yield p + "self_attn.o_proj.weight", (h, h)
        yield p + "post_attention_layernorm.weight", (h,)
        yield p + "mlp.gate_proj.weight", (i, h)
        yield p + "mlp.up_proj.weight", (i, h)
        yield p + "mlp.down_proj.weight", (h, i)
    yield "model.norm.weight", (h,)
    yield "lm_head.weight", (v, h)


def main(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    header, offset = {}, 0
    for name, shape in shapes():
        size = 2
        for d in shape:
            size *= d
        header[name] = {"dtype": "BF16", "shape": list(shape), "data_offsets": [offset, offset + size]}
        offset += size
    header_bytes = json.dumps(header, separators=(",", ":")).encode()
    header_bytes += b" " * (-len(header_bytes) % 8)
    path = os.path.join(out_dir, "model.safetensors")
    partial = path + ".partial"
    # On the GPU where there is one: 7.2 billion draws took ~90 s of the H200 machine's CPU.
    device = "cuda" if torch.cuda.is_available() else "cpu"
    generator = torch.Generator(device=device).manual_seed(7)
    bound = 0.02 * 3 ** 0.5
    with open(partial, "wb") as f:
        f.write(struct.pack("<Q", len(header_bytes)))
        f.write(header_bytes)
        for name, shape in shapes():
            if len(shape) == 1:
                t = torch.ones(shape, dtype=torch.bfloat16)
            else:
                t = (torch.rand(shape, generator=generator, device=device) * 2 - 1).mul_(bound)
                t = t.to(torch.bfloat16).cpu()
            f.write(t.view(torch.int16).numpy().tobytes())
    os.replace(partial, path)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(CONFIG, f, indent=2)
    here = os.path.dirname(os.path.abspath(__file__))
    tokenizer = os.path.join(here, "..", "..", "tests", "fixtures", "tokenizer")
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(os.path.join(tokenizer, name), out_dir)
    print(path, offset + 8 + len(header_bytes), "bytes")


if __name__ == "__main__":
    main(sys.argv[1])
