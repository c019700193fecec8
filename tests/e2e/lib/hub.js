// The local Hugging Face test hub (`jslm-hubtest`) serving the tiny model as the catalog's
// gated official repo, and the environment that points the app at it.
import { spawn } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import readline from "node:readline";
import { TARGET, TINY_MODEL } from "./app.js";

export const OFFICIAL = "stabilityai/japanese-stablelm-instruct-gamma-7b";
const HUBTEST = process.env.JSLM_HUBTEST ?? path.join(TARGET, "debug", "jslm-hubtest");

/** `model.safetensors.index.json` naming every tensor of the one-file fixture. */
function shardIndex(weights) {
  const len = Number(weights.readBigUInt64LE(0));
  const header = JSON.parse(weights.subarray(8, 8 + len).toString("utf8"));
  const weightMap = Object.fromEntries(Object.keys(header).filter((k) => k !== "__metadata__").map((k) => [k, "model.safetensors"]));
  return JSON.stringify({ metadata: { total_size: weights.length }, weight_map: weightMap });
}

/**
 * Starts the test hub. Tokens: `hf_accepted` (account `tester`, accepted the terms) and
 * `hf_no_terms` (account `newcomer`). `throttle` limits the weights' download speed (bytes/s)
 * for that many requests, so progress is visible and a download can be interrupted.
 */
export async function startHub({ throttle = 1_500_000, throttledRequests = 20 } = {}) {
  const root = mkdtempSync(path.join(tmpdir(), "jslm-e2e-hub-"));
  const repo = path.join(root, "repos", ...OFFICIAL.split("/"));
  mkdirSync(repo, { recursive: true });
  for (const f of ["config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "model.safetensors"]) {
    copyFileSync(path.join(TINY_MODEL, f), path.join(repo, f));
  }
  writeFileSync(path.join(repo, "model.safetensors.index.json"), shardIndex(readFileSync(path.join(TINY_MODEL, "model.safetensors"))));
  const args = [
    "--dir", path.join(root, "repos"),
    "--gated", OFFICIAL,
    "--token", `hf_accepted:tester:${OFFICIAL}`,
    "--token", "hf_no_terms:newcomer",
    "--fault", `model.safetensors:throttle:${throttle}:${throttledRequests}`,
  ];
  const child = spawn(HUBTEST, args, { stdio: ["ignore", "pipe", "inherit"] });
  const endpoint = await new Promise((resolve, reject) => {
    const lines = readline.createInterface({ input: child.stdout });
    lines.once("line", (line) => resolve(line.replace(/^HF_ENDPOINT=/, "").trim()));
    child.once("exit", (code) => reject(new Error(`jslm-hubtest exited with ${code}`)));
  });
  return {
    endpoint,
    /** Environment for the app: this hub, a fresh HF cache, no keychain, a token file here. */
    env: {
      HF_ENDPOINT: endpoint,
      HF_HOME: path.join(root, "hf-home"),
      HF_TOKEN: "",
      JSLM_KEYCHAIN: "off",
      JSLM_TOKEN_FILE: path.join(root, "app-token"),
    },
    stop() {
      child.kill();
    },
  };
}
