// Keyboard rules. Pure: each takes a KeyboardEvent-like object.

/**
 * True while an input method (kana–kanji conversion) owns the key. WebKit fires
 * `compositionend` *before* the keydown that confirms the conversion, so `isComposing` is
 * already false on that keydown; its `keyCode` is still 229. Both must be checked.
 */
export function isComposing(event) {
  return Boolean(event.isComposing) || event.keyCode === 229;
}

/** Ctrl+Enter (Cmd+Enter on macOS) generates; never in the middle of an IME conversion. */
export function isGenerateShortcut(event) {
  if (isComposing(event)) return false;
  return event.key === "Enter" && (event.ctrlKey || event.metaKey) && !event.altKey;
}

/** Escape stops a running generation (also never during IME conversion: it cancels it). */
export function isStopShortcut(event) {
  if (isComposing(event)) return false;
  return event.key === "Escape" && !event.ctrlKey && !event.metaKey && !event.altKey;
}
