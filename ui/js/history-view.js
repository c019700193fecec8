// The history list: one item per past run with open, regenerate and delete. Everything from
// the history (instructions are user text) is written with `textContent`.

import { t } from "./i18n.js";
import { restoreFocus } from "./focus.js";

/** Local date and time of `ms` for the list ("2026/11/27 12:34"). */
export function formatTime(lang, ms) {
  const locale = lang === "ja" ? "ja-JP" : "en-GB";
  return new Date(ms).toLocaleString(locale, {
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
  });
}

export class HistoryView {
  /**
   * @param {HTMLOListElement} list
   * @param {HTMLElement} empty shown when there is no run
   * @param {{ open(id), regenerate(id), remove(id): Promise }} actions; `remove` resolves
   *   once the list has been rendered again
   * @param {HTMLElement} [heading] takes focus when the last entry is deleted (tabindex -1)
   */
  constructor(list, empty, actions, heading = null) {
    this.list = list;
    this.empty = empty;
    this.actions = actions;
    this.heading = heading;
    this.items = [];
    // Each entry's open button, in list order: where focus goes after a delete.
    this.openButtons = [];
    this.lang = "ja";
    this.busy = false;
  }

  render(items, lang) {
    this.items = items;
    this.lang = lang;
    this.openButtons = [];
    this.list.replaceChildren(...items.map((item) => this.renderItem(item)));
    this.empty.hidden = items.length > 0;
    this.setBusy(this.busy);
  }

  /** While generating, regenerate is unavailable (one generation at a time). */
  setBusy(busy) {
    this.busy = busy;
    for (const b of this.list.querySelectorAll("button[data-action=regenerate]")) b.disabled = busy;
  }

  renderItem(item) {
    const lang = this.lang;
    const doc = this.list.ownerDocument;
    const li = doc.createElement("li");
    li.className = "history-item";
    li.dataset.id = item.id;
    const time = formatTime(lang, item.created_at_ms);

    const open = doc.createElement("button");
    open.type = "button";
    open.className = "history-open";
    open.dataset.action = "open";
    open.setAttribute("aria-label", t(lang, "history_item_label", { time, instruction: item.instruction }));
    const title = doc.createElement("span");
    title.className = "history-title";
    // What the user asked the model, in Japanese whatever the page's language: a screen
    // reader reads it with a Japanese voice, and the font draws Japanese glyphs.
    title.setAttribute("lang", "ja");
    title.textContent = item.instruction;
    const meta = doc.createElement("span");
    meta.className = "history-meta";
    meta.textContent = t(lang, "history_meta", { time, tokens: item.generated_tokens, seed: item.seed });
    // A run on a remote server names it.
    if (item.endpoint) meta.textContent += ` · ${t(lang, "history_remote", { model: item.model_name, endpoint: item.endpoint })}`;
    open.append(title, meta);
    open.addEventListener("click", () => this.actions.open(item.id));
    this.openButtons.push(open);

    const row = doc.createElement("div");
    row.className = "history-actions";
    const regen = button(doc, "regenerate", t(lang, "history_regenerate"));
    regen.addEventListener("click", () => this.actions.regenerate(item.id));
    const del = button(doc, "delete", t(lang, "history_delete"));
    // Two steps instead of a modal confirm: the first press arms, the second deletes.
    del.addEventListener("click", async () => {
      if (del.dataset.armed === "true") {
        const index = this.items.indexOf(item);
        await this.actions.remove(item.id);
        // The deleted entry took the focus with it: give it to the entry now in its place,
        // else the one before it, else the heading of the (now empty) list.
        restoreFocus(doc, del, this.entryButton(index) ?? this.heading);
      } else {
        del.dataset.armed = "true";
        del.textContent = t(lang, "history_delete_confirm");
      }
    });
    del.addEventListener("blur", () => {
      del.dataset.armed = "false";
      del.textContent = t(lang, "history_delete");
    });
    row.append(regen, del);
    li.append(open, row);
    return li;
  }

  /** The open button of the entry at `index`, or of the last one when fewer; null if none. */
  entryButton(index) {
    const buttons = this.openButtons;
    return buttons.length ? buttons[Math.min(Math.max(index, 0), buttons.length - 1)] : null;
  }
}

function button(doc, action, label) {
  const b = doc.createElement("button");
  b.type = "button";
  b.className = "small";
  b.dataset.action = action;
  b.textContent = label;
  return b;
}
