// What the serve panel says about the local server, in both languages.
import { test } from "node:test";
import assert from "node:assert/strict";
import { describeServing } from "../../ui/js/serve-panel.js";

test("off, and on with the URL set apart and the counts", () => {
  assert.deepEqual(describeServing("ja", { serving: false }).parts, ["公開していません。"]);
  assert.equal(describeServing("en", null).note, "— off");
  const status = {
    serving: true,
    url: "http://127.0.0.1:8642/v1",
    model: "tiny-mistral",
    requests: { finished: 3, cancelled: 1, failed: 0, refused: 2 },
  };
  const ja = describeServing("ja", status);
  assert.deepEqual(ja.parts, ["公開中: ", "http://127.0.0.1:8642/v1", "（モデル名 tiny-mistral）"]);
  assert.match(ja.counts, /完了 3 件・中止 1 件・失敗 0 件・満員で断った要求 2 件/);
  const en = describeServing("en", status);
  assert.equal(en.parts.join(""), "Serving at http://127.0.0.1:8642/v1 (model name tiny-mistral)");
  assert.equal(en.note, "— on");
});
