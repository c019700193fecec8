// Turns a command error `{ code, message, field?, numbers?, reason?, partial? }` into text for
// the user, in the UI language. The backend's English `message` is kept as a detail line.
// `reason` picks a more precise sentence (`error.<code>.<reason>`, e.g. a port in use);
// `partial` says a streamed answer was cut off (it stays on screen). A sentence is only used
// when every `{placeholder}` it has is given: an error sent without its numbers falls back to
// `error.<code>.plain`, the sentence without them, and a brace never reaches the user. Pure.

import { t, tComplete } from "./i18n.js";
import { formatBytes } from "./hardware-view.js";

/** Normalises whatever a rejected `invoke` gave into `{ code, message, field?, numbers? }`. */
export function normalizeError(raw) {
  if (raw && typeof raw === "object" && typeof raw.code === "string") {
    return {
      code: raw.code,
      message: typeof raw.message === "string" ? raw.message : "",
      field: typeof raw.field === "string" ? raw.field : undefined,
      numbers: raw.numbers && typeof raw.numbers === "object" ? raw.numbers : undefined,
      reason: typeof raw.reason === "string" ? raw.reason : undefined,
      partial: raw.partial === true,
    };
  }
  // Tauri itself rejects with a string (e.g. a denied permission or bad arguments).
  const message = raw instanceof Error ? raw.message : String(raw);
  return { code: "internal", message };
}

/** `{ title, detail }`: the translated sentence, and the backend's message (may be empty). */
export function describeError(lang, raw) {
  const err = normalizeError(raw);
  const key = `error.${err.code}`;
  const params = { ...(err.numbers ?? {}) };
  // Byte counts are shown as GB.
  for (const [k, v] of Object.entries(params)) if (k.endsWith("_bytes")) params[k] = formatBytes(v);
  if (err.field) params.field = fieldName(lang, err.field);
  const keys = err.reason ? [`${key}.${err.reason}`, key] : [key];
  const title = sentence(lang, keys, params);
  const detail = err.message ? t(lang, "error_detail", { message: err.message }) : "";
  return { title, detail, field: err.field, partial: err.partial === true };
}

/**
 * `{ title, detail: "", field }` for a message of the page's own (a check made here, not by
 * the backend): `key` with `params`, and `field`, a settings field, named as the form labels
 * it in `lang` (the `{field}` of `error.invalid_setting`).
 */
export function describeMessage(lang, key, params = {}, field = null) {
  const all = field ? { ...params, field: fieldName(lang, field) } : params;
  return { title: sentence(lang, [key], all), detail: "", field };
}

/**
 * The first of `keys` whose sentence has all its placeholders in `params`, each followed by
 * its `.plain` form (no numbers); "Something went wrong." when none has.
 */
function sentence(lang, keys, params) {
  for (const key of keys) {
    const text = tComplete(lang, key, params) ?? tComplete(lang, `${key}.plain`, params);
    if (text !== null) return text;
  }
  return t(lang, "error.unknown");
}

/** The label of a settings field as the form shows it. */
export function fieldName(lang, field) {
  const key = `field_${field}`;
  const name = t(lang, key);
  return name === key ? field : name;
}
