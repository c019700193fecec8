// The `jslm` CLI as the reference: the same request through `jslm generate --json`.
import { execFileSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { CLI, TINY_MODEL } from "./app.js";

// The CLI's own cache (quantized models) for this test run, not the user's.
const CACHE = mkdtempSync(path.join(tmpdir(), "jslm-e2e-cli-"));

/** Runs the CLI and returns its final JSON line (`text`, `generated_token_ids`, ...). */
export function cliGenerate({ instruction, input = "", maxNewTokens, seed, greedy = false, model = TINY_MODEL }) {
  const args = ["generate", "--model", model, "--instruction", instruction, "--json", "--max-new-tokens", String(maxNewTokens)];
  if (input) args.push("--input", input);
  if (greedy) args.push("--greedy");
  if (seed !== undefined && seed !== null) args.push("--seed", String(seed));
  const out = execFileSync(CLI, args, {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, JSLM_CACHE_DIR: CACHE },
  });
  const lines = out.trim().split("\n");
  return JSON.parse(lines[lines.length - 1]);
}
