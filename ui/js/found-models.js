// The model manager's "on this computer" list: copies of this model that LM Studio, Ollama,
// llama.cpp or the Hugging Face cache already keep, or that lie in a folder the user added —
// each with its type, size, tokenizer, hash check and fit, and "use" to take it in place (no
// copy, no download). Also the folders that are searched, with add and remove. DOM is built
// with textContent only.

import { t } from "./i18n.js";
import { element, replaceRows } from "./dom.js";
import { fitView, formatBytes, precisionLabel } from "./hardware-view.js";

/** "Verified", "Not checked yet", ...: what is known of a found file's bytes. */
export function verificationText(lang, v) {
  switch (v?.state) {
    case "checked":
      return t(lang, v.matches ? "found_hash_ok" : "found_hash_bad");
    case "not_checked":
      return t(lang, "found_hash_unchecked");
    default:
      return t(lang, "found_hash_none");
  }
}

/** Where a found file's tokenizer comes from, or that it has none. */
export function foundTokenizerText(lang, model) {
  if (model.tokenizer_json) return t(lang, "candidate_tokenizer_json");
  if (model.has_vocabulary) return t(lang, "candidate_tokenizer_gguf");
  return t(lang, "found_no_tokenizer");
}

export class FoundModels {
  /**
   * @param {Document} doc
   * @param {object} deps `{ api, lang(), describeError(lang, raw), onChoose(path) }`
   */
  constructor(doc, deps) {
    this.doc = doc;
    this.deps = deps;
    this.result = null;
    /** `(lang) => text` of the list's state (scanning, the count, an error), or null. */
    this.stateText = null;
    this.$ = (id) => doc.getElementById(id);
    this.list = this.$("found-list");
    this.$("found-verify").addEventListener("click", () => this.refresh({ verify: true }));
    this.$("folder-add").addEventListener("click", () => this.update(() => this.deps.api.addModelFolder()));
  }

  lang() {
    return this.deps.lang();
  }

  async refresh({ verify = false } = {}) {
    this.showState((lang) => t(lang, verify ? "found_verifying" : "found_scanning"));
    await this.update(() => this.deps.api.foundModels(verify));
  }

  async update(call) {
    try {
      this.result = await call();
    } catch (raw) {
      this.showState((lang) => this.deps.describeError(lang, raw).title);
      return;
    }
    this.render();
  }

  /** Shows `describe(lang)` as the list's state; kept to be said again in another language. */
  showState(describe) {
    this.stateText = describe;
    this.$("found-state").textContent = describe(this.lang());
  }

  /** Says everything again in the language now chosen, from what is known (no new scan). */
  retranslate() {
    // A scan under way (or its error) is still what the state says, not the last count.
    const said = this.stateText;
    this.render();
    if (said) this.showState(said);
  }

  /** The first found model's "use" button, when there is one (a first step without download). */
  firstStep() {
    return this.list.querySelector('button[data-action="choose"]');
  }

  render() {
    const lang = this.lang();
    const r = this.result;
    if (!r) return;
    let state = "found_count";
    if (!r.found.length) state = r.folders.length ? "found_none" : "found_no_folders";
    this.showState((l) => t(l, state, { count: r.found.length, folders: r.folders.length }));
    // With nothing to look in, adding a folder is the one thing to do here.
    if (!r.folders.length) this.$("found-folders").open = true;
    replaceRows(this.list, r.found.map((m) => this.renderRow(m)));
    this.$("found-verify").hidden = !r.found.some((m) => m.verification.state === "not_checked");
    this.$("folder-list").replaceChildren(...r.folders.map((f) => this.renderFolder(f)));
  }

  renderRow(m) {
    const lang = this.lang();
    const doc = this.doc;
    const el = (tag, cls, text) => element(doc, tag, cls, text);
    const li = el("li", "model-row found-row");
    li.dataset.source = m.source;
    li.dataset.key = m.path;
    const head = el("div", "model-row-head");
    head.append(el("span", "model-name", m.name));
    head.append(el("span", "tag", t(lang, `found_source_${m.source}`)));
    if (m.active) head.append(el("span", "tag active", t(lang, "model_active")));
    li.append(head);
    li.append(el("p", "model-meta", [
      `GGUF ${precisionLabel(m.precision)}`,
      formatBytes(m.size_bytes),
      foundTokenizerText(lang, m),
      verificationText(lang, m.verification),
    ].join(" · ")));
    const path = el("p", "hint found-path", m.path);
    li.append(path);
    li.append(fitView(doc, lang, m.fit, t(lang, "model_fit_numbers", {
      precision: precisionLabel(m.fit.precision),
      needed: formatBytes(m.fit.needed_bytes),
      available: formatBytes(m.fit.available_bytes),
    })));
    if (!m.active) {
      const actions = el("div", "model-actions");
      const use = el("button", "small primary", t(lang, "found_use"));
      use.type = "button";
      use.dataset.action = "choose";
      use.addEventListener("click", () => this.deps.onChoose(m.path));
      actions.append(use);
      li.append(actions);
    }
    return li;
  }

  renderFolder(f) {
    const lang = this.lang();
    const doc = this.doc;
    const li = doc.createElement("li");
    const label = doc.createElement("span");
    label.textContent = `${t(lang, `found_source_${f.source}`)}: ${f.path}`;
    li.append(label);
    if (f.added) {
      const remove = doc.createElement("button");
      remove.type = "button";
      remove.className = "small";
      remove.dataset.action = "remove-folder";
      remove.textContent = t(lang, "folder_remove");
      remove.addEventListener("click", () => this.update(() => this.deps.api.removeModelFolder(f.path)));
      li.append(remove);
    }
    return li;
  }
}
