// Wires the page to the backend: language, model loading, the form, streaming, history, and
// the run-on / serve panel (serve-panel.js).

import { api } from "./api.js";
import { applyTranslations, t } from "./i18n.js";
import { describeError, describeMessage } from "./errors.js";
import { isGenerateShortcut, isStopShortcut } from "./keys.js";
import { StreamView } from "./stream-view.js";
import { SettingsForm } from "./settings-form.js";
import { HistoryView, formatTime } from "./history-view.js";
import { formatBytes, precisionLabel, reasonText, renderHardware } from "./hardware-view.js";
import { loadText } from "./load-progress.js";
import { ModelManager } from "./model-manager.js";
import { ModelChooser } from "./model-chooser.js";
import { FoundModels } from "./found-models.js";
import { ServePanel } from "./serve-panel.js";
import { PromptPrefill } from "./prompt-prefill.js";
import { restoreFocus } from "./focus.js";
import { selectValue } from "./dom.js";

const $ = (id) => document.getElementById(id);

const state = {
  lang: "ja",
  generating: false,
  loading: false,
  model: null,
  saveTimer: null,
  about: null,
  /** The last load's error (shown under the model), or null. */
  modelError: null,
  /** The load's latest progress event, or null: its words follow the language. */
  loadEvent: null,
  /** `(lang) => text` of the note beside the output's heading, or null. */
  outputNote: null,
};

/** The stream view the generation channel feeds; exported so tests can drive the real one. */
export const view = new StreamView($("output"), { onStats: showStats });

const settingsForm = new SettingsForm($("settings-fields"), { onChange: scheduleSettingsSave });

const manager = new ModelManager($("model-manager"), {
  api,
  lang: () => state.lang,
  describeError,
  busy: () => (state.loading ? "model_loading" : state.generating ? "busy" : null),
  // "Use this model": load it like a path, with the same progress and errors.
  onUse: (row) => {
    state.loadingPath = row.name;
    return loadWith((force) => api.useModel(row.id, force, onLoadEvent));
  },
});

// The file picker, drops on the window and copies found on disk all end in the path field with
// the file's plan shown; the Load button loads it.
const chooser = new ModelChooser(document, {
  api,
  lang: () => state.lang,
  describeError,
  busy: () => state.loading || state.generating,
  onPathChanged: () => {
    if ($("hardware").open) refreshHardware();
  },
});

const found = new FoundModels(document, {
  api,
  lang: () => state.lang,
  describeError,
  onChoose: (path) => chooser.choose(path),
});

const servePanel = new ServePanel(document, api, { lang: () => state.lang });

const history = new HistoryView($("history-list"), $("history-empty"), {
  open: (id) => openHistory(id),
  regenerate: (id) => regenerate(id),
  remove: (id) => removeHistory(id),
}, $("history-heading"));

// ---- language -------------------------------------------------------------------------

function setLanguage(lang) {
  state.lang = lang;
  applyTranslations(document.body, lang);
  // The toggle names the *other* language, in that language.
  $("lang-toggle").setAttribute("lang", lang === "ja" ? "en" : "ja");
  showModel();
  showStats(view.stats);
  showPresetName();
  showSettingsHint();
  showAbout();
  retranslateFormError();
  // Every text the page wrote itself is written again, from what it was about: a load's
  // step and error, the output's note, the token's and the found copies' state.
  paintModelError();
  showLoadText();
  showOutputNote();
  servePanel.render();
  refreshHistory();
  manager.retranslate();
  found.retranslate();
  if ($("hardware").open) refreshHardware();
  chooser.retranslate();
}

/** The catalog and the copies found on this computer. */
function refreshManager() {
  return Promise.all([manager.refresh(), found.refresh()]);
}

/** "Version 0.1.0 (commit abc…)": the same pair as `jslm --version`. */
function showAbout() {
  const a = state.about;
  $("about").textContent = a ? t(state.lang, "about", { version: a.version, commit: a.commit }) : "";
}

/**
 * Focus goes to the first thing to do — 指示 when a model is loaded or loading; otherwise the
 * token field or the model list — without scrolling the header and the model panel away.
 */
