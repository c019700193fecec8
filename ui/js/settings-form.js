// The generation settings fields and preset radios: reading, writing, and marking a field the
// backend rejected.

import { inputRange, matchPreset, normalizeNumberText, parseDecimal, parseSeed, presetsFrom } from "./presets.js";

const NUMBER_FIELDS = ["max_new_tokens", "temperature", "top_p", "top_k", "repetition_penalty"];
const INTEGER_FIELDS = new Set(["max_new_tokens", "top_k"]);

export class SettingsForm {
  /**
   * @param {HTMLElement} root holds inputs named like the settings fields, a `seed` input and
   *   `preset` radios
   * @param {{ onChange: () => void }} hooks called after the user changes anything
   */
  constructor(root, hooks) {
    this.root = root;
    this.hooks = hooks;
    this.inputs = {};
    for (const name of [...NUMBER_FIELDS, "do_sample", "seed"]) {
      this.inputs[name] = root.querySelector(`[name="${name}"]`);
    }
    this.presetRadios = [...root.querySelectorAll('input[name="preset"]')];
    this.presets = {};
    for (const radio of this.presetRadios) {
      radio.addEventListener("change", () => {
        if (radio.checked && this.presets[radio.value]) {
          this.writeValues(this.presets[radio.value]);
          this.clearInvalid();
          this.hooks.onChange();
        }
      });
    }
    for (const input of Object.values(this.inputs)) {
      input.addEventListener("input", () => {
        input.removeAttribute("aria-invalid");
        this.syncPreset();
        this.hooks.onChange();
      });
    }
    // Full-width digits become ASCII once the edit is committed (never mid-composition, when
    // rewriting the field would break the IME).
    for (const name of [...NUMBER_FIELDS, "seed"]) {
      this.inputs[name].addEventListener("change", () => this.normalize(name));
    }
  }

  /** Shows the field's text normalised (`normalizeNumberText`): "１２３" becomes "123". */
  normalize(name) {
    const input = this.inputs[name];
    const text = normalizeNumberText(input.value);
    // Only when it differs: rewriting the same text would move the caret.
    if (input.value !== text) input.value = text;
  }

  /** Normalises every number field, as Generate reads them (Ctrl+Enter commits no change). */
  normalizeAll() {
    for (const name of [...NUMBER_FIELDS, "seed"]) this.normalize(name);
  }

  /**
   * Takes the backend's `generation_schema` (defaults, bounds, presets): the inputs' ranges
   * and the presets' values come from there, never from copies here.
   */
  setSchema(schema) {
    this.presets = presetsFrom(schema);
    this.defaults = schema.defaults;
    for (const name of NUMBER_FIELDS) {
      const range = inputRange(schema.bounds[name]);
      for (const [attr, value] of Object.entries(range)) this.inputs[name].setAttribute(attr, value);
    }
  }

  /** Shows `settings` (a `GenerationSettings`). */
  set(settings) {
    this.writeValues(settings);
    this.inputs.seed.value = settings.seed === null || settings.seed === undefined ? "" : String(settings.seed);
    this.syncPreset();
  }

  /** Writes the fields present in `values` (a preset leaves the length alone). */
  writeValues(values) {
    for (const name of NUMBER_FIELDS) {
      if (!(name in values)) continue;
      const v = name === "top_k" ? (values.top_k ?? 0) : values[name];
      this.inputs[name].value = String(v);
    }
    if ("do_sample" in values) this.inputs.do_sample.checked = Boolean(values.do_sample);
    this.syncPreset();
  }

  /** The preset the fields match now ("card", "greedy", "creative" or "custom"). */
  preset() {
    return this.presetRadios.find((r) => r.checked)?.value ?? "custom";
  }

  syncPreset() {
    const current = this.readLoose();
    const name = current ? matchPreset(current, this.presets) : "custom";
    for (const radio of this.presetRadios) radio.checked = radio.value === name;
  }

  /** The fields as numbers, or null when one is not a number. */
  readLoose() {
    const out = { do_sample: this.inputs.do_sample.checked };
    for (const name of NUMBER_FIELDS) {
      const n = parseDecimal(this.inputs[name].value);
      if (!Number.isFinite(n)) return null;
      out[name] = n;
    }
    return out;
  }

  /**
   * `{ settings }` ready for the backend, or `{ error: { field, key } }` for a field the
   * webview itself cannot represent (ranges are checked by the backend, one set of rules).
   * Reads only, full-width digits included: the prompt prefill calls it while the user may
   * be composing in a field (`normalizeAll` rewrites the fields).
   */
  read() {
    const settings = { do_sample: this.inputs.do_sample.checked };
    for (const name of NUMBER_FIELDS) {
      const n = parseDecimal(this.inputs[name].value);
      if (!Number.isFinite(n) || (INTEGER_FIELDS.has(name) && !Number.isInteger(n)) || (INTEGER_FIELDS.has(name) && n < 0)) {
        return { error: { field: name, key: "error.invalid_setting" } };
      }
      settings[name] = n;
    }
    const seed = parseSeed(this.inputs.seed.value);
    if (seed === undefined) return { error: { field: "seed", key: "error.seed_range" } };
    settings.seed = seed;
    return { settings };
  }

  /** Marks `field` invalid, opens the settings and focuses it. */
  markInvalid(field) {
    const input = this.inputs[field];
    if (!input) return false;
    input.setAttribute("aria-invalid", "true");
    const details = this.root.closest("details") ?? this.root;
    if ("open" in details) details.open = true;
    input.focus();
    return true;
  }

  clearInvalid() {
    for (const input of Object.values(this.inputs)) input.removeAttribute("aria-invalid");
  }

  setDisabled(disabled) {
    for (const el of this.root.querySelectorAll("input, select")) el.disabled = disabled;
  }
}
