// Mapping backend error codes to the user's language.
import { test } from "node:test";
import assert from "node:assert/strict";
import { describeError, normalizeError } from "../../ui/js/errors.js";

test("codes map to translated text with the English detail kept", () => {
  const e = describeError("ja", { code: "busy", message: "a generation is already running" });
  assert.equal(e.title, "生成中です。停止するか、終わるまでお待ちください。");
  assert.match(e.detail, /already running/);
  assert.equal(describeError("en", { code: "no_model", message: "" }).detail, "");
});

test("invalid settings name the field in the user's language", () => {
  const raw = { code: "invalid_setting", message: "`top_p` must be > 0.0 and <= 1.0. Given: 1.5", field: "top_p" };
  assert.equal(describeError("ja", raw).field, "top_p");
  assert.match(describeError("ja", { ...raw, field: "repetition_penalty" }).title, /繰り返しペナルティ/);
  assert.match(describeError("en", { ...raw, field: "max_new_tokens" }).title, /Max new tokens/);
});

test("context overflow shows the numbers", () => {
  const raw = {
    code: "context_overflow",
    message: "…",
    numbers: { prompt_tokens: 100, max_new_tokens: 4096, total: 4196, context: 4096 },
  };
  const ja = describeError("ja", raw).title;
  assert.match(ja, /100 トークン/);
  assert.match(ja, /4196/);
  assert.match(describeError("en", raw).title, /context of 4096/);
});

test("unknown codes and plain strings still give a sentence", () => {
  assert.equal(describeError("en", { code: "brand_new", message: "x" }).title, "Something went wrong.");
  assert.deepEqual(normalizeError("command generate not allowed"), {
    code: "internal",
    message: "command generate not allowed",
  });
  assert.equal(normalizeError(new Error("boom")).message, "boom");
  assert.equal(normalizeError(undefined).code, "internal");
});

test("a reason picks the precise sentence; a cut-off answer is flagged", () => {
  const taken = { code: "bind_failed", message: "cannot listen on 127.0.0.1:8642: Address in use", reason: "in_use", numbers: { port: 8642 } };
  assert.match(describeError("ja", taken).title, /ポート 8642 はほかのプログラムが使っています/);
  assert.match(describeError("en", taken).title, /Port 8642 is in use/);
  // An unknown reason falls back to the code's sentence.
  assert.match(describeError("en", { ...taken, reason: "odd" }).title, /could not listen|listen/i);
  const cut = describeError("ja", { code: "remote_failed", message: "reset", partial: true });
  assert.equal(cut.partial, true);
  assert.equal(describeError("ja", { code: "busy", message: "" }).partial, false);
  assert.match(describeError("en", { code: "unauthorized", message: "", reason: "remote" }).title, /server's API key/);
});