async function focusFirstStep() {
  let target = $("instruction");
  if (!state.model && !state.loading) {
    $("model-manager").open = true;
    await refreshManager();
    // A copy already on disk is the quickest way in: no download.
    target = found.firstStep() ?? manager.firstStep();
  }
  target.focus({ preventScroll: true });
  window.scrollTo(0, 0);
}

/** The card's defaults, as the backend's schema has them. */
function showSettingsHint() {
  const d = settingsForm.defaults;
  $("settings-hint").textContent = d
    ? t(state.lang, "settings_hint", {
        max_new_tokens: d.max_new_tokens,
        temperature: d.temperature.toFixed(1),
        top_p: d.top_p,
        top_k: d.top_k,
      })
    : "";
}

$("lang-toggle").addEventListener("click", () => {
  const next = state.lang === "ja" ? "en" : "ja";
  setLanguage(next);
  api.saveSettings({ language: next }).catch(showFormError);
});

// ---- announcements (start and finish only) -------------------------------------------------

function announce(text) {
  const el = $("announcer");
  // Re-setting the same text would not be read again.
  el.textContent = "";
  requestAnimationFrame(() => {
    el.textContent = text;
  });
}

// ---- errors ---------------------------------------------------------------------------------

function showFormError(raw) {
  showFormText((lang) => describeError(lang, raw), describeError(state.lang, raw).field);
}

/** A message of the page's own: `key` with `params`, naming the settings `field` it is about. */
function showFormMessage(key, params = {}, field = null) {
  showFormText((lang) => describeMessage(lang, key, params, field), field);
}

/**
 * Shows `describe(lang)`'s `{ title, detail }` in the form's error box and marks `field`. The
 * function is kept: a language switch describes the error again (retranslateFormError).
 */
function showFormText(describe, field = null) {
  state.formError = describe;
  paintFormError();
  $("form-error").hidden = false;
  markField(field);
}

function paintFormError() {
  const { title, detail } = state.formError(state.lang);
  $("form-error-title").textContent = title;
  $("form-error-detail").textContent = detail;
}

/**
 * Marks and focuses the field an error names, then scrolls the error itself into view: it sits
 * below the Generate button, and focusing a setting alone left the reason off screen.
 */
function markField(field) {
  if (field === "instruction") markInstructionInvalid();
  else if (field) settingsForm.markInvalid(field);
  $("form-error").scrollIntoView({ block: "nearest" });
}

/** Shows the current error again in the current language. */
function retranslateFormError() {
  if (state.formError && !$("form-error").hidden) paintFormError();
}

function clearFormError() {
  state.formError = null;
  $("form-error").hidden = true;
  $("instruction").removeAttribute("aria-invalid");
  settingsForm.clearInvalid();
}

function markInstructionInvalid() {
  $("instruction").setAttribute("aria-invalid", "true");
  $("instruction").focus();
}

// ---- model -----------------------------------------------------------------------------------

function showModel() {
  const pill = $("model-pill");
  const stateText = $("model-state");
  if (state.loading) {
    pill.dataset.state = "loading";
    pill.textContent = t(state.lang, "model_pill_loading");
    stateText.textContent = t(state.lang, "model_loading", { path: state.loadingPath ?? "" });
  } else if (state.model) {
    const m = state.model;
    // A loaded model needs no form in the way; it stays one click away.
    if (!state.modelFormTouched) $("model-change").open = false;
    pill.dataset.state = "ready";
    pill.textContent = t(state.lang, "model_pill_ready", { name: m.name });
    stateText.textContent = runText(state.lang, m);
  } else {
    $("model-change").open = true;
    // No model yet: the catalog is the easiest way to get one.
    if (!state.managerShown) {
      state.managerShown = true;
      $("model-manager").open = true;
    }
    pill.dataset.state = "empty";
    pill.textContent = t(state.lang, "model_pill_none");
    stateText.textContent = t(state.lang, "model_none");
  }
  updateControls();
}

