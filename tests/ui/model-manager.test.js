// Download progress folding and formatting, and the manager's rows on a fake DOM: where the
// keyboard focus goes, Use while busy, a new token, the language.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ModelManager, formatEta, formatSpeed, reduceProgress } from "../../ui/js/model-manager.js";
import { describeError } from "../../ui/js/errors.js";
import { FakeDocument } from "./fake-dom.js";
import { readFileSync } from "node:fs";

test("formatSpeed and formatEta tables", () => {
  assert.equal(formatSpeed(12_300_000), "12 MB/s");
  assert.equal(formatSpeed(1_500_000_000), "1.5 GB/s");
  assert.equal(formatSpeed(0), "—");
  assert.equal(formatSpeed(NaN), "—");
  const etas = [[null, "—"], [undefined, "—"], [-1, "—"], [0, "0:00"], [65, "1:05"], [3723, "1:02:03"], [59.6, "1:00"]];
  for (const [secs, expected] of etas) assert.equal(formatEta(secs), expected, String(secs));
});

test("events fold into overall and per-file progress", () => {
  let p = {};
  p = reduceProgress(p, { event: "Resolved", data: { total_bytes: 1000, present_bytes: 400, files: [], repo: "r", revision: "main", commit: "c" } });
  assert.deepEqual([p.done, p.total], [400, 1000], "a resumed download starts from what is on disk");
  p = reduceProgress(p, { event: "FileStarted", data: { file: "model.safetensors", size: 900, resumed_from: 300 } });
  assert.deepEqual([p.file, p.fileDone, p.fileTotal], ["model.safetensors", 300, 900]);
  p = reduceProgress(p, { event: "Progressed", data: { file: "model.safetensors", file_done: 600, file_total: 900, done: 700, total: 1000, bytes_per_sec: 1e6, eta_secs: 3 } });
  assert.deepEqual([p.done, p.fileDone, p.speed, p.eta], [700, 600, 1e6, 3]);
  p = reduceProgress(p, { event: "Retried", data: { file: "model.safetensors", attempt: 2, delay_ms: 500, reason: "reset" } });
  assert.deepEqual(p.note, { key: "dl_retried", params: { attempt: 2 } });
  p = reduceProgress(p, { event: "Finished", data: { repo: "r", commit: "c", snapshot_dir: "/s", downloaded_bytes: 600 } });
  assert.equal(p.done, 1000);
  assert.equal(p.finished, true);
});

test("a damaged file is said, and the bar goes back with it", async () => {
  const { t } = await import("../../ui/js/i18n.js");
  let p = { file: "model.safetensors", fileDone: 900, fileTotal: 900, done: 1000, total: 1000 };
  p = reduceProgress(p, { event: "VerificationFailed", data: { file: "model.safetensors", expected: "ab", actual: "cd", will_retry: true } });
  assert.deepEqual([p.done, p.fileDone], [100, 0], "the deleted file's bytes are no longer done");
  assert.deepEqual(p.note, { key: "dl_verification_failed", params: { file: "model.safetensors" } });
  assert.equal(t("ja", p.note.key, p.note.params), "model.safetensors は破損していたため、もう一度ダウンロードしています");
  assert.equal(t("en", p.note.key, p.note.params), "model.safetensors was damaged; downloading it again");
  p = reduceProgress(p, { event: "VerificationFailed", data: { file: "model.safetensors", expected: "ab", actual: "ef", will_retry: false } });
  assert.equal(p.note.key, "dl_verification_failed_final");
  assert.equal(p.done, 100, "the file's bytes are taken off once");
  // A file other than the one in the bar: only the words.
  const other = reduceProgress({ file: "a", fileDone: 5, fileTotal: 5, done: 5 }, { event: "VerificationFailed", data: { file: "b", will_retry: true } });
  assert.deepEqual([other.done, other.fileDone], [5, 5]);
});

