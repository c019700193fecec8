// The "where it runs, and the local server" panel: the run-on choice (this computer, or an
// OpenAI-compatible server: URL, model name, key) and the serve switch (address, port, key,
// the URL while on). Keys go to the backend and are never read back: the panel only learns
// whether each is set. Every text is written with `textContent`.

import { t } from "./i18n.js";
import { describeError, describeMessage } from "./errors.js";
import { normalizeNumberText } from "./presets.js";

/**
 * What the panel says about the server (pure): `{ note, parts, counts }`, where `parts` is the
 * sentence split around the URL (`[before, url, after]`, the URL shown as code) while serving.
 */
export function describeServing(lang, status) {
  if (!status?.serving) return { note: t(lang, "serve_note_off"), parts: [t(lang, "serve_off")], counts: "" };
  const [before, after = ""] = t(lang, "serve_on", { url: "\u0000", model: status.model }).split("\u0000");
  return {
    note: t(lang, "serve_note_on"),
    parts: [before, status.url, after],
    counts: t(lang, "serve_counts", status.requests),
  };
}

/** How often the panel asks what the server did, while it serves (ms). */
export const REFRESH_MS = 3000;

export class ServePanel {
  /**
   * @param {Document} doc
   * @param {object} api the backend commands (`api.js`)
   * @param {{ lang: () => string, onBackend?: (backend) => void }} options
   */
  constructor(doc, api, options) {
    this.doc = doc;
    this.api = api;
    this.lang = options.lang;
    this.onBackend = options.onBackend ?? (() => {});
    this.status = null;
    /** `(lang) => { title, detail? }` of the error shown, or null. */
    this.message = null;
    this.timer = null;
    this.backend = { kind: "local" };
    // The radio the user picked. It differs from `backend.kind` while a server is being typed
    // in but not yet applied with 使う, and every re-render (the key saved, the 3-second
    // refresh, a language switch) must keep it, or the form would close under the typing.
    this.choice = "local";
    this.$ = (id) => doc.getElementById(id);
    this.wire();
  }

  /** Whether the local server is on (the window's runs then wait their turn behind it). */
  get serving() {
    return this.status?.serving === true;
  }

  /** Fills the fields from the saved settings, then asks the backend what runs. */
  async init(settings) {
    if (settings?.backend) this.backend = settings.backend;
    this.choice = this.backend.kind;
    if (this.backend.kind === "remote") {
      this.$("remote-url").value = this.backend.url ?? "";
      this.$("remote-model").value = this.backend.model ?? "";
    }
    await this.refresh();
  }

  async refresh() {
    try {
      this.status = await this.api.serveStatus();
    } catch (raw) {
      this.showError(raw);
    }
    this.render();
  }

