// Stop mid-way, a second generation refused by the backend, and translated errors.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { launch, byId, text, outputText, waitIdle, setField, choosePreset, until } from "./lib/app.js";
import { screenshot } from "./lib/artifacts.js";

let app;

/** Waits until the form's error box is shown with `title` (not a stale hidden one). */
async function errorShown(driver, title) {
  await driver.wait(async () => {
    const shown = await driver.executeScript("return !document.getElementById('form-error').hidden");
    return shown && (await text(driver, "form-error-title")) === title;
  }, 10000);
}
/** Waits until the page has not scrolled for a few frames (smooth scrolls have ended). */
async function scrollSettled(driver) {
  await driver.executeAsyncScript(`
    const done = arguments[arguments.length - 1];
    let last = window.scrollY, still = 0;
    const tick = () => {
      still = window.scrollY === last ? still + 1 : 0;
      last = window.scrollY;
      if (still >= 10) done(); else requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  `);
}

before(async () => {
  app = await launch();
});
after(async () => {
  await app?.quit();
});

test("an empty instruction is refused in the UI", async () => {
  const { driver } = app;
  await driver.findElement(byId("generate-button")).click();
  assert.equal(await text(driver, "form-error-title"), "指示を入力してください。");
  assert.equal(await driver.findElement(byId("instruction")).getAttribute("aria-invalid"), "true");
});

test("too long for the context: the backend's numbers, in Japanese", async () => {
  const { driver } = app;
  await driver.findElement(byId("instruction")).sendKeys("長い文章を書いてください。");
  await choosePreset(driver, "greedy");
  await setField(driver, "max_new_tokens", 4096);
  await driver.findElement(byId("generate-button")).click();
  await driver.wait(until.elementIsVisible(await driver.findElement(byId("form-error"))), 10000);
  const message = await text(driver, "form-error-title");
  assert.match(message, /^長すぎます: プロンプト \d+ トークン \+ 最大生成 4096 トークン = \d+ トークンで、モデルのコンテキスト 4096 トークンを超えます。/);
  await screenshot("05-context-overflow");
});

test("a setting out of range is named and marked", async () => {
  const { driver } = app;
  await setField(driver, "max_new_tokens", 64);
  await setField(driver, "top_p", 1.5);
  await driver.findElement(byId("generate-button")).click();
  await errorShown(driver, "設定が正しくありません（top_p）。");
  assert.match(await text(driver, "form-error-detail"), /Given: 1\.5/);
  assert.equal(await driver.findElement(byId("top_p")).getAttribute("aria-invalid"), "true");
  // A refused request does not scroll the page to the (empty) answer: the error and the
  // field it names stay in view once any scrolling has settled.
  await scrollSettled(driver);
  await screenshot("05b-setting-refused");
  const inView = await driver.executeScript(`
    const seen = (id) => {
      const r = document.getElementById(id).getBoundingClientRect();
      return r.top >= 0 && r.bottom <= window.innerHeight;
    };
    return { error: seen("form-error-title"), field: seen("top_p") };
  `);
  assert.deepEqual(inView, { error: true, field: true });
  await setField(driver, "top_p", 0.95);
});