test("waiting on another program's download is said until the file starts or is done", () => {
  let p = reduceProgress({}, { event: "Resolved", data: { total_bytes: 1000, present_bytes: 0 } });
  p = reduceProgress(p, { event: "LockWaited", data: { file: "model.safetensors" } });
  assert.deepEqual(p.note, { key: "dl_lock_waited", params: { file: "model.safetensors" } });
  // The other program finished it: nothing left to wait for.
  const done = reduceProgress({ ...p, file: "model.safetensors", fileTotal: 900, fileDone: 0 }, { event: "FileFinished", data: { file: "model.safetensors", path: "/s/model.safetensors", reused: true } });
  assert.equal(done.note, null);
  assert.equal(done.fileDone, 900);
  // Or it gave up and this download takes over.
  const started = reduceProgress(p, { event: "FileStarted", data: { file: "model.safetensors", size: 900, resumed_from: 300 } });
  assert.equal(started.note, null);
  // Another file's start leaves the wait's words alone.
  assert.equal(reduceProgress(p, { event: "FileStarted", data: { file: "config.json", size: 9, resumed_from: 0 } }).note.key, "dl_lock_waited");
  // Other news stays until replaced.
  const retried = reduceProgress(p, { event: "Retried", data: { file: "x", attempt: 1, delay_ms: 1, reason: "r" } });
  assert.equal(reduceProgress(retried, { event: "FileFinished", data: { file: "model.safetensors", reused: false } }).note.key, "dl_retried");
  assert.equal(reduceProgress({}, { event: "UsedCache", data: { repo: "r", commit: "c", reason: "offline" } }).note.key, "dl_used_cache");
});

