// The serve switch and "run on: a server" in the real window: the switch serves the window's
// loaded model (its greedy answer over HTTP equals the window's own), a taken port is a clear
// error, and the window pointed at a separate `jslm serve` generates there, with the key
// stored by the backend and the endpoint named in the history.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { launch, freePort, byId, By, text, outputText, waitIdle, setField, choosePreset, CLI, TINY_MODEL } from "./lib/app.js";
import { screenshot } from "./lib/artifacts.js";

const INSTRUCTION = "与えられたことわざの意味を小学生でも分かるように教えてください。";
const INPUT = "情けは人のためならず";
const KEY = "sk-e2e-remote-key-42";

let app;
let serveProcess;
before(async () => {
  app = await launch();
});
after(async () => {
  serveProcess?.kill();
  await app?.quit();
});

async function waitFor(check, ms, what) {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The window's greedy answer for the instruction, as shown. */
async function windowGreedy(driver, maxNewTokens) {
  await choosePreset(driver, "greedy");
  await setField(driver, "max_new_tokens", maxNewTokens);
  await setField(driver, "instruction", INSTRUCTION);
  await setField(driver, "input", INPUT);
  await driver.findElement(byId("generate-button")).click();
  await waitIdle(driver);
  return (await outputText(driver)).trim();
}

async function openPanel(driver, id) {
  await driver.executeScript("const d = document.getElementById(arguments[0]); d.open = true; d.scrollIntoView()", id);
}

test("the switch serves the window's model; its greedy answer is the window's", async () => {
  const { driver } = app;
  await openPanel(driver, "serve-details");
  assert.equal(await driver.findElement(byId("serve-switch")).isSelected(), false, "off at start");
  assert.equal(await driver.findElement(byId("serve-host")).getAttribute("value"), "127.0.0.1");
  assert.equal(await driver.findElement(byId("serve-port")).getAttribute("value"), "8642");

  // A port another program holds: a clear error, the switch stays off.
  const blocker = net.createServer();
  await new Promise((r) => blocker.listen(0, "127.0.0.1", r));
  const taken = blocker.address().port;
  await setField(driver, "serve-port", taken);
  await driver.findElement(byId("serve-switch")).click();
  await waitFor(async () => !(await driver.findElement(byId("serve-error")).getAttribute("hidden")), 10000, "the error");
  assert.match(await text(driver, "serve-error-title"), new RegExp(`ポート ${taken} はほかのプログラムが使っています`));
  assert.equal(await driver.findElement(byId("serve-switch")).isSelected(), false);
  await new Promise((r) => blocker.close(r));

  const port = await freePort();
  await setField(driver, "serve-port", port);
  await driver.findElement(byId("serve-switch")).click();
  await waitFor(async () => (await driver.findElements(byId("serve-url"))).length > 0, 10000, "the URL");
  const url = await text(driver, "serve-url");
  assert.equal(url, `http://127.0.0.1:${port}/v1`);
  assert.match(await text(driver, "serve-state"), /公開中/);
  await screenshot("serve-01-switch-on");

  // A client (node's fetch here) asks for the card's prompt from chat messages, greedy.
  const response = await fetch(`${url}/chat/completions`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ messages: [{ role: "user", content: INSTRUCTION }], input: INPUT, temperature: 0, max_tokens: 24 }),
  });
  assert.equal(response.status, 200);
  const served = (await response.json()).choices[0].message.content;
  const shown = await windowGreedy(driver, 24);
  assert.ok(shown.length > 0);
  assert.equal(served, shown);
  await openPanel(driver, "serve-details");
  await waitFor(async () => /完了 1 件/.test(await text(driver, "serve-state")), 10000, "the count of answered requests");

  await driver.findElement(byId("serve-switch")).click();
  await waitFor(async () => (await driver.findElements(byId("serve-url"))).length === 0, 10000, "the switch to go off");
  await assert.rejects(fetch(`${url}/models`));
});

test("run on a server: a separate jslm serve answers, the history names it", async () => {
  const { driver } = app;
  const local = (await outputText(driver)).trim();
  const port = await freePort();
  serveProcess = spawn(CLI, ["serve", "--model", TINY_MODEL, "--port", String(port)], {
    stdio: "ignore",
    env: { ...process.env, JSLM_API_KEY: KEY, JSLM_CACHE_DIR: mkdtempSync(path.join(tmpdir(), "jslm-e2e-serve-")) },
  });
  const endpoint = `http://127.0.0.1:${port}/v1`;
  await waitFor(async () => (await fetch(`${endpoint}/models`, { headers: { Authorization: `Bearer ${KEY}` } }).catch(() => null))?.ok, 60000, "jslm serve");

  await openPanel(driver, "backend-details");
  await driver.findElement(By.css('input[name="backend"][value="remote"]')).click();
  await setField(driver, "remote-url", `http://127.0.0.1:${port}`);
  await driver.findElement(byId("remote-save")).click();
  await waitFor(async () => (await text(driver, "backend-note")).includes(endpoint), 10000, "the backend to be saved");

  // Without the key the server refuses, in words.
  await driver.findElement(byId("generate-button")).click();
  await waitFor(async () => !(await driver.findElement(byId("form-error")).getAttribute("hidden")), 20000, "the error");
  await waitIdle(driver);
  assert.match(await text(driver, "form-error-title"), /API キー/);

  await openPanel(driver, "backend-details");
  await driver.findElement(byId("remote-key")).sendKeys(KEY);
  await driver.findElement(byId("remote-key-save")).click();
  await waitFor(async () => (await text(driver, "remote-key-state")).includes("保存されています"), 10000, "the key");
  assert.equal(await driver.findElement(byId("remote-key")).getAttribute("value"), "", "the key leaves the page");
  assert.equal(await driver.executeScript("return document.documentElement.outerHTML.includes(arguments[0])", KEY), false);
  await screenshot("serve-02-remote");

  const remote = await windowGreedy(driver, 24);
  assert.equal(remote, local, "the same model, greedy: the same answer");
  const meta = await driver.executeScript("return document.querySelector('#history-list > li .history-meta').textContent");
  assert.ok(meta.includes(`tiny-mistral @ ${endpoint}`), meta);

  // Back to this computer.
  await openPanel(driver, "backend-details");
  await driver.findElement(By.css('input[name="backend"][value="local"]')).click();
  await waitFor(async () => (await text(driver, "backend-note")).includes("このコンピューター"), 10000, "local again");
});
