// The main path in the real window: Japanese typed into 指示/入力, generate with Ctrl+Enter,
// the streamed answer equal to `jslm generate --json` for the same request, history with
// regenerate (same seed → same text) and delete, settings remembered across a restart.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { Key } from "selenium-webdriver";
import { launch, byId, By, text, outputText, waitIdle, setField, choosePreset, openSettings } from "./lib/app.js";
import { cliGenerate } from "./lib/cli.js";
import { screenshot } from "./lib/artifacts.js";

const INSTRUCTION = "与えられたことわざの意味を小学生でも分かるように教えてください。";
const INPUT = "情けは人のためならず";

let app;
before(async () => {
  app = await launch();
});
after(async () => {
  await app?.quit();
});

async function historyCount(driver) {
  // Counted in the page: element handles can go stale while the list re-renders.
  return driver.executeScript("return document.querySelectorAll('#history-list > li').length");
}

test("the window opens in Japanese with the model loaded", async () => {
  const { driver } = app;
  assert.equal(await driver.getTitle(), "JSLM Desktop");
  assert.equal(await driver.executeScript("return document.documentElement.lang"), "ja");
  assert.match(await text(driver, "model-pill"), /準備完了: tiny-mistral/);
  assert.equal(await text(driver, "history-empty"), "まだ履歴はありません。");
  await screenshot("01-start");
});

test("Japanese typed into 指示 and 入力 arrives intact", async () => {
  const { driver } = app;
  await driver.findElement(byId("instruction")).sendKeys(INSTRUCTION);
  await driver.findElement(byId("input")).sendKeys(INPUT);
  assert.equal(await driver.findElement(byId("instruction")).getAttribute("value"), INSTRUCTION);
  assert.equal(await driver.findElement(byId("input")).getAttribute("value"), INPUT);
});

test("greedy: Ctrl+Enter streams the same text as the CLI", async () => {
  const { driver } = app;
  await choosePreset(driver, "greedy");
  await setField(driver, "max_new_tokens", 40);
  await driver.findElement(byId("instruction")).sendKeys(Key.chord(Key.CONTROL, Key.ENTER));
  await waitIdle(driver);
  const shown = (await outputText(driver)).trim();
  const cli = cliGenerate({ instruction: INSTRUCTION, input: INPUT, maxNewTokens: 40, greedy: true });
  assert.ok(shown.length > 0);
  assert.equal(shown, cli.text);
  assert.equal(await text(driver, "stat-tokens"), String(cli.stats.generated_tokens));
  assert.notEqual(await text(driver, "stat-ttft"), "—");
  assert.match(await text(driver, "stat-speed"), /トークン\/秒/);
  assert.equal(await text(driver, "stat-stop"), cli.stop_reason === "eos" ? "終了トークン" : "最大トークン数に到達");
  assert.equal(await historyCount(driver), 1);
  await screenshot("02-greedy-answer");
});

test("sampling with a seed matches the CLI with that seed; regenerate repeats it", async () => {
  const { driver } = app;
  await choosePreset(driver, "card");
  await setField(driver, "max_new_tokens", 48);
  await setField(driver, "seed", 1234);
  await driver.findElement(byId("generate-button")).click();
  await waitIdle(driver);
  const first = (await outputText(driver)).trim();
  const cli = cliGenerate({ instruction: INSTRUCTION, input: INPUT, maxNewTokens: 48, seed: 1234 });
  assert.equal(first, cli.text);
  assert.equal(await text(driver, "stat-seed"), "1234");
  assert.equal(await historyCount(driver), 2);

  // A random seed gives (almost surely) another text, recorded in the history.
  await setField(driver, "seed", "");
  await driver.findElement(byId("generate-button")).click();
  await waitIdle(driver);
  const randomSeed = await text(driver, "stat-seed");
  assert.match(randomSeed, /^\d+$/);
  const randomText = (await outputText(driver)).trim();
  assert.equal(await historyCount(driver), 3);

  // Regenerate the random run (newest first in the list): same seed, same text.
  await driver.findElement(By.css('#history-list > li:first-child button[data-action="regenerate"]')).click();
  await waitIdle(driver);
  assert.equal(await text(driver, "stat-seed"), randomSeed);
  assert.equal((await outputText(driver)).trim(), randomText);
  assert.equal(cliGenerate({ instruction: INSTRUCTION, input: INPUT, maxNewTokens: 48, seed: randomSeed }).text, randomText);
  assert.equal(await historyCount(driver), 4);
});

test("opening and deleting history entries", async () => {
  const { driver } = app;
  await driver.findElement(By.css("#history-list > li:last-child .history-open")).click();
  await driver.wait(async () => (await text(driver, "output-note")).startsWith("履歴を表示中"), 5000);
  const greedy = cliGenerate({ instruction: INSTRUCTION, input: INPUT, maxNewTokens: 40, greedy: true });
  assert.equal((await outputText(driver)).trim(), greedy.text);
  assert.equal(await driver.findElement(byId("max_new_tokens")).getAttribute("value"), "40");

  const del = await driver.findElement(By.css('#history-list > li:first-child button[data-action="delete"]'));
  await del.click();
  assert.equal(await del.getText(), "本当に削除");
  await del.click();
  await driver.wait(async () => (await historyCount(driver)) === 3, 5000);
  // The focus stays in the list, on the entry now first, not lost to the page's body.
  await driver.wait(
    () => driver.executeScript(
      "return document.activeElement === document.querySelector('#history-list > li:first-child .history-open')",
    ),
    5000,
  );
  await screenshot("03-history");
});

test("settings and history survive a restart; English is remembered", async () => {
  let { driver } = app;
  await openSettings(driver);
  await setField(driver, "max_new_tokens", 33);
  await driver.findElement(byId("lang-toggle")).click();
  assert.equal(await driver.executeScript("return document.documentElement.lang"), "en");
  assert.equal(await text(driver, "history-heading"), "History");
  // The settings are saved 400 ms after the last edit.
  await new Promise((r) => setTimeout(r, 800));
  const dataDir = app.dataDir;
  await app.quit();
  app = await launch({ dataDir, model: null });
  driver = app.driver;
  assert.equal(await driver.executeScript("return document.documentElement.lang"), "en");
  assert.equal(await driver.findElement(byId("max_new_tokens")).getAttribute("value"), "33");
  assert.equal(await historyCount(driver), 3);
  // No --model this time: the model loaded last is loaded again.
  assert.match(await text(driver, "model-pill"), /Ready: tiny-mistral/);
  await screenshot("04-english-after-restart");
});