test("Stop ends a long generation; a second one is refused meanwhile", async () => {
  const { driver } = app;
  await setField(driver, "max_new_tokens", 3900);
  await driver.findElement(byId("generate-button")).click();
  // Some tokens arrive.
  await driver.wait(async () => (await outputText(driver)).length > 20, 30000);
  // The UI makes a second Generate impossible...
  assert.equal(await driver.findElement(byId("generate-button")).isEnabled(), false);
  assert.equal(await driver.findElement(byId("stop-button")).isEnabled(), true);
  assert.equal(await driver.findElement(byId("output")).getAttribute("aria-busy"), "true");
  // ...and the backend refuses one sent behind its back, with the busy code.
  const refused = await driver.executeAsyncScript(`
    const done = arguments[arguments.length - 1];
    const { invoke, Channel } = window.__TAURI__.core;
    invoke("generate", { request: { instruction: "別の指示", input: "", settings: {} }, onEvent: new Channel() })
      .then(() => done({ ok: true }), (e) => done(e));
  `);
  assert.equal(refused.code, "busy");
  await screenshot("06-streaming");
  // Generate, now disabled, handed the keyboard focus to Stop (Space would stop the run).
  const focused = () => driver.executeScript("return document.activeElement?.id || document.activeElement?.tagName");
  assert.equal(await focused(), "stop-button");
  await driver.findElement(byId("stop-button")).click();
  await waitIdle(driver, 10000);
  assert.equal(await text(driver, "stat-stop"), "停止しました");
  // Stop, now disabled, hands it back to Generate rather than to the page's body.
  await driver.wait(async () => (await focused()) === "generate-button", 5000);
  const tokens = Number((await text(driver, "stat-tokens")).replace(/,/g, ""));
  assert.ok(tokens > 0 && tokens < 3900, `stopped after ${tokens} tokens`);
  // Escape also stops.
  await driver.findElement(byId("generate-button")).click();
  await driver.wait(async () => (await outputText(driver)).length > 20, 30000);
  await driver.findElement(byId("instruction")).sendKeys("\uE00C");
  await waitIdle(driver, 10000);
  assert.equal(await text(driver, "stat-stop"), "停止しました");
  // Focus moved to 指示 by the user stays there when the run ends.
  assert.equal(await focused(), "instruction");
});

test("errors switch language with the UI", async () => {
  const { driver } = app;
  // The stopped run's answer is on screen.
  const answer = await outputText(driver);
  assert.ok(answer.length > 20);
  await setField(driver, "top_p", 0);
  await driver.findElement(byId("generate-button")).click();
  await errorShown(driver, "設定が正しくありません（top_p）。");
  // Refused before it started: the last answer stays, and can still be copied.
  assert.equal(await outputText(driver), answer);
  assert.equal(await driver.findElement(byId("copy-button")).isEnabled(), true);
  // The error on screen follows the language switch. (A click during a smooth scroll, such as
  // the one the last test's run started, can land beside the toggle: wait for the page.)
  await scrollSettled(driver);
  await driver.findElement(byId("lang-toggle")).click();
  assert.equal(await text(driver, "form-error-title"), "A setting is out of range (top_p).");
  await driver.findElement(byId("lang-toggle")).click();
  assert.equal(await text(driver, "form-error-title"), "設定が正しくありません（top_p）。");
});

test("a setting the page cannot read as a number is named, in both languages", async () => {
  const { driver } = app;
  await setField(driver, "top_p", 0.95);
  await setField(driver, "max_new_tokens", "abc");
  await driver.findElement(byId("generate-button")).click();
  await errorShown(driver, "設定が正しくありません（最大生成トークン数）。");
  assert.equal(await driver.findElement(byId("max_new_tokens")).getAttribute("aria-invalid"), "true");
  await scrollSettled(driver);
  await driver.findElement(byId("lang-toggle")).click();
  assert.equal(await text(driver, "form-error-title"), "A setting is out of range (Max new tokens).");
  await driver.findElement(byId("lang-toggle")).click();
  assert.equal(await text(driver, "form-error-title"), "設定が正しくありません（最大生成トークン数）。");
});

test("numbers typed in full width (as a Japanese IME does) run, and show in ASCII", async () => {
  const { driver } = app;
  // Text fields with inputmode, not type=number: a number input would hand the page "" for
  // "１６", and the run would be refused as an invalid setting.
  await setField(driver, "top_p", "０．９５");
  await setField(driver, "max_new_tokens", "１６");
  await setField(driver, "seed", "１２３");
  await driver.findElement(byId("generate-button")).click();
  await waitIdle(driver);
  assert.equal(await driver.executeScript("return document.getElementById('form-error').hidden"), true);
  assert.equal(await text(driver, "stat-seed"), "123");
  for (const [id, value] of [["top_p", "0.95"], ["max_new_tokens", "16"], ["seed", "123"]]) {
    assert.equal(await driver.findElement(byId(id)).getAttribute("value"), value, id);
  }
});
