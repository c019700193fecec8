// Byte formatting and the one-line plan description.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { buildText, deviceName, formatBytes, noteRows, planLine, precisionLabel, refusalText, splitText, warningText } from "../../ui/js/hardware-view.js";
import { describeError } from "../../ui/js/errors.js";

test("formatBytes table", () => {
  const cases = [
    [0, "0 MB"],
    [524_288_000, "524 MB"],
    [4_370_000_000, "4.4 GB"],
    [12_800_000_000, "12.8 GB"],
    [NaN, "—"],
    [-1, "—"],
  ];
  for (const [bytes, expected] of cases) assert.equal(formatBytes(bytes), expected, String(bytes));
});

test("the plan's device as users write it, not its internal name", () => {
  assert.equal(deviceName({ kind: "cpu" }), "CPU");
  assert.equal(deviceName({ kind: "cuda", ordinal: 1, nvml_index: 0 }), "CUDA 1");
  assert.equal(deviceName({ kind: "metal" }), "Metal");
  assert.equal(deviceName("cpu"), "CPU");
  assert.equal(deviceName(undefined), "—");
});

test("plan line in both languages", () => {
  const plan = {
    precision: "q4_k_m",
    threads: 8,
    context_tokens: 4096,
    fit: { level: "tight", needed_bytes: 12_800_000_000, available_bytes: 14_000_000_000 },
  };
  assert.equal(planLine("ja", plan), "Q4_K_M・8 スレッド・コンテキスト 4096 トークン・必要 12.8 GB / 利用可能 14.0 GB（ぎりぎり）");
  assert.equal(planLine("en", plan), "Q4_K_M · 8 threads · context 4096 tokens · needs 12.8 GB of 14.0 GB available (fits tightly)");
  assert.equal(precisionLabel("q8_0"), "Q8_0");
});

test("a model split between the GPU and the CPU, in both languages", () => {
  const split = {
    gpu_layers: 9,
    total_layers: 32,
    gpu_fit: { level: "comfortable", needed_bytes: 3_100_000_000, available_bytes: 4_000_000_000 },
  };
  assert.equal(splitText("ja", split), "GPU に全 32 層のうち 9 層、CPU に 23 層（GPU 側の必要 3.1 GB / 空き 4.0 GB）");
  assert.equal(splitText("en", split), "9 of 32 layers on the GPU, 23 on the CPU (the GPU's part needs 3.1 GB of 4.0 GB free)");
  assert.equal(splitText("en", undefined), null);
});

test("will_not_fit shows the numbers as GB", () => {
  const e = describeError("ja", { code: "will_not_fit", message: "x", numbers: { needed_bytes: 20_300_000_000, available_bytes: 9_000_000_000 } });
  assert.match(e.title, /必要 20\.3 GB、利用可能 9\.0 GB/);
});

test("which build runs, and why not the CUDA one, in both languages", () => {
  const stay = (reason) => ({ kind: "stay_on_cpu", reason });
  // No NVIDIA GPU: nothing to say (the GPU row already says none).
  assert.equal(buildText("ja", stay({ reason: "no_nvidia_gpu" })), null);
  assert.equal(buildText("en", undefined), null);
  assert.equal(buildText("en", { kind: "this_is_cuda" }), "CUDA (runs on the GPU)");
  const old = stay({ reason: "driver_too_old", driver_cuda: [12, 4], needed_major: 13 });
  assert.match(buildText("ja", old), /CUDA 12\.4 までの対応.*CUDA 13\.0 以上.*R580/);
  assert.match(buildText("en", old), /supports CUDA 12\.4.*CUDA 13\.0 or newer/);
  const missing = stay({ reason: "libraries_missing", missing: ["libcublas.so.13", "libcurand.so.10"] });
  assert.match(buildText("en", missing), /libcublas\.so\.13, libcurand\.so\.10/);
  assert.match(buildText("ja", stay({ reason: "twin_not_installed", expected: "/usr/bin/jslm-cuda" })), /CUDA 版が含まれていません/);
});

/**
 * The variants of a serde-tagged Rust enum (`#[serde(tag = "code", rename_all = "snake_case")]`)
 * as `{ code, fields }`, read from the source so that a variant added there without text here
 * fails the test below.
 */
