// The UI text tables: both languages complete, placeholders consistent, lookups safe.
import { test } from "node:test";
import assert from "node:assert/strict";
import { DICTIONARIES, t } from "../../ui/js/i18n.js";
import { readFileSync } from "node:fs";

const placeholders = (s) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();

test("Japanese and English have the same keys and placeholders", () => {
  const { ja, en } = DICTIONARIES;
  assert.deepEqual(Object.keys(en).sort(), Object.keys(ja).sort());
  for (const key of Object.keys(ja)) {
    assert.deepEqual(placeholders(en[key]), placeholders(ja[key]), key);
  }
});

test("every data-i18n key used by index.html exists", () => {
  const html = readFileSync(new URL("../../ui/index.html", import.meta.url), "utf8");
  const keys = [...html.matchAll(/data-i18n="([^"]+)"/g)].map((m) => m[1]);
  for (const pair of html.matchAll(/data-i18n-attr="([^"]+)"/g)) {
    for (const part of pair[1].split(";")) keys.push(part.split(":")[1].trim());
  }
  assert.ok(keys.length > 30);
  for (const key of keys) assert.ok(key in DICTIONARIES.ja, key);
});

test("every error code the backend can send has a message", () => {
  const codes = [
    // jslm-engine EngineError::code()
    "invalid_setting", "context_overflow", "missing_file", "invalid_file", "unsupported_model",
    "tokenizer_mismatch", "busy", "io", "compute", "tokenizer",
    // jslm-desktop AppError::code()
    "no_model", "model_loading", "no_model_path", "will_not_fit", "history_not_found", "storage", "internal",
    "unknown_model", "downloading", "not_downloaded",
    // jslm-hub HubError::code() (busy and cancelled renamed download_*)
    "gated_no_token", "token_invalid", "gated_not_accepted", "forbidden", "not_found", "disk_full",
    "checksum", "offline", "network", "server", "protocol", "download_cancelled", "download_busy",
    "invalid_request", "token_store", "setup",
  ];
  for (const code of codes) {
    for (const lang of ["ja", "en"]) assert.ok(`error.${code}` in DICTIONARIES[lang], `${lang} ${code}`);
  }
});

test("t fills placeholders, keeps unknown ones and falls back to Japanese", () => {
  assert.equal(t("ja", "model_pill_ready", { name: "tiny" }), "準備完了: tiny");
  assert.equal(t("en", "model_pill_ready", { name: "tiny" }), "Ready: tiny");
  assert.equal(t("en", "model_pill_ready"), "Ready: {name}");
  assert.equal(t("fr", "history_heading"), "履歴");
  assert.equal(t("ja", "no.such.key"), "no.such.key");
  // Replacement text is inserted literally ($& is not a pattern here).
  assert.equal(t("en", "model_pill_ready", { name: "$&<b>" }), "Ready: $&<b>");
});
