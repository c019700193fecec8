// The words of a model load's steps, in both languages (said again when the language changes).
import { test } from "node:test";
import assert from "node:assert/strict";
import { loadText } from "../../ui/js/load-progress.js";

test("each load step in both languages; other events say nothing new", () => {
  const steps = [
    [{ event: "started" }, "開始しています…", "Starting…"],
    [{ event: "hashing", data: { file: "model.safetensors" } }, "ファイルのハッシュを計算中: model.safetensors", "Hashing model.safetensors"],
    [{ event: "quantizing", data: { tensors_done: 3, tensors_total: 291, bytes_done: 1, bytes_total: 9 } }, "量子化中: 3 / 291 テンソル", "Quantizing: 3 / 291 tensors"],
    [{ event: "cache_hit" }, "量子化済みのファイルを使います", "Using the quantized copy made earlier"],
    [{ event: "loading_weights" }, "重みを読み込み中…", "Loading weights…"],
  ];
  for (const [message, ja, en] of steps) {
    assert.equal(loadText("ja", message), ja);
    assert.equal(loadText("en", message), en);
  }
  const planned = {
    event: "planned",
    data: { precision: "q4_k_m", threads: 8, context_tokens: 4096, fit: { level: "tight", needed_bytes: 5e9, available_bytes: 6e9 } },
  };
  assert.match(loadText("ja", planned), /^実行計画: Q4_K_M・8 スレッド/);
  assert.match(loadText("en", planned), /^Plan: Q4_K_M · 8 threads/);
  assert.equal(loadText("en", { event: "something_new" }), null);
  assert.equal(loadText("en", undefined), null);
});
