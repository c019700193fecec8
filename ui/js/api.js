// The backend's commands (src-tauri/src/commands/), through Tauri's global API
// (`withGlobalTauri`). Every function returns a promise that rejects with the command's
// `{ code, message }` error.

function core() {
  const api = window.__TAURI__?.core;
  if (!api) throw { code: "internal", message: "the Tauri API is not available" };
  return api;
}

function call(command, args) {
  return core().invoke(command, args);
}

/** A new channel whose messages go to `onMessage`; one per generation or load. */
function channel(onMessage) {
  const ch = new (core().Channel)();
  ch.onmessage = onMessage;
  return ch;
}

export const api = {
  /** `{ name, version, commit }` of this build. */
  appInfo() {
    return call("app_info");
  },
  /** Resolves with `{ entry, saved, save_error }` once the generation has ended. */
  generate(request, onEvent) {
    return call("generate", { request, onEvent: channel(onEvent) });
  },
  stopGeneration() {
    return call("stop_generation");
  },
  /** Runs `request`'s prompt into the loaded model's cache ahead of Generate; resolves at once. */
  prefillPrompt(request) {
    return call("prefill_prompt", { request });
  },
  /**
   * `path` null loads the configured model; `force` loads even when the plan says it will not
   * fit. Resolves with the model summary.
   */
  loadModel(path, force, onProgress) {
    return call("load_model", { path, force, onProgress: channel(onProgress) });
  },
  listModels() {
    return call("list_models");
  },
  /** Resolves when the download is complete; a pause or cancel rejects with `download_cancelled`. */
  startDownload(id, variant, onEvent) {
    return call("start_download", { id, variant, onEvent: channel(onEvent) });
  },
  pauseDownload(id) {
    return call("pause_download", { id });
  },
  cancelDownload(id) {
    return call("cancel_download", { id });
  },
  deleteModel(id) {
    return call("delete_model", { id });
  },
  useModel(id, force, onProgress) {
    return call("use_model", { id, force, onProgress: channel(onProgress) });
  },
  tokenStatus() {
    return call("token_status");
  },
  setToken(token) {
    return call("set_token", { token });
  },
  clearToken() {
    return call("clear_token");
  },
  openModelPage(id) {
    return call("open_model_page", { id });
  },
  /** What the model at `path` is and its plan here, without loading it (`Inspection`). */
  inspectModel(path) {
    return call("inspect_model", { path });
  },
  /** The system's picker (`kind`: "file" or "folder"); the chosen path, or null. */
  pickModel(kind, near) {
    return call("pick_model", { kind, near });
  },
  /** Files dropped on the window from now on go to `onDrop` (`DropEvent`s). */
  watchDrops(onDrop) {
    return call("watch_drops", { onDrop: channel(onDrop) });
  },
  /** `{ folders, found, skipped }`: copies of the model other apps keep. */
  foundModels(verify) {
    return call("found_models", { verify });
  },
  /** Picks a folder and adds it to the folders searched; the new `found_models` answer. */
  addModelFolder() {
    return call("add_model_folder");
  },
  removeModelFolder(path) {
    return call("remove_model_folder", { path });
  },
  /** `{ profile, plan, plan_error }` for `path` (or the configured model). */
  hardwareReport(path) {
    return call("hardware_report", { path });
  },
  modelStatus() {
    return call("model_status");
  },
  getSettings() {
    return call("get_settings");
  },
  /** The model card's defaults, each setting's bounds and the presets (from the engine). */
  generationSchema() {
    return call("generation_schema");
  },
  saveSettings(patch) {
    return call("save_settings", { patch });
  },
  listHistory() {
    return call("list_history");
  },
  getHistoryEntry(id) {
    return call("get_history_entry", { id });
  },
  deleteHistoryEntry(id) {
    return call("delete_history_entry", { id });
  },
  /** The serve panel: `{ serving, url, model, requests, error, keys, host, port }`. */
  serveStatus() {
    return call("serve_status");
  },
  startServing(host, port) {
    return call("start_serving", { host, port });
  },
  stopServing() {
    return call("stop_serving");
  },
  /** `which`: "server" or "remote". Resolves with the serve panel; the key is never returned. */
  setApiKey(which, key) {
    return call("set_api_key", { which, key });
  },
  clearApiKey(which) {
    return call("clear_api_key", { which });
  },
};
