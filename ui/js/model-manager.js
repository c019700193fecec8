// The model manager: catalog models with size, gating, fit on this machine, download state and
// actions (download, pause, resume, cancel, delete, use), live download progress, and the
// Hugging Face token (masked; the backend keeps it, the page only learns the account name).
// DOM is built with textContent only.

import { t } from "./i18n.js";
import { element, replaceRows, rowButton } from "./dom.js";
import { restoreFocus } from "./focus.js";
import { fitView, formatBytes, precisionLabel, splitText } from "./hardware-view.js";

/** "12.3 MB/s". */
export function formatSpeed(bytesPerSec) {
  if (!Number.isFinite(bytesPerSec) || bytesPerSec <= 0) return "—";
  return `${formatBytes(bytesPerSec)}/s`;
}

/** "1:05" / "1:02:03" for seconds left; "—" when unknown. */
export function formatEta(secs) {
  if (secs === null || secs === undefined || !Number.isFinite(secs) || secs < 0) return "—";
  const s = Math.round(secs);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${r}` : `${m}:${r}`;
}

/**
 * Folds one `DownloadEvent` (crates/jslm-hub/src/progress.rs) into the progress shown for a
 * download. Pure. `note` (`{ key, params }`) is the latest thing worth saying in words: a
 * retry, a damaged file fetched again (the bar goes back), a wait for another program's
 * download of the same file (the bar stands still meanwhile).
 */
export function reduceProgress(progress, message) {
  const p = { ...progress };
  const d = message.data ?? {};
  switch (message.event) {
    case "Resolved":
      p.total = d.total_bytes;
      p.done = d.present_bytes;
      p.note = null;
      break;
    case "LockWaited":
      p.note = { key: "dl_lock_waited", params: { file: d.file } };
      break;
    case "FileStarted":
      p.file = d.file;
      p.fileDone = d.resumed_from;
      p.fileTotal = d.size;
      endWait(p, d.file);
      break;
    case "Progressed":
      p.file = d.file;
      p.fileDone = d.file_done;
      p.fileTotal = d.file_total;
      p.done = d.done;
      p.total = d.total;
      p.speed = d.bytes_per_sec;
      p.eta = d.eta_secs;
      break;
    case "Retried":
      p.note = { key: "dl_retried", params: { attempt: d.attempt } };
      break;
    case "Restarted":
      p.note = { key: "dl_restarted", params: {} };
      break;
    case "Verified":
      p.note = { key: "dl_verified", params: { file: d.file } };
      break;
    case "VerificationFailed":
      // The hub deleted the file and took its bytes off the total done, as shown here.
      if (p.file === d.file) {
        p.done = Math.max(0, (p.done ?? 0) - (p.fileDone ?? 0));
        p.fileDone = 0;
      }
      p.note = {
        key: d.will_retry ? "dl_verification_failed" : "dl_verification_failed_final",
        params: { file: d.file },
      };
      break;
    case "Skipped":
      p.note = { key: "dl_skipped", params: { file: d.file } };
      break;
    case "FileFinished":
      if (p.file === d.file && p.fileTotal > 0) p.fileDone = p.fileTotal;
      endWait(p, d.file);
      break;
    case "UsedCache":
      p.note = { key: "dl_used_cache", params: {} };
      break;
    case "Finished":
      p.done = p.total;
      p.finished = true;
      break;
    default:
      break;
  }
  return p;
}

/** The wait for another program's download of `file` is over: its note no longer holds. */
function endWait(p, file) {
  if (p.note?.key === "dl_lock_waited" && p.note.params.file === file) p.note = null;
}

const GATED_CODES = new Set(["gated_no_token", "gated_not_accepted", "token_invalid", "forbidden"]);

export class ModelManager {
  /**
   * @param {HTMLElement} root
   * @param {object} deps `{ api, lang(), describeError(lang, raw), onUse(summary), busy() }`;
   *   `busy()` is the error code of what keeps a model from being used now ("model_loading",
   *   "busy" while one generates), or null
   */
  constructor(root, deps) {
    this.root = root;
    this.deps = deps;
    this.rows = [];
    this.busy = false;
    this.listError = null;
    this.tokenSet = false;
    /** `(lang) => text` of the token's state, or null before it is known. */
    this.tokenMessage = null;
    this.progress = new Map(); // id → progress
    this.errors = new Map(); // id → raw error
    this.list = root.querySelector("#model-list");
    this.tokenText = root.querySelector("#token-state");
    this.tokenInput = root.querySelector("#token-input");
    root.querySelector("#token-form").addEventListener("submit", (e) => {
      e.preventDefault();
      this.saveToken();
    });
    root.querySelector("#token-clear").addEventListener("click", () => this.clearToken());
  }

  lang() {
    return this.deps.lang();
  }

  async refresh() {
    try {
      this.rows = await this.deps.api.listModels();
      this.listError = null;
    } catch (raw) {
      this.rows = [];
      this.listError = raw;
    }
    this.render();
    if (!this.listError) await this.refreshToken();
  }

  async refreshToken() {
    try {
      this.showToken(await this.deps.api.tokenStatus());
    } catch (raw) {
      this.showTokenError(raw);
    }
  }

  /** Says everything again in the language now chosen, from what is known (no request). */
  retranslate() {
    this.render();
    this.paintToken();
  }

  /**
   * Where a user without a loaded model starts: the token field while a gated model still has
   * to be downloaded and no token is stored; else the first row's main action (use, resume,
   * download).
   */
  firstStep() {
    const needsToken = !this.tokenSet && this.rows.some((r) => r.gated && r.status.state !== "ready");
    if (needsToken) return this.tokenInput;
    return this.list.querySelector('button[data-action="use"]')
      ?? this.list.querySelector("button.primary")
      ?? this.tokenInput;
  }

  showToken(status) {
    this.tokenSet = Boolean(status.set);
    this.setTokenText((lang) => {
      if (!status.set) return t(lang, "token_none");
      if (status.account) return t(lang, "token_set_account", { account: status.account });
      return t(lang, "token_set", { source: t(lang, `token_source_${status.source}`) });
    });
  }

  showTokenError(raw) {
    this.setTokenText((lang) => this.deps.describeError(lang, raw).title);
  }

  /** Shows `describe(lang)` as the token's state; kept to be said again in another language. */
  setTokenText(describe) {
    this.tokenMessage = describe;
    this.paintToken();
  }

  paintToken() {
    if (this.tokenMessage) this.tokenText.textContent = this.tokenMessage(this.lang());
  }

  async saveToken() {
    const secret = this.tokenInput.value;
    if (!secret.trim()) return;
    this.setTokenText((lang) => t(lang, "token_checking"));
    try {
      const status = await this.deps.api.setToken(secret);
      // The page never keeps the token: the field is emptied once the backend has it.
      this.tokenInput.value = "";
      this.showToken(status);
    } catch (raw) {
      this.tokenInput.value = "";
      this.showTokenError(raw);
      return;
    }
    // A row's "needs a token" or "token refused" was about the token replaced now: it no
    // longer holds (the next download says whether the new one is enough).
    let cleared = false;
    for (const [id, raw] of this.errors) {
      if (GATED_CODES.has(raw?.code)) cleared = this.errors.delete(id);
    }
    if (cleared) this.render();
  }

  async clearToken() {
    try {
      this.showToken(await this.deps.api.clearToken());
    } catch (raw) {
      this.showTokenError(raw);
    }
  }

  render() {
    if (this.listError) {
      this.list.textContent = this.deps.describeError(this.lang(), this.listError).title;
      return;
    }
    replaceRows(this.list, this.rows.map((row) => this.renderRow(row)));
  }

  /**
   * While a model loads or generates, "use this model" is unavailable (one model at a time),
   * as the history's regenerate is.
   */
  setBusy(busy) {
    this.busy = busy;
    for (const b of this.list.querySelectorAll("button[data-action=use]")) b.disabled = busy;
  }

  renderRow(row) {
    const lang = this.lang();
    const doc = this.list.ownerDocument;
    const el = (tag, cls, text) => element(doc, tag, cls, text);
    const li = el("li", "model-row");
    li.dataset.id = row.id;
    li.dataset.key = row.id;
    li.dataset.state = row.status.state;

    const head = el("div", "model-row-head");
    head.append(el("span", "model-name", row.name));
    head.append(el("span", "tag", row.gated ? t(lang, "model_gated") : t(lang, "model_open")));
    if (row.active) head.append(el("span", "tag active", t(lang, "model_active")));
    li.append(head);

    const meta = el("p", "model-meta", t(lang, "model_meta", {
      repo: row.repo,
      size: formatBytes(row.approx_size_bytes),
      license: row.license,
    }));
    li.append(meta);

    li.append(fitView(doc, lang, row.fit, t(lang, "model_fit_numbers", {
      precision: precisionLabel(row.fit.precision),
      needed: formatBytes(row.fit.needed_bytes),
      available: formatBytes(row.fit.available_bytes),
    })));
    const split = splitText(lang, row.fit.split);
    if (split) li.append(el("p", "model-split", split));

    const status = el("p", "model-status", this.statusText(row));
    status.dataset.role = "status";
    li.append(status);

    const progress = this.progress.get(row.id);
    if (row.status.state === "downloading" || (progress && !progress.finished && this.progress.has(row.id) && progress.active)) {
      li.append(this.renderProgress(row.id));
    }

    const actions = el("div", "model-actions");
    const button = (action, label, primary = false) => {
      const b = el("button", primary ? "small primary" : "small", label);
      b.type = "button";
      b.dataset.action = action;
      b.addEventListener("click", () => this.act(row, action, b));
      actions.append(b);
      return b;
    };
    const state = row.status.state;
    if (state === "downloading") {
      button("pause", t(lang, "dl_pause"));
      button("cancel", t(lang, "dl_cancel"));
    } else {
      if (state === "not_downloaded") button("download", t(lang, "dl_download"), true);
      if (state === "partial") button("download", t(lang, "dl_resume"), true);
      if (state === "ready" && !row.active) button("use", t(lang, "dl_use"), true).disabled = this.busy;
      if (state === "partial" || state === "ready") button("delete", t(lang, "dl_delete"));
    }
    li.append(actions);

    const error = this.errors.get(row.id);
    if (error) li.append(this.renderError(row, error));
    return li;
  }

  statusText(row) {
    const lang = this.lang();
    const s = row.status;
    switch (s.state) {
      case "not_downloaded":
        return t(lang, "dl_state_none");
      case "partial":
        return t(lang, "dl_state_partial", { percent: Math.floor(s.percent), size: formatBytes(row.disk_bytes) });
      case "downloading":
        return t(lang, "dl_state_downloading");
      case "ready":
        return t(lang, s.verified ? "dl_state_ready_verified" : "dl_state_ready", { size: formatBytes(row.disk_bytes) });
      default:
        return s.state;
    }
  }

  renderProgress(id) {
    const doc = this.list.ownerDocument;
    const box = doc.createElement("div");
    box.className = "download-progress";
    box.dataset.role = "progress";
    const overall = doc.createElement("progress");
    overall.dataset.role = "overall";
    const overallText = doc.createElement("span");
    overallText.dataset.role = "overall-text";
    const file = doc.createElement("progress");
    file.dataset.role = "file";
    const fileText = doc.createElement("span");
    fileText.dataset.role = "file-text";
    const note = doc.createElement("span");
    note.dataset.role = "note";
    note.className = "hint";
    // Rare news (a retry, a damaged file, a wait on another program) is read out; the
    // figures changing ten times a second are not.
    note.setAttribute("role", "status");
    const row1 = doc.createElement("div");
    row1.append(overall, overallText);
    const row2 = doc.createElement("div");
    row2.append(file, fileText);
    box.append(row1, row2, note);
    this.paintProgress(box, this.progress.get(id) ?? {});
    return box;
  }

  paintProgress(box, p) {
    const lang = this.lang();
    const q = (role) => box.querySelector(`[data-role="${role}"]`);
    const set = (bar, done, total) => {
      if (total > 0) {
        bar.max = total;
        bar.value = Math.min(done ?? 0, total);
      } else {
        bar.removeAttribute("value");
      }
    };
    set(q("overall"), p.done, p.total);
    const percent = p.total > 0 ? Math.floor(((p.done ?? 0) / p.total) * 100) : 0;
    q("overall-text").textContent = t(lang, "dl_overall", {
      percent,
      done: formatBytes(p.done ?? 0),
      total: formatBytes(p.total ?? 0),
      speed: formatSpeed(p.speed),
      eta: formatEta(p.eta),
    });
    q("overall").setAttribute("aria-label", t(lang, "dl_overall_label"));
    set(q("file"), p.fileDone, p.fileTotal);
    q("file").setAttribute("aria-label", t(lang, "dl_file_label"));
    q("file-text").textContent = p.file
      ? t(lang, "dl_file", { file: p.file, done: formatBytes(p.fileDone ?? 0), total: formatBytes(p.fileTotal ?? 0) })
      : "";
    const note = p.note ? t(lang, p.note.key, p.note.params) : "";
    // Written only when it changes: a live region rewritten each frame is read again each time.
    if (q("note").textContent !== note) q("note").textContent = note;
  }

  renderError(row, raw) {
    const lang = this.lang();
    const doc = this.list.ownerDocument;
    const box = doc.createElement("div");
    box.className = "error";
    box.setAttribute("role", "alert");
    const { title, detail } = this.deps.describeError(lang, raw);
    const p = doc.createElement("p");
    p.textContent = title;
    box.append(p);
    if (detail) {
      const d = doc.createElement("p");
      d.className = "detail";
      d.textContent = detail;
      box.append(d);
    }
    if (GATED_CODES.has(raw?.code)) {
      const open = doc.createElement("button");
      open.type = "button";
      open.className = "small";
      open.dataset.action = "open-page";
      open.textContent = t(lang, "dl_open_page");
      open.addEventListener("click", () => this.deps.api.openModelPage(row.id).catch(() => {}));
      box.append(open);
    }
    return box;
  }

  rowElement(id) {
    return [...this.list.children].find((li) => li.dataset.id === id) ?? null;
  }

  async act(row, action, button) {
    this.errors.delete(row.id);
    switch (action) {
      case "download":
        return this.download(row);
      case "pause":
        return this.deps.api.pauseDownload(row.id).catch((raw) => this.fail(row, raw));
      case "cancel":
        return this.deps.api.cancelDownload(row.id).catch((raw) => this.fail(row, raw));
      case "delete":
        // Two steps, as in the history: the first press arms.
        if (button.dataset.armed !== "true") {
          button.dataset.armed = "true";
          button.textContent = t(this.lang(), "dl_delete_confirm");
          return undefined;
        }
        try {
          await this.deps.api.deleteModel(row.id);
        } catch (raw) {
          this.fail(row, raw);
        }
        return this.refresh();
      case "use": {
        // The button is disabled meanwhile; a click that got in first is told why.
        const busy = this.deps.busy();
        if (busy) return this.fail(row, { code: busy, message: "" });
        try {
          await this.deps.onUse(row);
        } catch (raw) {
          this.fail(row, raw);
        }
        await this.refresh();
        // The row lost its Use button (the model is in use now) or the load failed: focus
        // stays in the row, unless the load moved it on (to 指示).
        restoreFocus(this.list.ownerDocument, button, rowButton(this.rowElement(row.id), "use"));
        return undefined;
      }
      default:
        return undefined;
    }
  }

  async download(row) {
    this.progress.set(row.id, { active: true, done: 0, total: row.approx_size_bytes });
    row.status = { state: "downloading" };
    this.render();
    let frame = false;
    const onEvent = (message) => {
      this.progress.set(row.id, { ...reduceProgress(this.progress.get(row.id) ?? {}, message), active: true });
      // At most one repaint per frame (progress arrives up to 10 times a second).
      if (frame) return;
      frame = true;
      requestAnimationFrame(() => {
        frame = false;
        const box = this.rowElement(row.id)?.querySelector('[data-role="progress"]');
        if (box) this.paintProgress(box, this.progress.get(row.id));
      });
    };
    try {
      await this.deps.api.startDownload(row.id, null, onEvent);
    } catch (raw) {
      // A pause or cancel ends the call with `download_cancelled`: not an error to show.
      if (raw?.code !== "download_cancelled") this.errors.set(row.id, raw);
    }
    this.progress.delete(row.id);
    await this.refresh();
  }

  fail(row, raw) {
    this.errors.set(row.id, raw);
    this.render();
  }
}
