// Generation presets and the settings shape the backend expects (`GenerationSettings` in
// crates/jslm-engine/src/settings.rs). Pure.

/**
 * The model card: `model.generate(max_new_tokens=256, temperature=1, top_p=0.95,
 * do_sample=True)`, with transformers' default top_k 50 (see settings.rs).
 */
export const CARD_DEFAULTS = Object.freeze({
  max_new_tokens: 256,
  do_sample: true,
  temperature: 1.0,
  top_p: 0.95,
  top_k: 50,
  repetition_penalty: 1.0,
});

/** The sampling fields a preset sets. The length (`max_new_tokens`) is the user's. */
export const PRESET_FIELDS = ["do_sample", "temperature", "top_p", "top_k", "repetition_penalty"];

const sampling = (values) => Object.freeze(Object.fromEntries(PRESET_FIELDS.map((f) => [f, values[f]])));

export const PRESETS = Object.freeze({
  card: sampling(CARD_DEFAULTS),
  // do_sample=False: always the most likely token; the same text on every run.
  greedy: sampling({ ...CARD_DEFAULTS, do_sample: false }),
  // Looser sampling and a light repetition penalty for varied, less repetitive prose.
  creative: sampling({
    ...CARD_DEFAULTS,
    temperature: 1.2,
    top_p: 0.98,
    top_k: 100,
    repetition_penalty: 1.1,
  }),
});

/** Largest seed the webview can hold exactly (JavaScript numbers are doubles). */
export const MAX_SEED = Number.MAX_SAFE_INTEGER;

/** The preset whose sampling values `settings` has (length and seed ignored), or "custom". */
export function matchPreset(settings) {
  for (const [name, preset] of Object.entries(PRESETS)) {
    const same = PRESET_FIELDS.every((f) => {
      const a = f === "top_k" ? (settings.top_k ?? 0) : settings[f];
      return a === preset[f];
    });
    if (same) return name;
  }
  return "custom";
}

/**
 * Parses a seed field: "" → null (random), a whole number in 0..=MAX_SEED → that number,
 * anything else → undefined (invalid).
 */
export function parseSeed(text) {
  const s = String(text ?? "").trim();
  if (s === "") return null;
  if (!/^\d+$/.test(s)) return undefined;
  const n = Number(s);
  return Number.isSafeInteger(n) && n <= MAX_SEED ? n : undefined;
}
