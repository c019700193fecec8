// Starts the real app under tauri-driver + WebKitWebDriver and gives tests a selenium driver.
// Needs a display (the suite runs under xvfb-run) and a built `target/debug/jslm-desktop`.
import { execFileSync, spawn } from "node:child_process";
import { closeSync, mkdtempSync, mkdirSync, openSync, readSync, statSync, writeSync } from "node:fs";
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
export async function freePort() {
  return (await freePorts(1))[0];
}

/**
 * `n` distinct TCP ports on 127.0.0.1 that nothing listens on now: all held open at once, so
 * the system cannot hand the same one out twice (one after another it may: tauri-driver and
 * WebKitWebDriver were once given the same port).
 */
export async function freePorts(n) {
  const servers = [];
  try {
    for (let i = 0; i < n; i++) {
      const srv = net.createServer();
      servers.push(srv);
      await new Promise((resolve, reject) => {
        srv.on("error", reject);
        srv.listen(0, "127.0.0.1", resolve);
      });
    }
    return servers.map((srv) => srv.address().port);
  } finally {
    await Promise.all(servers.map((srv) => new Promise((resolve) => srv.close(() => resolve()))));
  }
}

/** Bytes of driver and app output a launch may add to its log before the driver is stopped. */
const LOG_LIMIT = 64 * 1024 * 1024;

/**
 * Watches the log the driver and the app write to (their own file descriptors, as before:
 * no pipe for them to block on or to keep this process alive): calls `onFatal` when the driver
 * says it cannot listen on its port, and stops the driver when the log grows by more than
 * `LOG_LIMIT`. (A WebKitWebDriver that could not listen once left tauri-driver logging "accept
 * new stream fail" in a loop: 18.7 GB in the ten minutes before the run's time limit.)
 */
function watchLog(logPath, tauriDriver, onFatal) {
  const start = statSync(logPath).size;
  let offset = start;
  const fd = openSync(logPath, "r");
  const buf = Buffer.alloc(64 * 1024);
  const timer = setInterval(() => {
    const size = statSync(logPath).size;
    if (size - start > LOG_LIMIT) {
      tauriDriver.kill("SIGKILL");
      onFatal();
    }
    if (size > offset) {
      const n = readSync(fd, buf, 0, Math.min(buf.length, size - offset), offset);
      offset = size > offset + buf.length ? size : offset + n;
      if (/Unable to listen|accept new stream fail/.test(buf.subarray(0, n).toString())) onFatal();
    }
  }, 200);
  timer.unref();
  tauriDriver.on("exit", () => {
    clearInterval(timer);
    closeSync(fd);
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

/** The pids of app processes started with `--data-dir dataDir` (none: an empty list). */
export function appPids(dataDir) {
  try {
    return execFileSync("pgrep", ["-f", `jslm-desktop --data-dir ${dataDir}`], { encoding: "utf8" })
      .trim()
      .split("\n")
      .filter(Boolean);
  } catch {
    return []; // pgrep exits 1 when nothing matches
  }
}

/**
 * Waits up to 20 s for the app processes of `dataDir` to end; ends any still there (TERM,
 * then KILL) and says so in the log, so that the next launch with the folder starts afresh.
 */
async function appEnded(dataDir, logPath) {
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const deadline = Date.now() + 20000;
  while (appPids(dataDir).length > 0 && Date.now() < deadline) await sleep(100);
  const left = appPids(dataDir);
  if (left.length === 0) return;
  const fd = openSync(logPath, "a");
  writeSync(fd, `\n[the app (pids ${left.join(", ")}) was still running 20 s after the session ended; ending it]\n`);
  closeSync(fd);
  for (const signal of ["SIGTERM", "SIGKILL"]) {
    for (const pid of appPids(dataDir)) {
      try {
        process.kill(Number(pid), signal);
      } catch {
        // Already gone.
      }
    }
    const until = Date.now() + 5000;
    while (appPids(dataDir).length > 0 && Date.now() < until) await sleep(100);
  }
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
  // The driver's and the app's output go to a log beside the screenshots, not the TAP stream.
  const logPath = path.join(ARTIFACTS, `app-${path.basename(dataDir)}.log`);
  let driver, tauriDriver;
  // A driver that cannot listen on its ports is started again on others (twice at most).
  for (let attempt = 1; ; attempt++) {
    try {
      ({ driver, tauriDriver } = await startSession(logPath, args, options.env));
      break;
    } catch (e) {
      if (attempt >= 3) throw e;
      const fd = openSync(logPath, "a");
      writeSync(fd, `\n[launch attempt ${attempt} failed: ${e.message}; trying other ports]\n`);
      closeSync(fd);
    }
  }
  await driver.manage().setTimeouts({ script: 120000 });
  await waitReady(driver);
  return {
    driver,
    dataDir,
    async quit() {
      try {
        await driver.quit();
      } finally {
        // The app must be gone before the next launch with this data folder: a window still
        // there (the session's end is a request) would receive that launch (one app per
        // folder) and the new session would never start.
        await appEnded(dataDir, logPath);
        tauriDriver.kill();
      }
    },
  };
}

/**
 * tauri-driver on two fresh ports and a session with the app; rejects (the driver killed)
 * when the driver cannot listen or no session comes within a minute.
 */
async function startSession(logPath, args, env) {
  const [port, nativePort] = await freePorts(2);
  const driverBin = process.env.TAURI_DRIVER ?? "tauri-driver";
  const log = openSync(logPath, "a");
  const tauriDriver = spawn(driverBin, ["--port", String(port), "--native-port", String(nativePort)], {
    stdio: ["ignore", log, log],
    env: { ...process.env, ...(env ?? {}) },
  });
  closeSync(log);
  let fatal;
  const failed = new Promise((_, reject) => {
    fatal = () => reject(new Error(`the driver could not listen on port ${port} or ${nativePort}`));
    setTimeout(() => reject(new Error("no session within 60 s")), 60000).unref();
  });
  failed.catch(() => {});
  watchLog(logPath, tauriDriver, () => fatal());
  try {
    const session = (async () => {
      await waitForPort(port, 15000);
      return new Builder()
        .usingServer(`http://127.0.0.1:${port}/`)
        .withCapabilities({ browserName: "wry", "tauri:options": { application: APP, args } })
        .build();
    })();
    session.catch(() => {});
    const driver = await Promise.race([session, failed]);
    return { driver, tauriDriver };
  } catch (e) {
    tauriDriver.kill("SIGKILL");
    throw e;
  }
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
