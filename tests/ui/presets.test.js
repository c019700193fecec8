// Presets, preset matching, input ranges and seed parsing, over the schema the backend sends
// (tests/fixtures/generation_schema.json, kept equal to the engine's by a Rust test).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { inputRange, matchPreset, parseSeed, presetsFrom, MAX_SEED } from "../../ui/js/presets.js";

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
    ["４２", undefined],
  ];
  for (const [text, expected] of cases) assert.equal(parseSeed(text), expected, text);
});