/** What runs, from the model summary's run report (older history entries have none). */
function runText(lang, m) {
  const run = m.run;
  if (!run) return t(lang, "model_ready_unknown", { name: m.name });
  const precision = precisionLabel(run.precision);
  const ready = t(lang, "model_ready", {
    name: m.name,
    precision: run.converted_from
      ? t(lang, "model_converted", { precision, from: precisionLabel(run.converted_from) })
      : precision,
    device: run.gpu_layers
      ? t(lang, "model_device_split", { device: run.device_name || run.device.kind, gpu: run.gpu_layers, total: run.num_layers })
      : `${run.device_name || run.device.kind}`,
    threads: run.threads,
    reason: reasonText(lang, run.reason),
  });
  const vram = run.vram
    ? ` ${t(lang, "model_vram", { used: formatBytes(run.vram.used_bytes), total: formatBytes(run.vram.total_bytes) })}`
    : "";
  // A planned GPU that did not start: say so, with its own words.
  const f = run.fallback;
  return f ? `${ready} ${t(lang, "model_fallback", { gpu: f.device_name, message: f.message })}` : ready + vram;
}

function onLoadEvent(message) {
  const bar = $("load-bar");
  const d = message.data ?? {};
  switch (message.event) {
    case "quantizing":
      bar.max = Math.max(1, d.bytes_total);
      bar.value = d.bytes_done;
      break;
    case "started":
    case "hashing":
    case "loading_weights":
      bar.removeAttribute("value");
      break;
    default:
      break;
  }
  if (loadText(state.lang, message) === null) return;
  state.loadEvent = message;
  showLoadText();
}

/** The load's latest step in words, in the current language. */
function showLoadText() {
  if (state.loadEvent) $("load-text").textContent = loadText(state.lang, state.loadEvent);
}

function loadModel(path, force = false) {
  state.loadingPath = path ?? $("model-path").value;
  return loadWith((f) => api.loadModel(path, f, onLoadEvent), { force });
}

/** Runs a load (`load(force)` → model summary) with the progress, errors and "load anyway". */
async function loadWith(load, { force = false } = {}) {
  if (state.loading || state.generating) return;
  state.loading = true;
  state.lastLoad = load;
  // What the path field held as the load began: a model chosen meanwhile must survive it.
  const chosen = $("model-path").value;
  showModelError(null);
  $("load-progress").hidden = false;
  showModel();
  let loaded = false;
  try {
    state.model = await load(force);
    loaded = true;
    // The field shows the model now loaded, and its candidate has done its job; unless the
    // user picked, dropped or typed another model during the load: that one stays, with its
    // plan, for the next Load.
    if ($("model-path").value === chosen) {
      $("model-path").value = state.model.path;
      chooser.clear();
    }
    // A prompt already written goes into the new model's cache.
    prefill.changed();
  } catch (raw) {
    // A load refused before it began (a wrong path, a damaged file) keeps the model that was
    // loaded; one that failed midway has let it go. The backend knows which.
    state.model = await api.modelStatus().then(
      (status) => (status.state === "ready" ? status.model : null),
      () => null,
    );
    showModelError(raw);
  } finally {
    // Load, Use or "load anyway" was disabled or hidden meanwhile; the focus fell to the page.
    const focused = document.activeElement;
    state.loading = false;
    state.loadEvent = null;
    $("load-progress").hidden = true;
    showModel();
    // On to the next step, unless the user has moved the focus since: 指示 once loaded; after
    // a refusal, "load anyway" when it is offered, else the path to correct.
    const next = loaded ? $("instruction") : $("load-anyway").hidden ? $("model-path") : $("load-anyway");
    restoreFocus(document, focused, next);
    if ($("hardware").open) refreshHardware();
    if ($("model-manager").open) refreshManager();
    // Serving follows the model: off during the load, on again with the new one.
    servePanel.refresh();
  }
}

/** Shows why the last load failed (null: hides it); kept to be said again in another language. */
function showModelError(raw) {
  state.modelError = raw;
  $("model-error").hidden = raw === null;
  // Only a memory estimate can be overridden; a missing or broken file cannot.
  $("load-anyway").hidden = raw?.code !== "will_not_fit";
  paintModelError();
}

function paintModelError() {
  if (state.modelError === null) return;
  const { title, detail } = describeError(state.lang, state.modelError);
  $("model-error-text").textContent = detail ? `${title} ${detail}` : title;
}

$("load-anyway").addEventListener("click", () => {
  if (state.lastLoad) loadWith(state.lastLoad, { force: true });
});

$("model-manager").addEventListener("toggle", () => {
  if ($("model-manager").open) refreshManager();
});

// ---- hardware -------------------------------------------------------------------------------

let hardwareAsked = 0;