test("every download event the hub sends is folded in", () => {
  // crates/jslm-hub/src/progress.rs: each `DownloadEvent` variant.
  const source = readFileSync(new URL("../../crates/jslm-hub/src/progress.rs", import.meta.url), "utf8");
  const body = source.slice(source.indexOf("pub enum DownloadEvent {"));
  const variants = [...body.slice(0, body.indexOf("\n}\n")).matchAll(/^    (\w+) \{/gm)].map((m) => m[1]);
  assert.ok(variants.length >= 12, variants.join());
  const reducer = readFileSync(new URL("../../ui/js/model-manager.js", import.meta.url), "utf8");
  for (const v of variants) assert.match(reducer, new RegExp(`case "${v}":`), v);
});

// ---- the manager's rows on a fake DOM ---------------------------------------------------------

const ID = "jslm-gamma-7b";

/** A catalog row in `state`, as `list_models` gives it. */
function catalogRow(state, extra = {}) {
  return {
    id: ID,
    name: "Japanese StableLM Instruct Gamma 7B",
    repo: "stabilityai/japanese-stablelm-instruct-gamma-7b",
    license: "Apache-2.0",
    gated: true,
    active: false,
    approx_size_bytes: 14_500_000_000,
    disk_bytes: 5_000_000_000,
    fit: { level: "comfortable", precision: "q4_k_m", needed_bytes: 5e9, available_bytes: 16e9 },
    status: { state, percent: 40, verified: true },
    ...extra,
  };
}

/**
 * The manager (index.html's model manager) on a fake DOM with a fake backend whose catalog is
 * `catalog()`; `lang` and `busy` can be changed by the test.
 */
function managerOn({ catalog, api = {}, onUse = async () => {} }) {
  const doc = new FakeDocument();
  const root = doc.add("details", "model-manager");
  doc.add("form", "token-form", { parent: "model-manager" });
  doc.add("input", "token-input", { parent: "token-form" });
  doc.add("p", "token-state", { parent: "token-form" });
  doc.add("button", "token-clear", { parent: "token-form" });
  const list = doc.add("ul", "model-list", { parent: "model-manager" });
  const ui = { lang: "ja", busy: null };
  const manager = new ModelManager(root, {
    api: { listModels: async () => [catalog()], tokenStatus: async () => ({ set: false }), ...api },
    lang: () => ui.lang,
    describeError,
    busy: () => ui.busy,
    onUse,
  });
  const row = () => list.children[0];
  const buttonOf = (action) => row().querySelectorAll("button[data-action]").find((b) => b.dataset.action === action) ?? null;
  const errorText = () => row().children.find((c) => c.className === "error")?.children[0].textContent ?? null;
  return { doc, manager, list, ui, row, buttonOf, errorText, $: (id) => doc.getElementById(id) };
}

test("Download, Pause and Delete keep the keyboard focus in the row", async () => {
  let state = "not_downloaded";
  let finish;
  const m = managerOn({
    catalog: () => catalogRow(state),
    api: {
      startDownload: () => new Promise((_, reject) => (finish = reject)),
      pauseDownload: async () => finish({ code: "download_cancelled", message: "" }),
      deleteModel: async () => {
        state = "not_downloaded";
      },
    },
  });
  await m.manager.refresh();
  m.buttonOf("download").focus();
  const downloading = m.buttonOf("download").dispatch("click");
  // Download became Pause and Cancel: the focus is on Pause, not on the page.
  assert.equal(m.doc.activeElement, m.buttonOf("pause"));
  state = "partial";
  await m.buttonOf("pause").dispatch("click");
  await downloading;
  // Paused: the row's main button, Resume.
  assert.equal(m.doc.activeElement, m.buttonOf("download"));
  assert.equal(m.doc.activeElement.textContent, "再開");
  // Delete asks first, then deletes: the row's Download takes the focus.
  m.buttonOf("delete").focus();
  await m.buttonOf("delete").dispatch("click");
  assert.equal(m.doc.activeElement, m.buttonOf("delete"), "arming keeps the focus");
  await m.buttonOf("delete").dispatch("click");
  assert.equal(m.buttonOf("delete"), null);
  assert.equal(m.doc.activeElement, m.buttonOf("download"));
});

test("Use is disabled while a model loads or generates; a click that got in says why", async () => {
  let active = false;
  const used = [];
  const m = managerOn({
    catalog: () => catalogRow("ready", { active }),
    onUse: async (row) => {
      used.push(row.id);
      active = true;
    },
  });
  await m.manager.refresh();
  m.manager.setBusy(true);
  assert.equal(m.buttonOf("use").disabled, true);
  // A re-render meanwhile (a language switch) keeps it disabled.
  m.manager.render();
  assert.equal(m.buttonOf("use").disabled, true);
  m.ui.busy = "model_loading";
  await m.manager.act(catalogRow("ready"), "use", m.buttonOf("use"));
  assert.deepEqual(used, []);
  assert.equal(m.errorText(), "モデルを読み込み中です。終わるまでお待ちください。");
  m.ui.busy = "busy";
  await m.manager.act(catalogRow("ready"), "use", m.buttonOf("use"));
  assert.equal(m.errorText(), "生成中です。停止するか、終わるまでお待ちください。");

  m.ui.busy = null;
  m.manager.setBusy(false);
  assert.equal(m.buttonOf("use").disabled, false);
  m.buttonOf("use").focus();
  await m.buttonOf("use").dispatch("click");
  assert.deepEqual(used, [ID]);
  assert.equal(m.errorText(), null, "the earlier refusal is gone");
  // The model is in use: no Use button; the focus stays in the row.
  assert.equal(m.buttonOf("use"), null);
  assert.equal(m.doc.activeElement, m.buttonOf("delete"));
});

test("a load that moved the focus on (to 指示) keeps it there", async () => {
  let active = false;
  let instruction;
  const m = managerOn({
    catalog: () => catalogRow("ready", { active }),
    onUse: async () => {
      active = true;
      instruction.focus();
    },
  });
  instruction = m.doc.add("textarea", "instruction");
  await m.manager.refresh();
  m.buttonOf("use").focus();
  await m.buttonOf("use").dispatch("click");
  assert.equal(m.doc.activeElement, instruction);
});

test("a valid token clears the row's stale token errors; the token's state follows the language", async () => {
  const m = managerOn({
    catalog: () => catalogRow("not_downloaded"),
    api: { setToken: async () => ({ set: true, account: "tester" }) },
  });
  await m.manager.refresh();
  assert.equal(m.$("token-state").textContent, "トークンは設定されていません。");
  m.manager.fail(catalogRow("not_downloaded"), { code: "gated_no_token", message: "401" });
  assert.match(m.errorText(), /トークンが必要です/);
  m.$("token-input").value = "hf_accepted";
  await m.$("token-form").dispatch("submit");
  assert.equal(m.$("token-input").value, "", "the page does not keep the token");
  assert.equal(m.errorText(), null);
  assert.equal(m.$("token-state").textContent, "トークンは設定済みです（アカウント: tester）。");
  // Another kind of error is not the token's: it stays.
  m.manager.fail(catalogRow("not_downloaded"), { code: "network", message: "reset" });
  m.$("token-input").value = "hf_accepted";
  await m.$("token-form").dispatch("submit");
  assert.match(m.errorText(), /ネットワークエラー/);
  // The language switches with the manager closed: no request, the same things said in English.
  m.ui.lang = "en";
  m.manager.retranslate();
  assert.equal(m.$("token-state").textContent, "A token is set (account: tester).");
  assert.match(m.errorText(), /^Network error/);
  assert.equal(m.buttonOf("download").textContent, "Download");
});
