// The hardware and plan view: this machine's CPU and memory, and the plan for the model with
// its fit as a bar; the precision override reaches the plan.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { launch, byId, By, text } from "./lib/app.js";
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