async function refreshHardware() {
  const path = $("model-path").value.trim() || null;
  const ticket = ++hardwareAsked;
  let report = null;
  let failure = null;
  try {
    report = await api.hardwareReport(path);
  } catch (raw) {
    failure = raw;
  }
  // A newer report (another path, a saved precision, the load's end) wins over a slow older
  // one, as a newer choice does in ModelChooser.choose.
  if (ticket !== hardwareAsked) return;
  if (report) renderHardware($("hardware-body"), state.lang, report, describeError);
  else $("hardware-body").textContent = describeError(state.lang, failure).title;
}

$("hardware").addEventListener("toggle", () => {
  if ($("hardware").open) refreshHardware();
});
$("hardware-refresh").addEventListener("click", refreshHardware);

$("model-change").addEventListener("toggle", () => {
  if ($("model-change").open && state.model) state.modelFormTouched = true;
});

$("model-form").addEventListener("submit", (event) => {
  event.preventDefault();
  loadModel($("model-path").value);
});

for (const [id, setting] of [["precision", "precision"], ["gpu-layers", "gpu_layers"]]) {
  $(id).addEventListener("change", async () => {
    // The plan is read from the saved settings: refresh only once they are saved.
    try {
      await api.saveSettings({ [setting]: $(id).value });
    } catch (error) {
      showFormError(error);
      return;
    }
    if ($("hardware").open) refreshHardware();
    if ($("model-manager").open) refreshManager();
  });
}

/**
 * The saved GPU-block setting in its select; a number the list lacks (set by hand) is added.
 * The select is shown where it means something: on a machine with an NVIDIA GPU, or when a
 * number was saved (so it can be set back to 自動).
 */
function showGpuLayers(value) {
  const text = String(value ?? "auto");
  selectValue($("gpu-layers"), text);
  if (text !== "auto") $("gpu-layers-field").hidden = false;
  revealGpuLayers();
}

/** The saved precision in its select; one the list lacks (Q6_K, set in the settings file) is added. */
function showPrecision(value) {
  const name = String(value ?? "auto");
  selectValue($("precision"), name, precisionLabel(name));
}

let gpuAsked = false;

/**
 * Asks the backend once whether there is an NVIDIA GPU, when the form holding the select is
 * first open (not at every start: it detects the hardware and plans the configured model).
 */
function revealGpuLayers() {
  if (gpuAsked || !$("model-change").open) return;
  gpuAsked = true;
  api.hardwareReport(null).then(
    (report) => {
      if (report.profile.nvidia_gpus.length > 0) $("gpu-layers-field").hidden = false;
    },
    () => {
      gpuAsked = false;
    },
  );
}
$("model-change").addEventListener("toggle", revealGpuLayers);

// ---- generation ---------------------------------------------------------------------------

function updateControls() {
  const busy = state.generating || state.loading;
  $("generate-button").disabled = busy;
  $("stop-button").disabled = !state.generating;
  $("load-button").disabled = busy;
  // Choosing the next model is fine while one generates; not while one loads.
  $("pick-file").disabled = state.loading;
  $("pick-folder").disabled = state.loading;
  $("copy-button").disabled = state.generating || view.text() === "";
  $("output").setAttribute("aria-busy", String(state.generating));
  history.setBusy(busy);
  manager.setBusy(busy);
}

