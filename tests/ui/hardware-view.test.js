// Byte formatting and the one-line plan description.
import { test } from "node:test";
import assert from "node:assert/strict";
import { buildText, deviceName, formatBytes, planLine, precisionLabel, splitText } from "../../ui/js/hardware-view.js";
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
