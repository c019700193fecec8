// Download progress folding and formatting.
import { test } from "node:test";
import assert from "node:assert/strict";
import { formatEta, formatSpeed, reduceProgress } from "../../ui/js/model-manager.js";
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
