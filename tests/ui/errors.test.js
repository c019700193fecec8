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

test("a setting the page cannot read is named in the message, in both languages", async () => {
  const { SettingsForm } = await import("../../ui/js/settings-form.js");
  const { describeMessage, fieldName } = await import("../../ui/js/errors.js");
  // The form's inputs, as much of them as SettingsForm touches.
  const input = () => ({ value: "", checked: false, addEventListener() {}, setAttribute() {}, removeAttribute() {} });
  const inputs = {};
  const root = {
    querySelector: (selector) => (inputs[/name="(\w+)"/.exec(selector)[1]] ??= input()),
    querySelectorAll: () => [],
  };
  const form = new SettingsForm(root, { onChange() {} });
  form.set({ max_new_tokens: 64, do_sample: true, temperature: 1, top_p: 0.95, top_k: 0, repetition_penalty: 1, seed: null });
  for (const field of ["max_new_tokens", "temperature", "top_p", "top_k", "repetition_penalty"]) {
    const kept = inputs[field].value;
    inputs[field].value = "abc";
    const read = form.read();
    assert.equal(read.error?.field, field);
    for (const lang of ["ja", "en"]) {
      const { title } = describeMessage(lang, read.error.key, {}, read.error.field);
      assert.ok(title.includes(fieldName(lang, field)), `${lang} ${field}: ${title}`);
      assert.doesNotMatch(title, /[{}]/, title);
    }
    inputs[field].value = kept;
  }
  assert.equal(describeMessage("ja", "error.invalid_setting", {}, "top_k").title, "設定が正しくありません（top_k（0 で無効））。");
  assert.equal(describeMessage("en", "error.invalid_setting", {}, "max_new_tokens").title, "A setting is out of range (Max new tokens).");
  // The seed has its own sentence, which names no field.
  inputs.seed.value = "-1";
  const seed = form.read();
  assert.equal(describeMessage("en", seed.error.key, {}, seed.error.field).title, "The seed must be a whole number from 0 to 9007199254740991.");
});

test("the disk filling up mid-download says the download is kept, with no numbers", () => {
  const during = { code: "disk_full", reason: "during", message: "No space left on device" };
  assert.match(describeError("ja", during).title, /途中でディスクがいっぱい.*残してあります.*「再開」/);
  assert.match(describeError("en", during).title, /filled up during the download.*kept.*Resume/);
  // With its numbers, the plain disk_full keeps saying them.
  const numbers = { code: "disk_full", message: "", numbers: { needed_bytes: 5e9, available_bytes: 1e9 } };
  assert.equal(describeError("en", numbers).title, "Not enough disk space: needs 5.0 GB, 1.0 GB free.");
});

test("no error sentence ever shows a {placeholder}, whatever the backend left out", async () => {
  const { DICTIONARIES } = await import("../../ui/js/i18n.js");
  // Every code and reason the dictionaries know, sent bare: no numbers, no field.
  const sent = Object.keys(DICTIONARIES.ja)
    .filter((key) => key.startsWith("error.") && !key.endsWith(".plain"))
    .map((key) => {
      const [code, reason] = key.slice("error.".length).split(".");
      return reason ? { code, reason, message: "" } : { code, message: "" };
    });
  assert.ok(sent.length > 40);
  for (const raw of sent) {
    for (const lang of ["ja", "en"]) {
      const { title } = describeError(lang, raw);
      assert.doesNotMatch(title, /[{}]/, `${lang} ${JSON.stringify(raw)}: ${title}`);
      // The code's own words, not the catch-all.
      if (raw.code !== "unknown") assert.notEqual(title, describeError(lang, { code: "brand_new" }).title, `${lang} ${raw.code}`);
    }
  }
  // Some numbers but not all: the plain sentence, not a half-filled one.
  assert.equal(describeError("en", { code: "will_not_fit", message: "", numbers: { needed_bytes: 9e9 } }).title,
    "Not enough memory. Close other apps or choose a smaller precision (Q4_K_M).");
  // A reason whose sentence needs a number falls back to the code's sentence.
  assert.match(describeError("en", { code: "bind_failed", reason: "in_use", message: "" }).title, /^Could not listen/);
});
