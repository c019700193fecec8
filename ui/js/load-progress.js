// The words under a model load's progress bar, from the load's events (`LoadEvent`,
// crates/jslm-runtime/src/load.rs: started, planned, hashing, quantizing, cache_hit,
// loading_weights). Pure: main.js keeps the latest event and says it again in the other
// language when the language changes.

import { t } from "./i18n.js";
import { planLine, splitText } from "./hardware-view.js";

/** What the load is doing, in `lang`; null for an event that says nothing new. */
export function loadText(lang, message) {
  const d = message?.data ?? {};
  switch (message?.event) {
    case "started":
      return t(lang, "load_started");
    case "planned":
      return [t(lang, "load_planned", { line: planLine(lang, d) }), splitText(lang, d.split)].filter(Boolean).join(" ");
    case "hashing":
      return t(lang, "load_hashing", { file: d.file });
    case "quantizing":
      return t(lang, "load_quantizing", { done: d.tensors_done, total: d.tensors_total });
    case "cache_hit":
      return t(lang, "load_cache_hit");
    case "loading_weights":
      return t(lang, "load_weights");
    default:
      return null;
  }
}
