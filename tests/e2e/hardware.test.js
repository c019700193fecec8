// The hardware and plan view: this machine's CPU and memory, and the plan for the model with
// its fit as a bar; the precision override reaches the plan.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { launch, byId, By, text, CLI, freshDataDir } from "./lib/app.js";
import { screenshot } from "./lib/artifacts.js";

let app;
before(async () => {
  app = await launch();
});
after(async () => {
  await app?.quit();
});

async function openHardware(driver) {
  await driver.executeScript("document.getElementById('model-change').open = true; document.getElementById('hardware').open = true");
  await driver.wait(async () => (await driver.findElements(By.css("#hardware-body .fit"))).length === 1, 15000);
}

test("shows the machine and the plan with a fit bar", async () => {
  const { driver } = app;
  await openHardware(driver);
  const body = await text(driver, "hardware-body");
  assert.match(body, /CPU/);
  assert.match(body, /物理 \d+・論理 \d+/);
  assert.match(body, /利用可能 [\d.]+ [GM]B \/ 全体 [\d.]+ [GM]B/);
  // The tiny model is small: the plan keeps it unquantized, and says why.
  assert.match(body, /tiny-mistral: CPU・F32・\d+ スレッド・コンテキスト 4096 トークン/);
  assert.match(body, /選んだ理由: 小さいモデル（f32 で [\d.]+ MB）なので量子化しません/);
  assert.equal(await text(driver, "hardware-body").then(() => driver.findElement(By.css("#hardware-body .badge")).getAttribute("data-level")), "comfortable");
  // No NVIDIA GPU here: no control for its layers.
  assert.equal(await driver.executeScript("return document.getElementById('gpu-layers-field').hidden"), true);
  const meter = await driver.findElement(By.css("#hardware-body meter"));
  assert.ok(Number(await meter.getAttribute("value")) > 0);
  assert.match(await meter.getAttribute("aria-label"), /^余裕あり: 必要 /);
  // The section sits below the model manager: bring it into the picture it is named for.
  await driver.executeScript("document.getElementById('hardware-body').scrollIntoView({ block: 'center' })");
  await screenshot("09-hardware-plan");
});

test("the precision override changes the plan", async () => {
  const { driver } = app;
  await driver.findElement(By.css('#precision option[value="q8_0"]')).click();
  await driver.wait(async () => /・Q8_0・/.test(await text(driver, "hardware-body")), 10000);
  await driver.findElement(By.css('#precision option[value="auto"]')).click();
  await driver.wait(async () => /・F32・/.test(await text(driver, "hardware-body")), 10000);
});

test("a GPU too small for the model: the catalog row says how it is split", async () => {
  // This machine as `jslm doctor` sees it, with a simulated 4 GB laptop GPU (3.6 GiB free)
  // that CUDA can use: the 7B does not fit it whole.
  const profile = JSON.parse(execFileSync(CLI, ["doctor", "--json", "--no-probe"]).toString()).profile;
  profile.nvidia_gpus = [{
    nvml_index: 0,
    cuda_ordinal: 0,
    name: "NVIDIA GeForce RTX 3050 Laptop GPU",
    uuid: "GPU-e2e",
    total_vram_bytes: 4 * 2 ** 30,
    free_vram_bytes: Math.round(3.6 * 2 ** 30),
    compute_capability: [8, 6],
  }];
  profile.backends.cuda = { state: "available" };
  const dir = freshDataDir();
  const file = path.join(dir, "hardware-profile.json");
  writeFileSync(file, JSON.stringify(profile));
  const small = await launch({ model: null, dataDir: dir, env: { JSLM_E2E_HARDWARE_PROFILE: file } });
  try {
    const { driver } = small;
    const row = 'li[data-id="jslm-gamma-7b"]';
    await driver.wait(async () => (await driver.findElements(By.css(`${row} .model-split`))).length === 1, 15000);
    const split = await driver.findElement(By.css(`${row} .model-split`)).getText();
    assert.match(split, /^GPU に全 32 層のうち \d+ 層、CPU に \d+ 層（GPU 側の必要 [\d.]+ GB \/ 空き 3\.9 GB）$/);
    await driver.executeScript(`document.querySelector('${row}').scrollIntoView({ block: "center" })`);
    await screenshot("09b-split-plan");
    // The window's own number of blocks reaches the plan; then back to automatic.
    // Read afresh each time: the manager re-renders its rows when the plan changes.
    const splitOf = () => driver.executeScript(`return document.querySelector('${row} .model-split')?.textContent ?? ""`);
    const ramNeeded = async () => {
      const label = await driver.executeScript(`return document.querySelector('${row} meter')?.getAttribute("aria-label") ?? ""`);
      return Number(label.match(/必要 ([\d.]+) GB/)?.[1]);
    };
    const ramAuto = await ramNeeded();
    await driver.executeScript("document.getElementById('model-change').open = true");
    await driver.wait(async () => driver.findElement(byId("gpu-layers-field")).isDisplayed(), 15000);
    await driver.findElement(By.css('#gpu-layers option[value="8"]')).click();
    await driver.wait(async () => /のうち 8 層、CPU に 24 層/.test(await splitOf()), 10000);
    // RAM holds the CPU's part only: below the 5.3 GB the whole 7B needs on the CPU, and more
    // of it with fewer blocks on the GPU.
    assert.ok(ramAuto > 2 && ramAuto < 5, `${ramAuto} GB of RAM`);
    await driver.wait(async () => (await ramNeeded()) > ramAuto, 10000);
    // The same in English, with the form's select in the picture.
    await driver.findElement(byId("lang-toggle")).click();
    await driver.wait(async () => /^8 of 32 layers on the GPU, 24 on the CPU/.test(await splitOf()), 10000);
    await driver.executeScript("document.getElementById('gpu-layers').scrollIntoView({ block: 'end' })");
    await screenshot("09c-split-english");
    await driver.findElement(byId("lang-toggle")).click();
    await driver.findElement(By.css('#gpu-layers option[value="auto"]')).click();
    await driver.wait(async () => (await splitOf()) === split, 10000);
  } finally {
    await small.quit();
  }
});
