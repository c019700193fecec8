// Starts the real app under tauri-driver + WebKitWebDriver and gives tests a selenium driver.
// Needs a display (the suite runs under xvfb-run) and a built `target/debug/jslm-desktop`.
import { spawn } from "node:child_process";
import { closeSync, mkdtempSync, mkdirSync, openSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import net from "node:net";
import { fileURLToPath } from "node:url";
import { Builder, By, until } from "selenium-webdriver";

// Not import.meta.dirname: that needs Node 20.11.
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
export const TARGET = process.env.CARGO_TARGET_DIR ?? path.join(ROOT, "target");
export const APP = process.env.JSLM_APP ?? path.join(TARGET, "debug", "jslm-desktop");
export const CLI = process.env.JSLM_CLI ?? path.join(TARGET, "debug", "jslm");
export const ARTIFACTS = process.env.JSLM_E2E_ARTIFACTS ?? path.join(TARGET, "e2e-artifacts");
export const TINY_MODEL = process.env.JSLM_TINY_MODEL ?? path.join(ROOT, "tests/fixtures/tiny-mistral");
mkdirSync(ARTIFACTS, { recursive: true });

/** A TCP port on 127.0.0.1 that nothing listens on now. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
    srv.on("error", reject);
  });
}

async function waitForPort(port, ms) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const ok = await new Promise((resolve) => {
      const s = net.connect(port, "127.0.0.1", () => {
        s.end();
        resolve(true);
      });
      s.on("error", () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`tauri-driver did not listen on ${port}`);
}

/** A fresh data dir for one app instance (settings, history). */
export function freshDataDir() {
  return mkdtempSync(path.join(tmpdir(), "jslm-e2e-"));
}

/**
 * Launches the app. `options.model` (default: the tiny fixture; `null`: none) and
 * `options.dataDir` become `--model` / `--data-dir`; `options.env` is added to the app's
 * environment (through tauri-driver, whose children inherit it). Returns
 * `{ driver, dataDir, quit }`.
 */
export async function launch(options = {}) {
  const dataDir = options.dataDir ?? freshDataDir();
  const args = ["--data-dir", dataDir, "--cache-dir", path.join(dataDir, "cache")];
  const model = options.model === undefined ? TINY_MODEL : options.model;
  if (model) args.push("--model", model);
  const port = await freePort();
  const nativePort = await freePort();
  const driverBin = process.env.TAURI_DRIVER ?? "tauri-driver";
  // The driver's and the app's output go to a log beside the screenshots, not the TAP stream.
  const log = openSync(path.join(ARTIFACTS, `app-${path.basename(dataDir)}.log`), "a");
  const tauriDriver = spawn(driverBin, ["--port", String(port), "--native-port", String(nativePort)], {
    stdio: ["ignore", log, log],
    env: { ...process.env, ...(options.env ?? {}) },
  });
  closeSync(log);
  await waitForPort(port, 15000);
  const driver = await new Builder()
    .usingServer(`http://127.0.0.1:${port}/`)
    .withCapabilities({ browserName: "wry", "tauri:options": { application: APP, args } })
    .build();
  await driver.manage().setTimeouts({ script: 120000 });
  await waitReady(driver);
  return {
    driver,
    dataDir,
    async quit() {
      try {
        await driver.quit();
      } finally {
        tauriDriver.kill();
      }
    },
  };
}

/** Waits until the page has started (settings read, configured model loaded). */
export async function waitReady(driver, ms = 60000) {
  await driver.wait(async () => (await driver.executeScript("return document.documentElement.dataset.ready")) === "true", ms);
}

export const byId = (id) => By.id(id);

/**
 * The element's text (`textContent`, trimmed). Not WebDriver's getText: WebKitWebDriver's
 * visibility heuristics return "" for some visible elements (e.g. with `overflow: hidden`).
 */
export async function text(driver, id) {
  const value = await driver.executeScript("const el = document.getElementById(arguments[0]); return el ? el.textContent : null", id);
  if (value === null) throw new Error(`no element #${id}`);
  return value.trim();
}

/** The answer exactly as the DOM holds it (getText would re-flow whitespace). */
export async function outputText(driver) {
  return driver.executeScript("return document.getElementById('output').textContent");
}

/** Waits until no generation runs (the Generate button is enabled again). */
export async function waitIdle(driver, ms = 120000) {
  const button = await driver.findElement(By.id("generate-button"));
  await driver.wait(until.elementIsEnabled(button), ms);
}

/** Replaces a field's value by typing, as a user would. */
export async function setField(driver, id, value) {
  const el = await driver.findElement(By.id(id));
  await el.clear();
  const text = String(value);
  if (text !== "") await el.sendKeys(text);
  // clear() fires no input event; make sure the app saw the new value.
  await driver.executeScript("arguments[0].dispatchEvent(new Event('input', { bubbles: true }))", el);
}

export async function openSettings(driver) {
  await driver.executeScript("document.getElementById('settings').open = true");
}

export async function choosePreset(driver, name) {
  await openSettings(driver);
  await driver.findElement(By.css(`input[name="preset"][value="${name}"]`)).click();
}

export { By, until };
