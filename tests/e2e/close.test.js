// Closing the window while a generation runs: the app ends promptly instead of hanging on
// the inference thread. (That closing cancels the generation is checked in the command tests.)
import { test } from "node:test";
import assert from "node:assert/strict";
import { launch, appPids, byId, outputText, setField, choosePreset } from "./lib/app.js";

test("closing the window mid-generation ends the app within seconds", async () => {
  const app = await launch();
  try {
    const { driver } = app;
    await driver.findElement(byId("instruction")).sendKeys("長い物語を書いてください。");
    await choosePreset(driver, "greedy");
    await setField(driver, "max_new_tokens", 3900);
    await driver.findElement(byId("generate-button")).click();
    await driver.wait(async () => (await outputText(driver)).length > 20, 30000);
    assert.equal(appPids(app.dataDir).length, 1, "the app runs");
    await driver.close();
    const deadline = Date.now() + 10000;
    while (appPids(app.dataDir).length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(appPids(app.dataDir), [], "the app is still running 10 s after its window closed");
  } finally {
    await app.quit().catch(() => {});
  }
});
