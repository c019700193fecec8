// The first start, as a new user sees it: the page at the top (title, language switch, model
// panel in view), the About line with the version and commit `jslm --version` prints, and focus
// on the first thing to do — the token field without a model, 指示 with one.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { launch, byId, text, CLI } from "./lib/app.js";
import { screenshot } from "./lib/artifacts.js";

const apps = [];
after(async () => {
  for (const app of apps) await app.quit();
});

/** Where the page is and what has focus: what a screenshot shows, as numbers. */
function firstView(driver) {
  return driver.executeScript(`
    const rect = (id) => document.getElementById(id).getBoundingClientRect();
    return {
      scrollY: window.scrollY,
      focused: document.activeElement?.id ?? null,
      headerTop: rect("lang-toggle").top,
      modelHeadingBottom: rect("model-heading").bottom,
      viewport: window.innerHeight,
    };`);
}

test("without a model: at the top, focus on the token field, About says the version", async () => {
  const app = await launch({ model: null });
  apps.push(app);
  const { driver } = app;
  await driver.wait(async () => (await firstView(driver)).focused === "token-input", 15000);
  const view = await firstView(driver);
  assert.equal(view.scrollY, 0, "the page starts at the top");
  assert.ok(view.headerTop >= 0, "the header is in view");
  assert.ok(view.modelHeadingBottom <= view.viewport, "the model panel's heading is in view");
  assert.equal(await driver.executeScript("return document.getElementById('model-manager').open"), true);

  const version = execFileSync(CLI, ["--version"], { encoding: "utf8" }).trim();
  const [, semver, commit] = version.match(/^jslm (\S+) \((\S+)\)$/) ?? [];
  assert.ok(semver && commit, `jslm --version: ${version}`);
  await driver.wait(async () => (await text(driver, "about")) !== "", 5000);
  assert.equal(await text(driver, "about"), `バージョン ${semver}（コミット ${commit}）`);
  await screenshot("00-first-start");
});

test("with a model: focus on 指示, still at the top", async () => {
  const app = await launch();
  apps.push(app);
  const { driver } = app;
  await driver.wait(async () => (await firstView(driver)).focused === "instruction", 15000);
  const view = await firstView(driver);
  assert.equal(view.scrollY, 0);
  assert.ok(view.headerTop >= 0);
  await driver.findElement(byId("instruction"));
  await screenshot("00-first-start-with-model");
});

test("Ctrl+= and Ctrl+- zoom the page (low vision: 200 % must be reachable)", async () => {
  const app = await launch();
  apps.push(app);
  const { driver } = app;
  const { Key } = await import("selenium-webdriver");
  // The page's CSS width shrinks as the zoom grows; five steps of 20 % is 200 %.
  const width = () => driver.executeScript("return window.innerWidth");
  const start = await width();
  const field = driver.findElement(byId("instruction"));
  for (let i = 0; i < 5; i++) await field.sendKeys(Key.chord(Key.CONTROL, "="));
  await driver.wait(async () => (await width()) <= Math.ceil(start / 2) + 1, 10000);
  await screenshot("first-start-03-zoom-200");
  const layout = await driver.executeScript(`
    const out = document.getElementById("output").getBoundingClientRect();
    return { overflow: document.documentElement.scrollWidth - window.innerWidth, outputWidth: out.width };`);
  assert.ok(layout.overflow <= 1, `nothing runs off the side at 200 %: ${JSON.stringify(layout)}`);
  for (let i = 0; i < 5; i++) await field.sendKeys(Key.chord(Key.CONTROL, "-"));
  await driver.wait(async () => Math.abs((await width()) - start) <= 1, 10000);
});
