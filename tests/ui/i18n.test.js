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

// Every error code the backend can send has a message in both languages: checked from the
// code list itself by `every_error_code_has_a_message_in_both_languages` (src-tauri/src/error.rs).

test("t fills placeholders, keeps unknown ones and falls back to Japanese", () => {
  assert.equal(t("ja", "model_pill_ready", { name: "tiny" }), "準備完了: tiny");
  assert.equal(t("en", "model_pill_ready", { name: "tiny" }), "Ready: tiny");
  assert.equal(t("en", "model_pill_ready"), "Ready: {name}");
  assert.equal(t("fr", "history_heading"), "履歴");
  assert.equal(t("ja", "no.such.key"), "no.such.key");
  // Replacement text is inserted literally ($& is not a pattern here).
  assert.equal(t("en", "model_pill_ready", { name: "$&<b>" }), "Ready: $&<b>");
});

test("tComplete gives the text only when every placeholder has a value", async () => {
  const { tComplete } = await import("../../ui/js/i18n.js");
  assert.equal(tComplete("en", "model_pill_ready", { name: "tiny" }), "Ready: tiny");
  assert.equal(tComplete("en", "model_pill_ready"), null);
  assert.equal(tComplete("en", "model_pill_ready", { name: undefined }), null);
  assert.equal(tComplete("en", "model_pill_ready", { name: 0 }), "Ready: 0");
  assert.equal(tComplete("en", "history_heading"), "History");
  assert.equal(tComplete("en", "no.such.key"), null);
});

test("what the model reads and writes is marked Japanese whatever the page's language", () => {
  const html = readFileSync(new URL("../../ui/index.html", import.meta.url), "utf8");
  for (const id of ["instruction", "input", "output"]) {
    assert.match(html, new RegExp(`<\\w+ id="${id}"[^>]* lang="ja"`), id);
  }
});
