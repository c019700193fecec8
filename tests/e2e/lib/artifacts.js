// Test artifacts: screenshots of the whole (virtual) screen and JSON measurements.
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { ARTIFACTS } from "./app.js";

/**
 * Saves the X screen as `<name>.png` with ImageMagick's `import` (what a user would see,
 * window decorations and fonts included) and returns the path.
 */
export async function screenshot(name) {
  // Let the last frame paint.
  await new Promise((r) => setTimeout(r, 400));
  const file = path.join(ARTIFACTS, `${name}.png`);
  execFileSync("import", ["-window", "root", file], { stdio: "ignore" });
  return file;
}

export function saveJson(name, value) {
  const file = path.join(ARTIFACTS, `${name}.json`);
  writeFileSync(file, JSON.stringify(value, null, 2));
  return file;
}
