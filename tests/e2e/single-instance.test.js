// Opening the app a second time, as a person does with a second click on its icon or "Open
// with" on a .gguf: the running window takes over (one process, one copy of the model in
// memory), and the model the second launch names is shown there as if dropped on it. Another
// data folder is another app and starts on its own. Needs a D-Bus session bus: scripts/e2e.sh
// runs the suite under dbus-run-session, as a desktop session has one.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import path from "node:path";
import { launch, appPids, freshDataDir, byId, text, APP, ROOT } from "./lib/app.js";
import { screenshot } from "./lib/artifacts.js";

const GGUF = path.join(ROOT, "tests/fixtures/tiny-mistral-gguf/model-f16.gguf");

const apps = [];
after(async () => {
  for (const app of apps) await app.quit();
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

test("a second launch hands its model to the running window and ends", async () => {
  assert.ok(process.env.DBUS_SESSION_BUS_ADDRESS, "no D-Bus session bus: run through scripts/e2e.sh");
  const app = await launch({ model: null });
  apps.push(app);
  const { driver } = app;
  // The model as a relative path, from the folder the second launch starts in.
  const second = spawnSync(
    APP,
    ["--data-dir", app.dataDir, "--cache-dir", path.join(app.dataDir, "cache"), "--model", path.basename(GGUF)],
    { cwd: path.dirname(GGUF), timeout: 60000, encoding: "utf8" },
  );
  assert.equal(second.status, 0, `second launch: ${second.error ?? ""} ${second.stderr}`);
  assert.equal(appPids(app.dataDir).length, 1, "one app for the data folder");
  // The running window shows the model's plan, nothing loaded.
  await driver.wait(async () => {
    const state = await driver.executeScript("const c = document.getElementById('model-candidate'); return c.hidden ? null : c.dataset.state");
    return state === "ready" || state === "error";
  }, 30000);
  const candidate = await text(driver, "model-candidate");
  assert.equal(await driver.executeScript("return document.getElementById('model-candidate').dataset.state"), "ready", candidate);
  assert.match(candidate, /GGUF F16/);
  assert.equal(await driver.findElement(byId("model-path")).getAttribute("value"), GGUF);
  await screenshot("single-instance-01-handed-over");
});

test("another data folder is another app: it starts on its own", async () => {
  const dataDir = freshDataDir();
  const other = spawn(APP, ["--data-dir", dataDir, "--cache-dir", path.join(dataDir, "cache")], { stdio: "ignore" });
  let exited = null;
  other.once("exit", (code) => (exited = code));
  try {
    const deadline = Date.now() + 30000;
    while (appPids(dataDir).length === 0 && exited === null && Date.now() < deadline) await sleep(100);
    await sleep(3000);
    assert.equal(exited, null, `it ended with ${exited}`);
    assert.equal(appPids(dataDir).length, 1);
  } finally {
    other.kill();
  }
});