function rustVariants(file, name) {
  const source = readFileSync(new URL(`../../crates/jslm-hardware/src/${file}`, import.meta.url), "utf8");
  const head = source.indexOf(`pub enum ${name} {`);
  assert.ok(head > 0, `${name} in ${file}`);
  const before = source.slice(source.lastIndexOf("#[serde(", head), head);
  assert.match(before, /tag = "code", rename_all = "snake_case"/, `${name}'s serde attributes`);
  let depth = 0;
  let end = source.indexOf("{", head);
  for (; end < source.length; end++) {
    if (source[end] === "{") depth++;
    if (source[end] === "}" && --depth === 0) break;
  }
  const body = source
    .slice(source.indexOf("{", head) + 1, end)
    .split("\n")
    .filter((line) => !/^\s*(\/\/|#\[)/.test(line))
    .join("\n");
  return [...body.matchAll(/(\w+)\s*(?:\{([^}]*)\})?\s*,?/g)].map(([, variant, fields = ""]) => ({
    code: variant.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toLowerCase(),
    fields: [...fields.matchAll(/(\w+)\s*:/g)].map((m) => m[1]),
  }));
}

/** A plausible value for a field, by its name (what the backend sends for it). */
function sample(field) {
  if (field.endsWith("_bytes")) return 6_000_000_000;
  if (field.endsWith("_tokens") || field === "requested" || field === "logical_cores") return 4096;
  return {
    precision: "q8_0",
    pool: "gpu_vram",
    device: "cuda",
    reason: { code: "zero" },
    gpu: "NVIDIA GeForce RTX 4060",
    message: "CUDA_ERROR_NO_DEVICE",
  }[field];
}

test("every plan warning and refusal the backend can send has text in both languages", () => {
  const warnings = rustVariants("warning.rs", "PlanWarning");
  const refusals = rustVariants("refusal.rs", "RefusalReason");
  assert.ok(warnings.length >= 10 && refusals.length >= 15);
  for (const lang of ["ja", "en"]) {
    for (const { code, fields } of warnings) {
      const warning = { code, ...Object.fromEntries(fields.map((f) => [f, sample(f)])) };
      const text = warningText(lang, warning);
      assert.notEqual(text, code, `${lang} warning ${code}`);
      assert.doesNotMatch(text, /\{\w+\}|undefined|object Object/, `${lang} warning ${code}: ${text}`);
    }
    for (const { code, fields } of refusals) {
      const reason = { code, ...Object.fromEntries(fields.map((f) => [f, sample(f)])) };
      const text = refusalText(lang, reason);
      assert.notEqual(text, code, `${lang} refusal ${code}`);
      assert.doesNotMatch(text, /\{\w+\}|undefined|object Object/, `${lang} refusal ${code}: ${text}`);
    }
  }
});

test("a warning's numbers and names are shown as people read them", () => {
  const small = {
    code: "gpu_too_small",
    gpu: "RTX 3060",
    precision: "q8_0",
    needed_bytes: 8_100_000_000,
    available_bytes: 5_900_000_000,
    pool: "gpu_vram",
  };
  assert.equal(warningText("ja", small), "RTX 3060 にはモデル全体が収まりません（Q8_0 で必要 8.1 GB、VRAM の空き 5.9 GB）。");
  assert.equal(warningText("en", small), "The whole model does not fit in RTX 3060 (Q8_0 needs 8.1 GB; VRAM free: 5.9 GB).");
  const forced = {
    code: "forced",
    reason: { code: "will_not_fit", needed_bytes: 20_300_000_000, available_bytes: 9_000_000_000, pool: "system_ram" },
  };
  assert.equal(warningText("ja", forced), "指定どおりに実行します（通常は止める理由: メモリが足りません（必要 20.3 GB、利用可能なメモリ 9.0 GB））。");
  assert.match(warningText("en", forced), /normally be refused: not enough memory \(needs 20\.3 GB; RAM available: 9\.0 GB\)/);
  assert.match(warningText("en", { code: "forced", reason: { code: "no_bf16", device: "cuda" } }), /this CUDA GPU has no bf16/);
  // A code this page does not know yet still says something.
  assert.equal(warningText("en", { code: "new_thing" }), "new_thing");
});

test("detection notes are shown: a GPU whose driver is not running is not 'GPU: none' alone", () => {
  const notes = [{ code: "nvml_failed", message: "1 NVIDIA GPU(s) on the PCI bus, but the NVIDIA driver is not running" }];
  assert.deepEqual(noteRows("ja", notes, describeError), [[
    "検出の注意",
    "NVIDIA のドライバーライブラリ（NVML）がエラーを返しました。 詳細: 1 NVIDIA GPU(s) on the PCI bus, but the NVIDIA driver is not running",
  ]]);
  const [[label, text]] = noteRows("en", notes, describeError);
  assert.equal(label, "Detection note");
  assert.match(text, /^The NVIDIA driver library \(NVML\) reported an error\. .*driver is not running$/);
  // A code the page does not know still says something; no notes, no rows.
  assert.equal(noteRows("en", [{ code: "new_code", message: "" }], describeError)[0][1], "Something went wrong.");
  assert.deepEqual(noteRows("en", undefined, describeError), []);
});
