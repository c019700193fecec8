// Keyboard rules, IME composition in particular.
import { test } from "node:test";
import assert from "node:assert/strict";
import { isGenerateShortcut, isStopShortcut, isComposing } from "../../ui/js/keys.js";

const key = (k, extra = {}) => ({ key: k, keyCode: 0, isComposing: false, ctrlKey: false, metaKey: false, altKey: false, ...extra });

test("generate shortcut table", () => {
  const cases = [
    [key("Enter", { ctrlKey: true }), true],
    [key("Enter", { metaKey: true }), true],
    [key("Enter"), false],
    [key("Enter", { shiftKey: true }), false],
    [key("Enter", { ctrlKey: true, altKey: true }), false],
    // Kana–kanji conversion: never submit.
    [key("Enter", { ctrlKey: true, isComposing: true }), false],
    // WebKit: compositionend already fired, isComposing false, keyCode still 229.
    [key("Enter", { ctrlKey: true, keyCode: 229 }), false],
    [key("Process", { ctrlKey: true, keyCode: 229 }), false],
    [key("a", { ctrlKey: true }), false],
  ];
  for (const [event, expected] of cases) assert.equal(isGenerateShortcut(event), expected, JSON.stringify(event));
});

test("escape stops, but not while composing", () => {
  assert.equal(isStopShortcut(key("Escape")), true);
  assert.equal(isStopShortcut(key("Escape", { isComposing: true })), false);
  assert.equal(isStopShortcut(key("Escape", { keyCode: 229 })), false);
  assert.equal(isStopShortcut(key("Escape", { ctrlKey: true })), false);
  assert.equal(isComposing(key("x", { keyCode: 229 })), true);
});
