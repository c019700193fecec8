// Presets, preset matching, input ranges and seed parsing, over the schema the backend sends
// (tests/fixtures/generation_schema.json, kept equal to the engine's by a Rust test).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { inputRange, matchPreset, normalizeNumberText, parseDecimal, parseSeed, presetsFrom, MAX_SEED } from "../../ui/js/presets.js";
import { SettingsForm } from "../../ui/js/settings-form.js";
import { FakeDocument, FakeElement } from "./fake-dom.js";

const schema = JSON.parse(readFileSync(new URL("../fixtures/generation_schema.json", import.meta.url), "utf8"));
const PRESETS = presetsFrom(schema);

test("the defaults are the model card's generate() call", () => {
  assert.deepEqual(schema.defaults, {
    max_new_tokens: 256,
    do_sample: true,
    temperature: 1.0,
    top_p: 0.95,
    top_k: 50,
    repetition_penalty: 1.0,
    seed: null,
  });
  assert.deepEqual(Object.keys(PRESETS), ["card", "greedy", "creative"]);
  assert.equal(PRESETS.greedy.do_sample, false);
  assert.equal("max_new_tokens" in PRESETS.card, false, "presets leave the length alone");
});

test("matchPreset table", () => {
  const cases = [
    [{ ...PRESETS.card, seed: 5 }, "card"],
    [{ ...PRESETS.greedy, seed: null }, "greedy"],
    [{ ...PRESETS.creative }, "creative"],
    [{ ...PRESETS.card, temperature: 0.7 }, "custom"],
    [{ ...PRESETS.card, top_k: null }, "custom"],
    [{ ...PRESETS.card, max_new_tokens: 512 }, "card"],
    [{ ...PRESETS.greedy, temperature: 0.5 }, "custom"],
  ];
  for (const [settings, expected] of cases) assert.equal(matchPreset(settings, PRESETS), expected, JSON.stringify(settings));
});

test("input ranges come from the bounds", () => {
  assert.deepEqual(inputRange(schema.bounds.max_new_tokens), { min: "1", max: "4096", step: "1" });
  // top_p must be > 0: the input's minimum sits just above it.
  const topP = inputRange(schema.bounds.top_p);
  assert.ok(Number(topP.min) > 0 && Number(topP.min) < 0.01, topP.min);
  assert.equal(topP.max, "1");
});

test("parseSeed table", () => {
  const cases = [
    ["", null],
    ["  ", null],
    ["0", 0],
    [" 42 ", 42],
    [String(MAX_SEED), MAX_SEED],
    ["9007199254740992", undefined],
    ["18446744073709551615", undefined],
    ["-1", undefined],
    ["1.5", undefined],
    ["1e3", undefined],
    ["abc", undefined],
    // What a Japanese IME types: full-width digits and spaces.
    ["１２３", 123],
    ["\u3000４２\u3000", 42],
    ["４２", 42],
    ["１．５", undefined],
  ];
  for (const [text, expected] of cases) assert.equal(parseSeed(text), expected, text);
});

test("full-width numbers typed with an IME read as numbers", () => {
  assert.equal(normalizeNumberText(" １２３．５ "), "123.5");
  assert.equal(normalizeNumberText("－１"), "-1");
  assert.equal(normalizeNumberText(undefined), "");
  const cases = [
    ["0.7", 0.7],
    ["０．７", 0.7],
    ["\u3000２５６\u3000", 256],
    ["-1", -1],
    ["1e3", 1000],
    [".5", 0.5],
    ["", NaN],
    ["0x10", NaN],
    ["Infinity", NaN],
    ["1,000", NaN],
    ["abc", NaN],
  ];
  for (const [text, expected] of cases) assert.equal(parseDecimal(text), expected, text);
});

/** The settings fields (index.html's settings) in a fake root, with the schema set. */
function settingsForm() {
  const doc = new FakeDocument();
  const fields = {};
  for (const name of ["max_new_tokens", "temperature", "top_p", "top_k", "repetition_penalty", "seed"]) {
    fields[name] = doc.add("input", name, { name });
  }
  fields.do_sample = doc.add("input", "do_sample", { name: "do_sample" });
  const radios = ["card", "greedy", "creative", "custom"].map((value) =>
    doc.add("input", `preset-${value}`, { name: "preset", value }),
  );
  const root = new FakeElement(doc, "div");
  root.querySelector = (selector) => fields[/^\[name="(\w+)"\]$/.exec(selector)[1]];
  root.querySelectorAll = () => radios;
  root.closest = () => null;
  const form = new SettingsForm(root, { onChange() {} });
  form.setSchema(schema);
  form.set(schema.defaults);
  return { form, fields, radios };
}

test("the settings form reads full-width numbers and shows them in ASCII", async () => {
  const { form, fields, radios } = settingsForm();
  fields.max_new_tokens.value = "１２８";
  fields.temperature.value = "１";
  fields.seed.value = "１２３";
  // Read as they are (the prefill reads while an IME may be composing: no rewriting)...
  const read = form.read();
  assert.equal(read.error, undefined);
  assert.equal(read.settings.max_new_tokens, 128);
  assert.equal(read.settings.seed, 123);
  assert.equal(fields.seed.value, "１２３");
  // ...the card preset is still recognised...
  await fields.temperature.dispatch("input");
  assert.equal(radios.find((r) => r.checked)?.value, "card");
  // ...and a committed edit, or Generate, puts the normalised text back in the field.
  await fields.seed.dispatch("change");
  assert.equal(fields.seed.value, "123");
  form.normalizeAll();
  assert.equal(fields.max_new_tokens.value, "128");
  assert.equal(fields.temperature.value, "1");
  fields.top_k.value = "0x10";
  assert.deepEqual(form.read().error, { field: "top_k", key: "error.invalid_setting" });
});