  wire() {
    const $ = this.$;
    $("serve-switch").addEventListener("change", () => this.toggle($("serve-switch").checked));
    $("serve-form").addEventListener("submit", (event) => event.preventDefault());
    this.keyForm("server", "serve-key-form", "serve-key", "serve-key-clear");
    this.keyForm("remote", "remote-key-form", "remote-key", "remote-key-clear");
    for (const radio of this.doc.querySelectorAll('input[name="backend"]')) {
      radio.addEventListener("change", () => {
        if (!radio.checked) return;
        this.choice = radio.value;
        if (radio.value === "local") this.useBackend({ kind: "local" });
        else this.renderBackend();
      });
    }
    $("remote-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const url = $("remote-url").value.trim();
      if (url === "") {
        this.showMessage((lang) => ({ title: t(lang, "remote_url_required") }));
        $("remote-url").setAttribute("aria-invalid", "true");
        return;
      }
      $("remote-url").removeAttribute("aria-invalid");
      const model = $("remote-model").value.trim();
      this.useBackend({ kind: "remote", url, model: model === "" ? null : model });
    });
  }

  keyForm(which, formId, inputId, clearId) {
    const $ = this.$;
    $(formId).addEventListener("submit", async (event) => {
      event.preventDefault();
      const key = $(inputId).value;
      if (key.trim() === "") return;
      await this.run(() => this.api.setApiKey(which, key));
      // The key leaves the page once stored.
      $(inputId).value = "";
    });
    $(clearId).addEventListener("click", () => this.run(() => this.api.clearApiKey(which)));
  }

  /** Runs a command that answers with the panel's state; shows its error, if any. */
  async run(command) {
    this.clearError();
    try {
      this.status = await command();
    } catch (raw) {
      this.showError(raw);
      try {
        this.status = await this.api.serveStatus();
      } catch {
        // Keep the last known state.
      }
    }
    this.render();
  }

  async toggle(on) {
    if (!on) return this.run(() => this.api.stopServing());
    // An address and port typed in full width ("１２７．０．０．１", "８０８０") are read, and
    // shown, in ASCII.
    for (const id of ["serve-host", "serve-port"]) {
      const text = normalizeNumberText(this.$(id).value);
      if (this.$(id).value !== text) this.$(id).value = text;
    }
    const host = this.$("serve-host").value;
    const text = this.$("serve-port").value;
    const port = /^\d+$/.test(text) ? Number(text) : NaN;
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      this.showMessage((lang) => describeMessage(lang, "error.invalid_setting", { field: t(lang, "serve_port_label") }));
      this.$("serve-port").setAttribute("aria-invalid", "true");
      this.render();
      return;
    }
    this.$("serve-port").removeAttribute("aria-invalid");
    return this.run(() => this.api.startServing(host, port));
  }

  async useBackend(backend) {
    this.clearError();
    try {
      const settings = await this.api.saveSettings({ backend });
      this.backend = settings.backend;
      if (this.backend.kind === "remote") {
        // The backend's normalised form (`…/v1`).
        this.$("remote-url").value = this.backend.url;
      }
      this.onBackend(this.backend);
      this.choice = this.backend.kind;
    } catch (raw) {
      this.showError(raw);
      // A refused server keeps its form open to be corrected; a refused switch back to this
      // computer leaves the radio on what still runs.
      if (backend.kind === "local") this.choice = this.backend.kind;
    }
    this.renderBackend();
  }

  render() {
    const lang = this.lang();
    const $ = this.$;
    const s = this.status;
    const serving = this.serving;
    $("serve-switch").checked = serving;
    $("serve-host").disabled = serving;
    $("serve-port").disabled = serving;
    if (s && !serving) {
      // Typing is kept; otherwise the remembered address is shown.
      if ($("serve-host").value === "") $("serve-host").value = s.host;
      if ($("serve-port").value === "") $("serve-port").value = String(s.port);
    }
    // Live counts while serving; no polling otherwise.
    if (serving && !this.timer) this.timer = setInterval(() => this.refresh(), REFRESH_MS);
    if (!serving && this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    }
    const said = describeServing(lang, s);
    $("serve-note").textContent = said.note;
    const state = $("serve-state");
    if (serving) {
      const code = this.doc.createElement("code");
      code.id = "serve-url";
      code.textContent = said.parts[1];
      const counts = this.doc.createElement("span");
      counts.className = "hint";
      counts.textContent = ` ${said.counts}`;
      state.replaceChildren(said.parts[0], code, said.parts[2], counts);
    } else {
      state.replaceChildren(said.parts[0]);
    }
    if (s?.error && !serving) {
      const error = s.error;
      this.showMessage((l) => ({ title: `${t(l, "serve_resume_failed")} ${describeError(l, error).title}` }));
    } else if (this.message) {
      // The error shown stays, in the language now chosen.
      this.paintMessage();
    }
    const keys = s?.keys ?? { server: false, remote: false };
    $("serve-key-state").textContent = t(lang, keys.server ? "key_set" : "key_unset");
    $("remote-key-state").textContent = t(lang, keys.remote ? "key_set" : "key_unset");
    this.renderBackend();
  }

  /** The radio and the server's form as the user chose them; the note says what runs now. */
  renderBackend() {
    const lang = this.lang();
    const kind = this.choice;
    for (const radio of this.doc.querySelectorAll('input[name="backend"]')) radio.checked = radio.value === kind;
    this.$("remote-form").hidden = kind !== "remote";
    this.$("remote-key-form").hidden = kind !== "remote";
    const remote = this.backend.kind === "remote";
    this.$("backend-note").textContent = remote
      ? t(lang, "backend_note_remote", { url: this.backend.url })
      : t(lang, "backend_note_local");
  }

  showError(raw) {
    this.showMessage((lang) => describeError(lang, raw));
  }

  /**
   * Shows `describe(lang)`'s `{ title, detail? }` as the panel's error. The function is kept:
   * a re-render in another language says it again in that one.
   */
  showMessage(describe) {
    this.message = describe;
    this.paintMessage();
    this.$("serve-error").hidden = false;
  }

  paintMessage() {
    const { title, detail = "" } = this.message(this.lang());
    this.$("serve-error-title").textContent = title;
    this.$("serve-error-detail").textContent = detail;
  }

  clearError() {
    this.message = null;
    this.$("serve-error").hidden = true;
  }
}
