// Download progress folding and formatting.
import { test } from "node:test";
import assert from "node:assert/strict";
import { formatEta, formatSpeed, reduceProgress } from "../../ui/js/model-manager.js";

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
