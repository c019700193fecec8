// The `jslm` CLI as the reference: the same request through `jslm generate --json`.
import { execFileSync } from "node:child_process";
import { CLI, TINY_MODEL } from "./app.js";

/** Runs the CLI and returns its final JSON line (`text`, `generated_token_ids`, ...). */
export function cliGenerate({ instruction, input = "", maxNewTokens, seed, greedy = false, model = TINY_MODEL }) {
  const args = ["generate", "--model", model, "--instruction", instruction, "--json", "--max-new-tokens", String(maxNewTokens)];
  if (input) args.push("--input", input);
  if (greedy) args.push("--greedy");
  if (seed !== undefined && seed !== null) args.push("--seed", String(seed));
  const out = execFileSync(CLI, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  const lines = out.trim().split("\n");
  return JSON.parse(lines[lines.length - 1]);
}
