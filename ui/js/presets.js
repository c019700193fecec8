// Preset matching, and number and seed parsing for the settings form. The values themselves — the model
// card's defaults, each setting's bounds and the presets — are defined once in the engine
// (crates/jslm-engine/src/settings.rs) and come from the backend (`generation_schema`). Pure.

/** The sampling fields a preset sets. The length (`max_new_tokens`) and the seed are the user's. */
export const PRESET_FIELDS = ["do_sample", "temperature", "top_p", "top_k", "repetition_penalty"];

/** `{ card: {...}, greedy: {...}, ... }`: each preset's sampling fields, from the schema. */
export function presetsFrom(schema) {
  return Object.freeze(
    Object.fromEntries(
      schema.presets.map(([name, settings]) => [
        name,
        Object.freeze(Object.fromEntries(PRESET_FIELDS.map((f) => [f, settings[f]]))),
      ]),
    ),
  );
}

/** Largest seed the webview can hold exactly (JavaScript numbers are doubles). */
export const MAX_SEED = Number.MAX_SAFE_INTEGER;

/** The preset of `presets` whose sampling values `settings` has (length and seed ignored), or "custom". */
export function matchPreset(settings, presets) {
  for (const [name, preset] of Object.entries(presets)) {
    const same = PRESET_FIELDS.every((f) => {
      const a = f === "top_k" ? (settings.top_k ?? 0) : settings[f];
      return a === preset[f];
    });
    if (same) return name;
  }
  return "custom";
}

/**
 * The input attributes for one bound: `min` (nudged up one step's hundredth when the bound
 * itself is excluded, e.g. top_p > 0), `max` and `step`.
 */
export function inputRange(bound) {
  const min = bound.min_exclusive ? bound.min + bound.step / 100 : bound.min;
  return { min: String(min), max: String(bound.max), step: String(bound.step) };
}

/**
 * A number field's text as the page reads it: NFKC folds what a Japanese IME types in
 * full width — digits, point, minus, spaces ("１２３．５" → "123.5") — and the ends are
 * trimmed. Without it "１２３" fails every check although the user typed a number.
 */
export function normalizeNumberText(text) {
  return String(text ?? "").normalize("NFKC").trim();
}

/**
 * A settings field's number: plain decimal notation only ("0.7", "-1", "1e3"), after
 * `normalizeNumberText`; NaN for anything else — "" and the hex or "Infinity" that `Number`
 * would also take.
 */
export function parseDecimal(text) {
  const s = normalizeNumberText(text);
  return /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(s) ? Number(s) : NaN;
}

/**
 * Parses a seed field: "" → null (random), a whole number in 0..=MAX_SEED → that number,
 * anything else → undefined (invalid). Full-width digits count (`normalizeNumberText`).
 */
export function parseSeed(text) {
  const s = normalizeNumberText(text);
  if (s === "") return null;
  if (!/^\d+$/.test(s)) return undefined;
  const n = Number(s);
  return Number.isSafeInteger(n) && n <= MAX_SEED ? n : undefined;
}
