// Model output is text, never HTML; IME composition never submits; controls are labelled.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { launch, byId, By, text, outputText } from "./lib/app.js";
import { screenshot } from "./lib/artifacts.js";

let app;
before(async () => {
  app = await launch();
});
after(async () => {
  await app?.quit();
});

const HOSTILE = '<script>window.__pwned = "script"</script><img src=x onerror="window.__pwned = \'img\'"><b>太字</b>';

test("markup in an answer shows as characters (through the channel handler)", async () => {
  const { driver } = app;
  // The same function the generation channel's onmessage calls, on the app's own view.
  const result = await driver.executeAsyncScript(`
    const done = arguments[arguments.length - 1];
    import("./js/main.js").then(({ view }) => {
      view.begin(performance.now());
      view.handle({ event: "started", data: { prompt_tokens: 3, seed: 1 } });
      for (const piece of ${JSON.stringify(HOSTILE.match(/.{1,5}/gs))}) {
        view.handle({ event: "token", data: { id: 100, text: piece } });
      }
      view.handle({ event: "finished", data: { reason: "eos", stats: { prompt_tokens: 3, generated_tokens: 1, ttft_ms: 1, prompt_tokens_per_s: 0, decode_tokens_per_s: 0, total_ms: 1, seed: 1 } } });
      setTimeout(() => {
        const out = document.getElementById("output");
        done({
          text: out.textContent,
          elements: out.querySelectorAll("*").length,
          pwned: window.__pwned ?? null,
        });
      }, 300);
    }, (e) => done({ error: String(e) }));
  `);
  assert.equal(result.error, undefined);
  assert.equal(result.text, HOSTILE);
  assert.equal(result.elements, 0, "no element was created from model text");
  assert.equal(result.pwned, null);
  assert.equal(await driver.findElements(By.css("#output img, #output script, #output b")).then((l) => l.length), 0);
  await screenshot("07-markup-as-text");
});

test("Ctrl+Enter during IME composition does not generate", async () => {
  const { driver } = app;
  await driver.findElement(byId("instruction")).sendKeys("かな漢字変換");
  const started = await driver.executeAsyncScript(`
    const done = arguments[arguments.length - 1];
    const area = document.getElementById("instruction");
    const fire = (init, keyCode) => {
      const ev = new KeyboardEvent("keydown", { key: "Enter", ctrlKey: true, bubbles: true, cancelable: true, ...init });
      if (keyCode !== undefined) Object.defineProperty(ev, "keyCode", { get: () => keyCode });
      area.dispatchEvent(ev);
    };
    const busy = () => document.getElementById("output").getAttribute("aria-busy") === "true" || document.getElementById("generate-button").disabled;
    fire({ isComposing: true });
    // WebKit's confirming keydown after compositionend: isComposing false, keyCode 229.
    fire({ isComposing: false }, 229);
    setTimeout(() => {
      const whileComposing = busy();
      fire({ isComposing: false }, 13);
      setTimeout(() => done({ whileComposing, afterwards: busy() || document.getElementById("output").textContent.length > 0 }), 50);
    }, 300);
  `);
  assert.deepEqual(started, { whileComposing: false, afterwards: true });
  await app.driver.wait(async () => !(await driver.findElement(byId("generate-button")).getAttribute("disabled")), 60000);
});

test("every control has a label and the focus is visible", async () => {
  const { driver } = app;
  const unlabelled = await driver.executeScript(`
    const names = [];
    for (const el of document.querySelectorAll("input, textarea, select, button")) {
      if (el.type === "radio") { if (!el.closest("label")) names.push(el.outerHTML); continue; }
      const byFor = el.id && document.querySelector('label[for="' + el.id + '"]');
      const name = (byFor && byFor.textContent.trim()) || el.getAttribute("aria-label") || el.textContent.trim()
        || (el.getAttribute("aria-labelledby") && document.getElementById(el.getAttribute("aria-labelledby"))?.textContent.trim());
      if (!name) names.push(el.outerHTML);
    }
    return names;
  `);
  assert.deepEqual(unlabelled, []);
  // Tab from 指示 reaches 入力 and the focus ring is drawn.
  await driver.findElement(byId("instruction")).click();
  await driver.actions().sendKeys("\uE004").perform();
  const focus = await driver.executeScript(`
    const el = document.activeElement;
    const style = getComputedStyle(el);
    return { id: el.id, outline: style.outlineStyle, width: style.outlineWidth };
  `);
  assert.equal(focus.id, "input");
  assert.equal(focus.outline, "solid");
  assert.equal(focus.width, "3px");
  // Only start and finish are announced; the output itself is not a live region.
  assert.equal(await driver.findElement(byId("output")).getAttribute("aria-live"), null);
  assert.equal(await driver.findElement(byId("announcer")).getAttribute("aria-live"), "polite");
  const announced = await driver.executeScript("return document.getElementById('announcer').textContent");
  assert.match(announced, /^生成が終わりました。\d+ トークン、/);
});

test("the CSP blocks inline scripts and remote requests", async () => {
  const { driver } = app;
  const result = await driver.executeAsyncScript(`
    const done = arguments[arguments.length - 1];
    const s = document.createElement("script");
    s.textContent = "window.__inline = 1";
    document.body.appendChild(s);
    let evalBlocked = false;
    try { (0, eval)("1"); } catch { evalBlocked = true; }
    fetch("https://example.com/").then(() => done({ inline: window.__inline ?? null, evalBlocked, remote: "allowed" }),
      () => done({ inline: window.__inline ?? null, evalBlocked, remote: "blocked" }));
  `);
  assert.deepEqual(result, { inline: null, evalBlocked: true, remote: "blocked" });
});

// Last in this file: before issue 14 it left the window on a blank page.
test("the window never leaves the app's own pages", async () => {
  const { driver } = app;
  const home = await driver.getCurrentUrl();
  // A navigation started from the page (as injected script or a stray link would), and a popup.
  await driver.executeScript(`
    setTimeout(() => { window.location.href = "about:blank"; }, 0);
    setTimeout(() => { window.open("about:blank", "_blank"); }, 10);
  `);
  await driver.sleep(1500);
  assert.equal(await driver.getCurrentUrl(), home);
  assert.equal((await driver.getAllWindowHandles()).length, 1);
  assert.ok(await driver.findElement(byId("instruction")).isDisplayed());
});