function formatNumber(value, digits) {
  const locale = state.lang === "ja" ? "ja-JP" : "en-US";
  return value.toLocaleString(locale, { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

function showStats(stats) {
  const lang = state.lang;
  $("stat-ttft").textContent = stats.ttftMs === null ? "—" : t(lang, "stat_ms", { value: formatNumber(stats.ttftMs, 0) });
  $("stat-ttft").title = stats.reusedTokens ? t(lang, "stat_reused", { value: formatNumber(stats.reusedTokens, 0) }) : "";
  $("stat-speed").textContent = stats.tokensPerS === null ? "—" : t(lang, "stat_tps", { value: formatNumber(stats.tokensPerS, 1) });
  $("stat-tokens").textContent = stats.running || stats.tokens ? formatNumber(stats.tokens, 0) : "—";
  $("stat-stop").textContent = stats.running ? t(lang, "stop_running") : stats.stopReason ? t(lang, `stop_${stats.stopReason}`) : "—";
  $("stat-seed").textContent = stats.seed === null || stats.seed === undefined ? "—" : String(stats.seed);
}

/** The request Generate would send now; null when it could not run (prefill skips it). */
function readyRequest() {
  if (!state.model || state.generating || state.loading || servePanel.backend.kind !== "local") return null;
  const instruction = $("instruction").value;
  const read = settingsForm.read();
  if (instruction.trim() === "" || read.error) return null;
  return { instruction, input: $("input").value, settings: read.settings };
}

// The prompt goes into the model's cache as it is written: Generate then starts at once.
const prefill = new PromptPrefill({ request: readyRequest, send: (request) => api.prefillPrompt(request) });
for (const id of ["instruction", "input"]) {
  $(id).addEventListener("input", (event) => prefill.changed(event));
  $(id).addEventListener("compositionend", (event) => prefill.changed(event));
}

/** Generates from the form. One at a time: the button is disabled and this returns early. */
async function generate() {
  if (state.generating || state.loading) return;
  prefill.cancel();
  clearFormError();
  const instruction = $("instruction").value;
  if (instruction.trim() === "") {
    showFormMessage("error.instruction_empty", {}, "instruction");
    return;
  }
  settingsForm.normalizeAll();
  const read = settingsForm.read();
  if (read.error) {
    showFormMessage(read.error.key, {}, read.error.field);
    return;
  }
  const request = { instruction, input: $("input").value, settings: read.settings };
  state.generating = true;
  // The answer on screen, its note and Copy stay until the backend accepts the request: a
  // refused one (a setting out of range, too long, a model loading, busy) leaves them.
  const shownNote = state.outputNote;
  let started = false;
  view.request(performance.now());
  let focused = document.activeElement;
  updateControls();
  // The button that started the run (Generate, regenerate) is disabled now: Stop takes the
  // focus, so Space or Enter stops the run. A field being typed in keeps it.
  restoreFocus(document, focused, $("stop-button"));
  announce(t(state.lang, "announce_started"));
  // Behind requests the local server already accepted, the run waits its turn.
  if (servePanel.serving && servePanel.backend.kind === "local") setOutputNote((lang) => t(lang, "queued_note"));
  try {
    const result = await api.generate(request, (message) => {
      if (message?.event === "started") {
        started = true;
        setOutputNote(null);
        // The answer is where the eyes should go, once the backend has accepted the request:
        // scrolling before it answered took the page away from a refused setting's error
        // (and a click during that smooth scroll could land on the wrong control).
        $("output").scrollIntoView({ block: "nearest", behavior: "smooth" });
      }
      view.handle(message);
    });
    if (result.save_error) {
      showFormText((lang) => describeMessage(lang, "history_save_failed", { detail: describeError(lang, result.save_error).title }));
    }
    announce(
      t(state.lang, "announce_finished", {
        tokens: result.entry.stats.generated_tokens,
        reason: t(state.lang, `stop_${result.entry.stop_reason}`),
      }),
    );
    await refreshHistory();
  } catch (raw) {
    view.abort();
    if (!started) setOutputNote(shownNote);
    else setOutputNote(describeError(state.lang, raw).partial ? (lang) => t(lang, "output_partial") : null);
    showFormError(raw);
    announce(t(state.lang, "announce_failed"));
  } finally {
    state.generating = false;
    focused = document.activeElement;
    updateControls();
    // Stop is disabled now (and the history list re-rendered): back to Generate, unless the
    // focus is on something the user chose meanwhile.
    restoreFocus(document, focused, $("generate-button"));
  }
}

/** Sets the note beside the output's heading: `(lang) => text`, or null for none. */
function setOutputNote(note) {
  state.outputNote = note;
  showOutputNote();
}

function showOutputNote() {
  $("output-note").textContent = state.outputNote ? state.outputNote(state.lang) : "";
}

async function stop() {
  if (!state.generating) return;
  try {
    await api.stopGeneration();
  } catch (raw) {
    showFormError(raw);
  }
}

$("generate-form").addEventListener("submit", (event) => {
  event.preventDefault();
  generate();
});
$("stop-button").addEventListener("click", stop);

document.addEventListener("keydown", (event) => {
  if (isGenerateShortcut(event)) {
    event.preventDefault();
    generate();
  } else if (isStopShortcut(event) && state.generating) {
    event.preventDefault();
    stop();
  }
});

$("instruction").addEventListener("input", () => $("instruction").removeAttribute("aria-invalid"));

// ---- copy ---------------------------------------------------------------------------------

$("copy-button").addEventListener("click", async () => {
  const text = view.text();
  let ok = false;
  try {
    await navigator.clipboard.writeText(text);
    ok = true;
  } catch {
    // WebKitGTK may refuse the async clipboard; fall back to copying a selection.
    const range = document.createRange();
    range.selectNodeContents($("output"));
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    ok = document.execCommand("copy");
  }
  $("copy-status").textContent = t(state.lang, ok ? "copied" : "copy_failed");
  setTimeout(() => {
    $("copy-status").textContent = "";
  }, 2500);
});

// ---- settings -----------------------------------------------------------------------------

function showPresetName() {
  const preset = settingsForm.preset();
  $("preset-name").textContent = `— ${t(state.lang, `preset_${preset}`)}`;
}

/** Remembers the settings shortly after the user stops editing them. */
function scheduleSettingsSave() {
  showPresetName();
  clearTimeout(state.saveTimer);
  state.saveTimer = setTimeout(() => {
    const read = settingsForm.read();
    if (read.error) return;
    api.saveSettings({ generation: read.settings, preset: settingsForm.preset() }).catch(() => {
      // Invalid ranges are reported when generating; nothing to say while typing.
    });
  }, 400);
}

// ---- history ------------------------------------------------------------------------------

async function refreshHistory() {
  try {
    history.render(await api.listHistory(), state.lang);
  } catch (raw) {
    showFormError(raw);
  }
}

function fillForm(entry) {
  $("instruction").value = entry.instruction;
  $("input").value = entry.input;
  settingsForm.set(entry.settings);
  showPresetName();
  prefill.changed();
}

async function openHistory(id) {
  if (state.generating) return;
  try {
    const entry = await api.getHistoryEntry(id);
    fillForm(entry);
    view.showStatic(entry.output, {
      tokens: entry.stats.generated_tokens,
      ttftMs: entry.stats.ttft_ms,
      reusedTokens: entry.stats.reused_prompt_tokens ?? 0,
      tokensPerS: entry.stats.decode_tokens_per_s,
      stopReason: entry.stop_reason,
      seed: entry.stats.seed,
    });
    setOutputNote((lang) => t(lang, "viewing_history", { time: formatTime(lang, entry.created_at_ms) }));
    updateControls();
    $("output").scrollIntoView({ block: "nearest", behavior: "smooth" });
  } catch (raw) {
    showFormError(raw);
    refreshHistory();
  }
}

/** Repeats a past run: same instruction, input and settings with its seed → the same text. */
async function regenerate(id) {
  if (state.generating || state.loading) return;
  try {
    fillForm(await api.getHistoryEntry(id));
  } catch (raw) {
    showFormError(raw);
    refreshHistory();
    return;
  }
  await generate();
}

async function removeHistory(id) {
  try {
    await api.deleteHistoryEntry(id);
  } catch (raw) {
    showFormError(raw);
  }
  // HistoryView moves the focus once this has re-rendered the list.
  await refreshHistory();
}

// ---- start --------------------------------------------------------------------------------

async function start() {
  try {
    settingsForm.setSchema(await api.generationSchema());
    const settings = await api.getSettings();
    settingsForm.set(settings.generation);
    showPrecision(settings.precision);
    showGpuLayers(settings.gpu_layers);
    setLanguage(settings.language);
    servePanel.init(settings);
  } catch (raw) {
    setLanguage("ja");
    showFormError(raw);
  }
  chooser.watchDrops().catch(() => {});
  api.appInfo().then((info) => {
    state.about = info;
    showAbout();
  }, () => {});
  let load = null;
  try {
    const status = await api.modelStatus();
    if (status.state === "ready") {
      state.model = status.model;
      $("model-path").value = status.model.path;
      showModel();
    } else if (status.state === "empty" && status.configured_path) {
      $("model-path").value = status.configured_path;
      load = loadModel(null);
    }
  } catch (raw) {
    showFormError(raw);
  }
  await focusFirstStep();
  await load;
}

document.documentElement.dataset.ready = "false";
start().finally(() => {
  // Tests wait for this before typing.
  document.documentElement.dataset.ready = "true";
});
