// The words for a chosen model (candidate) and for copies found on disk.
import { test } from "node:test";
import assert from "node:assert/strict";
import { candidateLine, tokenizerText } from "../../ui/js/model-chooser.js";
import { foundTokenizerText, verificationText } from "../../ui/js/found-models.js";

const inspection = {
  name: "japanese-stablelm-instruct-gamma-7b",
  container: "gguf",
  stored: "q4_k_m",
  size_bytes: 4_368_438_976,
  context_tokens: 4096,
  tokenizer: { kind: "gguf_metadata" },
};

test("a candidate says what the file is, in both languages", () => {
  assert.equal(
    candidateLine("en", inspection),
    "japanese-stablelm-instruct-gamma-7b — GGUF Q4_K_M · 4.4 GB · context 4096 tokens",
  );
  assert.equal(
    candidateLine("ja", { ...inspection, container: "safetensors", stored: "bf16" }),
    "japanese-stablelm-instruct-gamma-7b — safetensors BF16・4.4 GB・コンテキスト 4096 トークン",
  );
  assert.equal(tokenizerText("en", inspection.tokenizer), "Tokenizer: the file's own vocabulary");
  assert.equal(tokenizerText("en", { kind: "json", path: "/m/tokenizer.json" }), "Tokenizer: tokenizer.json");
});

test("what is known of a found file's bytes and tokenizer", () => {
  const cases = [
    [{ state: "no_hash_known" }, "no hash known"],
    [{ state: "not_checked", expected_sha256: "ab" }, "hash not checked"],
    [{ state: "checked", expected_sha256: "ab", matches: true }, "hash matches"],
    [{ state: "checked", expected_sha256: "ab", matches: false }, "hash mismatch (may be damaged)"],
  ];
  for (const [v, expected] of cases) assert.equal(verificationText("en", v), expected);
  assert.equal(foundTokenizerText("en", { has_vocabulary: true, tokenizer_json: null }), "Tokenizer: the file's own vocabulary");
  assert.equal(foundTokenizerText("en", { has_vocabulary: true, tokenizer_json: "/m/tokenizer.json" }), "Tokenizer: tokenizer.json");
  assert.equal(foundTokenizerText("en", { has_vocabulary: false, tokenizer_json: null }), "no tokenizer (put a tokenizer.json beside it)");
});

test("a new candidate is scrolled into view; a language switch repaints it where it is", async () => {
  const { ModelChooser } = await import("../../ui/js/model-chooser.js");
  const { describeError } = await import("../../ui/js/errors.js");
  const { FakeDocument } = await import("./fake-dom.js");
  const doc = new FakeDocument();
  for (const id of ["pick-file", "pick-folder"]) doc.add("button", id);
  doc.add("input", "model-path");
  doc.add("details", "model-change");
  const box = doc.add("div", "model-candidate", { hidden: true });
  let scrolls = 0;
  box.scrollIntoView = () => scrolls++;
  let lang = "ja";
  const chooser = new ModelChooser(doc, { lang: () => lang, describeError, busy: () => null, api: {} });
  chooser.showError("/m/x.gguf", { code: "invalid_file", message: "bad header" });
  assert.equal(scrolls, 1);
  assert.equal(box.children[0].textContent, "モデルのファイルが壊れているか、途中までしかありません。");
  lang = "en";
  chooser.retranslate();
  assert.equal(box.children[0].textContent, "A model file is damaged or incomplete.");
  assert.equal(scrolls, 1, "the page does not scroll for a language switch");
});
