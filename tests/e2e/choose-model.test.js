// Choosing a model like a person does, in the real window:
// - a copy in LM Studio's folder (a 7B-shaped GGUF laid out under a fake home as LM Studio keeps
//   it) is listed with its type, size and fit, offered first, and "use" shows its plan;
// - the system's file picker (GTK's, typed into with xdotool) chooses a GGUF that has no
//   tokenizer.json beside it: its plan names the file's own vocabulary, it loads, and the answer
//   equals the CLI's for the same file;
// - a model folder dragged from another program (a GTK drag source, moved with xdotool: a real
//   X11 drag-and-drop) and dropped on the window shows its plan, nothing loaded until Load.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { copyFileSync, existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { launch, byId, By, ROOT, TINY_MODEL, text, outputText, waitIdle, setField, choosePreset } from "./lib/app.js";
import { cliGenerate } from "./lib/cli.js";
import { screenshot } from "./lib/artifacts.js";
import { write7bGguf } from "./lib/fake-models.js";

const GGUF = path.join(ROOT, "tests/fixtures/tiny-mistral-gguf/model-f16.gguf");
const INSTRUCTION = "日本の首都はどこですか。";

const apps = [];
after(async () => {
  for (const app of apps) await app.quit();
});

function xdotool(...args) {
  return execFileSync("xdotool", args.map(String), { encoding: "utf8", timeout: 30000 }).trim();
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Types `location` into GTK's file chooser titled like `title` and presses Return. */
async function chooseInPicker(title, location) {
  const dialog = xdotool("search", "--sync", "--onlyvisible", "--name", title);
  xdotool("windowfocus", "--sync", dialog.split("\n")[0]);
  await sleep(500);
  xdotool("key", "ctrl+l");
  await sleep(300);
  xdotool("type", "--delay", "5", location);
  await sleep(300);
  xdotool("key", "Return");
}

/** The candidate box's state and text once the check has finished. */
async function candidate(driver) {
  await driver.wait(async () => {
    const state = await driver.executeScript("const c = document.getElementById('model-candidate'); return c.hidden ? null : c.dataset.state");
    return state === "ready" || state === "error";
  }, 30000);
  return {
    state: await driver.executeScript("return document.getElementById('model-candidate').dataset.state"),
    text: await text(driver, "model-candidate"),
  };
}

test("a copy in LM Studio's folder is found, offered first, and shows its plan", async () => {
  const home = mkdtempSync(path.join(tmpdir(), "jslm-e2e-home-"));
  const folder = path.join(home, ".lmstudio/models/TheBloke/japanese-stablelm-instruct-gamma-7B-GGUF");
  const file = path.join(folder, "japanese-stablelm-instruct-gamma-7b.Q8_0.gguf");
  const size = write7bGguf(file);
  // LM Studio keeps no tokenizer.json; this one has none in its metadata either, so one is put
  // beside it (the full Mistral vocabulary of the tiny fixture).
  copyFileSync(path.join(TINY_MODEL, "tokenizer.json"), path.join(folder, "tokenizer.json"));
  const app = await launch({
    model: null,
    env: {
      HOME: home,
      XDG_CACHE_HOME: path.join(home, ".cache"),
      HF_HUB_CACHE: path.join(home, ".cache/huggingface/hub"),
    },
  });
  apps.push(app);
  const { driver } = app;
  await driver.wait(async () => (await driver.executeScript("return document.querySelectorAll('#found-list > li').length")) === 1, 30000);
  const row = await text(driver, "found-list");
  assert.match(row, /TheBloke\/japanese-stablelm-instruct-gamma-7B-GGUF\/japanese-stablelm-instruct-gamma-7b\.Q8_0\.gguf/);
  assert.match(row, /LM Studio/);
  assert.match(row, /GGUF Q8_0/);
  assert.match(row, new RegExp(`${(size / 1e9).toFixed(1)} GB`));
  assert.match(await text(driver, "found-state"), /1 個見つかりました/);
  // A copy on disk is the first step: no token, no download needed.
  await driver.wait(async () => (await driver.executeScript("return document.activeElement?.dataset?.action")) === "choose", 15000);
  // The list re-renders (here for the language, clicked without moving the focus): the focus
  // stays on the row's button instead of falling to the page.
  const focused = () => driver.executeScript("return document.activeElement?.dataset?.action ?? document.activeElement?.tagName");
  await driver.executeScript("document.getElementById('lang-toggle').click()");
  await driver.wait(async () => /^Copies found: 1/.test(await text(driver, "found-state")), 15000);
  await driver.wait(async () => /^Use/.test(await driver.executeScript("return document.querySelector('#found-list button[data-action=\"choose\"]')?.textContent ?? ''")), 15000);
  assert.equal(await focused(), "choose");
  await driver.executeScript("document.getElementById('lang-toggle').click()");
  await driver.wait(async () => /1 個見つかりました/.test(await text(driver, "found-state")), 15000);
  await driver.wait(async () => (await focused()) === "choose", 15000);

  await driver.findElement(By.css('#found-list button[data-action="choose"]')).click();
  const seen = await candidate(driver);
  assert.equal(seen.state, "ready", seen.text);
  assert.match(seen.text, /GGUF Q8_0/);
  assert.match(seen.text, /トークナイザー: tokenizer\.json/);
  assert.equal(await driver.findElement(byId("model-path")).getAttribute("value"), file);
  // Shown, not loaded.
  assert.equal(await text(driver, "model-pill"), "モデル未読み込み");
  assert.equal(await driver.executeScript("return document.activeElement?.id"), "load-button");
  // A new home has no font cache yet: let WebKit paint what the DOM already holds.
  await driver.wait(async () => {
    await driver.executeAsyncScript("const done = arguments[arguments.length - 1]; requestAnimationFrame(() => requestAnimationFrame(done))");
    return true;
  }, 30000);
  await sleep(1500);
  await driver.executeScript("document.getElementById('model-candidate').scrollIntoView({ block: 'center' })");
  await screenshot("choose-01-found-in-lm-studio");
  await app.quit();
  apps.splice(apps.indexOf(app), 1);
});

// One window at a time on the screen: the drop lands on whatever window is under the pointer.
let picked;

test("the file picker chooses a GGUF without tokenizer.json; it generates what the CLI does", async () => {
  picked = await launch({ model: null });
  apps.push(picked);
  const { driver } = picked;
  await driver.executeScript("document.getElementById('model-change').open = true");
  await driver.findElement(byId("pick-file")).click();
  // GTK's file chooser, a window of its own: type the path into its location field.
  await chooseInPicker("Choose the model.s GGUF file", GGUF);
  const seen = await candidate(driver);
  assert.equal(seen.state, "ready", seen.text);
  assert.match(seen.text, /GGUF F16/);
  assert.match(seen.text, /トークナイザー: ファイル内の語彙/);
  assert.equal(await driver.findElement(byId("model-path")).getAttribute("value"), GGUF);
  await screenshot("choose-02-picked-gguf");

  await driver.findElement(byId("load-button")).click();
  await driver.wait(async () => /準備完了/.test(await text(driver, "model-pill")), 60000);
  assert.equal(await driver.executeScript("return document.getElementById('model-candidate').hidden"), true);
  // Load was disabled during the load, and the form closed after it: the focus went on to 指示,
  // not to the page.
  await driver.wait(async () => (await driver.executeScript("return document.activeElement?.id")) === "instruction", 5000);
  await choosePreset(driver, "greedy");
  await setField(driver, "max_new_tokens", 24);
  await setField(driver, "instruction", INSTRUCTION);
  await driver.findElement(byId("generate-button")).click();
  await waitIdle(driver);
  const cli = cliGenerate({ instruction: INSTRUCTION, maxNewTokens: 24, greedy: true, model: GGUF });
  assert.equal((await outputText(driver)).trim(), cli.text);
});

test("a model folder dropped on the window from another program shows its plan", async () => {
  const { driver } = picked;
  const before = await text(driver, "model-pill");
  const source = spawn("/usr/bin/python3", [path.join(ROOT, "tests/e2e/lib/drag_source.py"), TINY_MODEL, "0", "0"], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  try {
    await new Promise((resolve, reject) => {
      source.stdout.once("data", resolve);
      source.once("exit", (code) => reject(new Error(`drag source exited with ${code}`)));
    });
    xdotool("search", "--sync", "--onlyvisible", "--name", "jslm-drag-source");
    // Press on the source, move past GTK's drag threshold, over the app's window, release.
    xdotool("mousemove", 60, 40);
    await sleep(300);
    xdotool("mousedown", 1);
    for (const [x, y] of [[70, 45], [100, 60], [300, 250], [700, 450], [720, 480]]) {
      await sleep(200);
      xdotool("mousemove", x, y);
    }
    // Over the window: the page shows where a drop would go.
    await driver.wait(async () => (await driver.executeScript("return document.getElementById('drop-overlay').hidden")) === false, 10000);
    await screenshot("choose-03-dragging-over");
    await sleep(300);
    xdotool("mouseup", 1);
    const seen = await candidate(driver);
    assert.equal(seen.state, "ready", seen.text);
    assert.match(seen.text, /safetensors/);
    assert.match(seen.text, /トークナイザー: tokenizer\.json/);
    assert.equal(await driver.findElement(byId("model-path")).getAttribute("value"), TINY_MODEL);
    assert.equal(await driver.executeScript("return document.getElementById('drop-overlay').hidden"), true);
    // Nothing was loaded by the drop itself.
    assert.equal(await text(driver, "model-pill"), before);
    await screenshot("choose-04-dropped-folder");
  } finally {
    source.kill();
  }
});

test("a folder added with the folder picker is searched, and can be removed again", async () => {
  const { driver } = picked;
  const mine = mkdtempSync(path.join(tmpdir(), "jslm-e2e-models-"));
  write7bGguf(path.join(mine, "japanese-stablelm-instruct-gamma-7b-q8_0.gguf"));
  await driver.executeScript("document.getElementById('model-manager').open = true; document.getElementById('found-folders').open = true");
  // Counted in the page in one step: the list re-renders while a scan finishes, and
  // WebKitWebDriver's findElements can then fail on a node that was just replaced.
  const rows = () => driver.executeScript("return document.querySelectorAll('#found-list > li').length");
  await driver.wait(async () => (await text(driver, "found-state")) !== "", 15000);
  const before = await rows();
  await driver.findElement(byId("folder-add")).click();
  // A trailing slash: the chooser opens the folder; Return then chooses it.
  await chooseInPicker("Choose a model folder", `${mine}/`);
  await driver.wait(async () => (await rows()) === before + 1, 30000);
  assert.match(await text(driver, "found-list"), /追加したフォルダー/);
  assert.match(await text(driver, "folder-list"), new RegExp(`追加したフォルダー: ${mine.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`));
  await screenshot("choose-05-added-folder");
  // Removing the folder only stops the search; the file stays.
  await driver.findElement(By.css('#folder-list button[data-action="remove-folder"]')).click();
  await driver.wait(async () => (await rows()) === before, 15000);
  assert.ok(existsSync(path.join(mine, "japanese-stablelm-instruct-gamma-7b-q8_0.gguf")));
});
