// The model manager against the local test hub: the catalog with fit badges, the 401 and 403
// messages with the model page button, the masked token (the page only learns the account),
// a download with visible progress, resuming it after restarting the app, and using the model.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { launch, freshDataDir, byId, By, text, outputText, waitIdle, setField, choosePreset } from "./lib/app.js";
import { startHub } from "./lib/hub.js";
import { screenshot } from "./lib/artifacts.js";

let hub;
let app;
let dataDir;
before(async () => {
  hub = await startHub({ throttle: 1_000_000 });
  dataDir = freshDataDir();
  app = await launch({ model: null, dataDir, env: hub.env });
});
after(async () => {
  await app?.quit();
  hub?.stop();
});

const ROW = 'li[data-id="jslm-gamma-7b"]';
const rowText = (driver) => driver.executeScript(`return document.querySelector('${ROW}')?.textContent ?? ""`);
const rowState = (driver) => driver.executeScript(`return document.querySelector('${ROW}')?.dataset.state ?? null`);
const clickAction = (driver, action) => driver.findElement(By.css(`${ROW} button[data-action="${action}"]`)).click();

async function saveToken(driver, token) {
  const input = await driver.findElement(byId("token-input"));
  await input.sendKeys(token);
  assert.equal(await input.getAttribute("type"), "password", "the token field is masked");
  await driver.findElement(byId("token-save")).click();
  await driver.wait(async () => !(await text(driver, "token-state")).includes("確認しています"), 15000);
  assert.equal(await input.getAttribute("value"), "", "the page does not keep the token");
}

test("without a model the catalog is shown, with the fit of each model", async () => {
  const { driver } = app;
  await driver.wait(async () => (await driver.findElements(By.css(ROW))).length === 1, 15000);
  assert.equal(await driver.executeScript("return document.getElementById('model-manager').open"), true);
  const row = await rowText(driver);
  assert.match(row, /Japanese StableLM Instruct Gamma 7B/);
  assert.match(row, /利用規約への同意が必要/);
  assert.match(row, /未ダウンロード/);
  assert.match(row, /(余裕あり|ぎりぎり|入りません)/);
  assert.equal(await text(driver, "token-state"), "トークンは設定されていません。");
  await screenshot("10-model-catalog");
});

test("401 without a token, 403 before accepting the terms, with a button to the model page", async () => {
  const { driver } = app;
  await clickAction(driver, "download");
  await driver.wait(async () => /トークンが必要です/.test(await rowText(driver)), 15000);
  assert.equal((await driver.findElements(By.css(`${ROW} button[data-action="open-page"]`))).length, 1);
  await screenshot("11-gated-401");

  await saveToken(driver, "hf_wrong");
  assert.match(await text(driver, "token-state"), /トークンを拒否しました/);
  await saveToken(driver, "hf_no_terms");
  assert.equal(await text(driver, "token-state"), "トークンは設定済みです（アカウント: newcomer）。");
  await clickAction(driver, "download");
  await driver.wait(async () => /まだ利用規約に同意していません/.test(await rowText(driver)), 15000);
  assert.equal((await driver.findElements(By.css(`${ROW} button[data-action="open-page"]`))).length, 1);
  await screenshot("12-gated-403");
  const html = await driver.executeScript("return document.documentElement.outerHTML");
  assert.ok(!html.includes("hf_no_terms") && !html.includes("hf_wrong"), "no token in the page");
});

test("download with progress, survive a restart, resume, and use the model", async () => {
  let { driver } = app;
  await saveToken(driver, "hf_accepted");
  assert.equal(await text(driver, "token-state"), "トークンは設定済みです（アカウント: tester）。");
  await clickAction(driver, "download");
  // Download became Pause: the keyboard focus went with it, not to the page.
  const focused = () => driver.executeScript("return document.activeElement?.dataset?.action ?? document.activeElement?.id ?? document.activeElement?.tagName");
  await driver.wait(async () => (await focused()) === "pause", 5000);
  // Progress: bars and numbers move.
  await driver.wait(async () => {
    const v = await driver.executeScript(`return Number(document.querySelector('${ROW} progress[data-role="overall"]')?.value ?? 0)`);
    return v > 1_000_000;
  }, 30000);
  const progressText = await driver.executeScript(`return document.querySelector('${ROW} [data-role="overall-text"]').textContent`);
  assert.match(progressText, /^\d+ %（[\d.]+ [MG]B \/ [\d.]+ [MG]B）・[\d.]+ [MG]B\/s・残り /);
  assert.match(await driver.executeScript(`return document.querySelector('${ROW} [data-role="file-text"]').textContent`), /^model\.safetensors: /);
  await screenshot("13-downloading");

  // Close the app mid-download; a new start finds the partial download.
  await app.quit();
  app = await launch({ model: null, dataDir, env: hub.env });
  driver = app.driver;
  await driver.wait(async () => (await rowState(driver)) === "partial", 15000);
  assert.match(await rowText(driver), /一部ダウンロード済み（\d+ %/);
  await screenshot("14-partial-after-restart");

  await clickAction(driver, "download"); // "再開"
  await driver.wait(async () => (await rowState(driver)) === "ready", 60000);
  assert.match(await rowText(driver), /準備完了・検証済み/);

  await clickAction(driver, "use");
  await driver.wait(async () => /準備完了/.test(await text(driver, "model-pill")), 60000);
  assert.match(await text(driver, "model-pill"), /stabilityai\/japanese-stablelm-instruct-gamma-7b/);
  await driver.wait(async () => /使用中/.test(await rowText(driver)), 15000);
  // Loaded: the focus is on 指示, the next thing to do.
  assert.equal(await driver.executeScript("return document.activeElement?.id"), "instruction");

  await driver.findElement(byId("instruction")).sendKeys("自己紹介してください。");
  await choosePreset(driver, "greedy");
  await setField(driver, "max_new_tokens", 16);
  await driver.findElement(byId("generate-button")).click();
  await waitIdle(driver);
  assert.ok((await outputText(driver)).trim().length > 0);
  await screenshot("15-downloaded-model-in-use");
});
