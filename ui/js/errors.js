// Turns a command error `{ code, message, field?, numbers?, reason?, partial? }` into text for
// the user, in the UI language. The backend's English `message` is kept as a detail line.
// `reason` picks a more precise sentence (`error.<code>.<reason>`, e.g. a port in use);
// `partial` says a streamed answer was cut off (it stays on screen). Pure.

import { t } from "./i18n.js";
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
  let title = t(lang, key, params);
  if (err.reason) {
    const precise = `${key}.${err.reason}`;
    const text = t(lang, precise, params);
    if (text !== precise) title = text;
  }
  if (title === key) title = t(lang, "error.unknown");
  const detail = err.message ? t(lang, "error_detail", { message: err.message }) : "";
  return { title, detail, field: err.field, partial: err.partial === true };
}

/** The label of a settings field as the form shows it. */
export function fieldName(lang, field) {
  const key = `field_${field}`;
  const name = t(lang, key);
  return name === key ? field : name;
}
