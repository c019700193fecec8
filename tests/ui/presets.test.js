// Presets, preset matching and seed parsing.
import { test } from "node:test";
import assert from "node:assert/strict";
import { CARD_DEFAULTS, PRESETS, matchPreset, parseSeed, MAX_SEED } from "../../ui/js/presets.js";

test("the card preset is the model card's generate() call", () => {
  assert.deepEqual({ ...CARD_DEFAULTS }, {
    max_new_tokens: 256,
    do_sample: true,
    temperature: 1.0,
    top_p: 0.95,
    top_k: 50,
    repetition_penalty: 1.0,
  });
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
  for (const [settings, expected] of cases) assert.equal(matchPreset(settings), expected, JSON.stringify(settings));
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
