// Choosing a model file like a person does: the system's file or folder picker, a file or
// folder dropped on the window, or a copy found on this computer. Every route fills the path
// field and shows what the file is and the plan for it (`inspect_model`: the same checks as a
// load) before anything is loaded; loading stays the Load button's job. DOM is built with
// textContent only.

import { t } from "./i18n.js";
import { fitView, formatBytes, precisionLabel, reasonText } from "./hardware-view.js";

/** The words for where an inspected model's tokenizer comes from. */
export function tokenizerText(lang, origin) {
  return origin?.kind === "gguf_metadata" ? t(lang, "candidate_tokenizer_gguf") : t(lang, "candidate_tokenizer_json");
}

/** One line saying what an inspected model is: name, container and type, size, context. */
export function candidateLine(lang, seen) {
  return t(lang, "candidate_line", {
    name: seen.name,
    container: seen.container === "gguf" ? "GGUF" : "safetensors",
    precision: precisionLabel(seen.stored),
    size: formatBytes(seen.size_bytes),
    context: seen.context_tokens,
  });
}

export class ModelChooser {
  /**
   * @param {Document} doc
   * @param {object} deps `{ api, lang(), describeError(lang, raw), busy(), onPathChanged() }`
   */
  constructor(doc, deps) {
    this.doc = doc;
    this.deps = deps;
    this.$ = (id) => doc.getElementById(id);
    this.seen = null; // { path, inspection } or { path, error }
    this.checking = 0;
    this.$("pick-file").addEventListener("click", () => this.pick("file"));
    this.$("pick-folder").addEventListener("click", () => this.pick("folder"));
    // A path typed by hand is checked when loaded; an earlier candidate no longer applies.
    this.$("model-path").addEventListener("input", () => this.clear());
  }

  lang() {
    return this.deps.lang();
  }

  /** Starts listening for drops on the window. */
  watchDrops() {
    return this.deps.api.watchDrops((message) => this.onDrop(message));
  }

  async pick(kind) {
    let path;
    try {
      path = await this.deps.api.pickModel(kind, this.$("model-path").value.trim() || null);
    } catch (raw) {
      this.showError(null, raw);
      return;
    }
    if (path) await this.choose(path);
  }

  onDrop(message) {
    const overlay = this.$("drop-overlay");
    const d = message.data ?? {};
    switch (message.event) {
      case "hover":
        this.$("drop-text").textContent = t(this.lang(), d.usable ? "drop_here" : "drop_not_model");
        overlay.dataset.usable = String(Boolean(d.usable));
        overlay.hidden = false;
        break;
      case "left":
        overlay.hidden = true;
        break;
      case "dropped":
        overlay.hidden = true;
        this.choose(d.path, { ignored: d.ignored });
        break;
      case "refused":
        overlay.hidden = true;
        this.$("model-change").open = true;
        this.render({ path: null, refused: d.name });
        break;
      default:
        break;
    }
  }

  /**
   * Makes `path` the model in the path field and shows what it is and its plan; focus goes to
   * Load when it can be loaded.
   */
  async choose(path, { ignored = 0 } = {}) {
    this.$("model-path").value = path;
    this.$("model-change").open = true;
    const ticket = ++this.checking;
    this.render({ path, checking: true });
    this.deps.onPathChanged?.();
    let seen;
    try {
      seen = { path, ignored, inspection: await this.deps.api.inspectModel(path) };
    } catch (raw) {
      seen = { path, ignored, error: raw };
    }
    // A newer choice wins over a slow older one.
    if (ticket !== this.checking) return;
    this.seen = seen;
    this.render(seen);
    if (seen.inspection && !this.deps.busy()) this.$("load-button").focus();
  }

  clear() {
    this.seen = null;
    this.checking++;
    this.$("model-candidate").hidden = true;
    this.$("model-candidate").replaceChildren();
  }

  showError(path, raw) {
    this.seen = { path, error: raw };
    this.render(this.seen);
  }

  /** Paints the candidate again in the other language, where it is (no scrolling to it). */
  retranslate() {
    if (this.seen) this.render(this.seen, { reveal: false });
  }

  /** Paints `seen`; `reveal`: scrolls it into view (a new candidate, not a repaint). */
  render(seen, { reveal = true } = {}) {
    const lang = this.lang();
    const doc = this.doc;
    const box = this.$("model-candidate");
    const p = (cls, text) => {
      const e = doc.createElement("p");
      if (cls) e.className = cls;
      e.textContent = text;
      return e;
    };
    const parts = [];
    box.dataset.state = seen.checking ? "checking" : seen.error || seen.refused ? "error" : "ready";
    box.removeAttribute("role");
    if (seen.checking) {
      parts.push(p("hint", t(lang, "candidate_checking", { path: seen.path })));
    } else if (seen.refused) {
      box.setAttribute("role", "alert");
      parts.push(p("", t(lang, "drop_refused", { name: seen.refused })));
    } else if (seen.error) {
      box.setAttribute("role", "alert");
      const { title, detail } = this.deps.describeError(lang, seen.error);
      parts.push(p("", title));
      if (detail) parts.push(p("detail", detail));
    } else {
      const seenModel = seen.inspection;
      const plan = seenModel.plan;
      parts.push(p("candidate-name", candidateLine(lang, seenModel)));
      parts.push(p("hint", `${tokenizerText(lang, seenModel.tokenizer)} · ${seenModel.path}`));
      // The fit's numbers are in the bar below; this line says what runs and why.
      parts.push(p("", t(lang, "candidate_plan", {
        device: seenModel.device_name,
        precision: precisionLabel(plan.precision),
        threads: plan.threads,
        context: plan.context_tokens,
        reason: reasonText(lang, plan.reason),
      })));
      parts.push(fitView(doc, lang, plan.fit, t(lang, "hw_fit_numbers", {
        needed: formatBytes(plan.fit.needed_bytes),
        available: formatBytes(plan.fit.available_bytes),
      })));
      parts.push(p("hint", t(lang, plan.fit.level === "will_not_fit" ? "candidate_will_not_fit" : "candidate_ready")));
    }
    if (seen.ignored) parts.push(p("hint", t(lang, "drop_ignored", { count: seen.ignored })));
    box.replaceChildren(...parts);
    box.hidden = false;
    if (reveal) box.scrollIntoView({ block: "nearest" });
  }
}
