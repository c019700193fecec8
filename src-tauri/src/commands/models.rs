//! The model manager: catalog rows, downloads (start, pause, cancel), delete, use, the
//! Hugging Face token, and opening a model's page in the system browser.

use super::join_error;
use crate::error::{AppError, AppResult};
use crate::hub::{self, TokenStatus};
use crate::model_rows::{self, ModelRow};
use crate::model_summary::ModelSummary;
use crate::state::AppState;
use jslm_hub::{delete_model as delete_cached, discard_download, inspect, DownloadEvent, RepoId};
use serde::Serialize;
use std::path::PathBuf;
use tauri::ipc::Channel;
use tauri::{AppHandle, Runtime, State};
use tauri_plugin_opener::OpenerExt;

/// Every catalog model with its download state and fit on this machine.
#[tauri::command]
pub async fn list_models(state: State<'_, AppState>) -> AppResult<Vec<ModelRow>> {
    let choices = state.run_choices(false);
    let detect = state.detect_options();
    let active = state.host.ready_path();
    let cache = state.hub.cache();
    let cache_root = state.hub.cache_dir();
    let downloading: Vec<String> = jslm_hub::catalog()
        .models
        .iter()
        .filter(|e| state.hub.is_downloading(&e.id))
        .map(|e| e.id.clone())
        .collect();
    tauri::async_runtime::spawn_blocking(move || {
        let profile = crate::commands::model::detect_hardware(&detect);
        Ok(model_rows::rows(
            &profile,
            &choices,
            |entry| match RepoId::parse(&entry.repo) {
                Ok(repo) => inspect(&cache, &repo),
                Err(_) => model_rows::absent(entry, &cache_root),
            },
            |id| downloading.iter().any(|d| d == id),
            active.as_deref(),
        ))
    })
    .await
    .map_err(|e| join_error("reading the models", e))?
}

/// What a finished download reports.
#[derive(Debug, Serialize)]
pub struct DownloadResult {
    pub id: String,
    pub snapshot_dir: PathBuf,
    pub downloaded_bytes: u64,
    /// Optional files that could not be fetched (e.g. a gated companion tokenizer).
    pub skipped: Vec<String>,
}

/// Downloads (or resumes) a catalog model, streaming `DownloadEvent`s through `on_event`.
/// Resolves when complete; a pause resolves with `download_cancelled` and keeps the partial
/// files, a cancel also deletes them (only this download's: another variant or model sharing
/// the repo keeps its files). The free-space check happens before any byte is written.
#[tauri::command]
pub async fn start_download(
    state: State<'_, AppState>,
    id: String,
    variant: Option<String>,
    on_event: Channel<DownloadEvent>,
) -> AppResult<DownloadResult> {
    let entry = hub::entry(&id)?;
    let manager = state.hub.manager()?;
    let ticket = state.hub.begin_download(&entry.id)?;
    let request = hub::request(entry, variant.as_deref());
    let cancel = ticket.cancel.clone();
    let result = manager
        .download(
            request.clone(),
            move |event| {
                // Progress is informational: a closed window must not fail the download.
                let _ = on_event.send(event);
            },
            cancel,
        )
        .await;
    match result {
        Ok(model) => Ok(DownloadResult {
            id: entry.id.clone(),
            snapshot_dir: model.snapshot_dir.clone(),
            downloaded_bytes: model.downloaded_bytes,
            skipped: model.skipped.iter().map(|s| s.file.clone()).collect(),
        }),
        Err(err) => {
            if ticket.discard() {
                drop(ticket);
                let cache = state.hub.cache();
                tauri::async_runtime::spawn_blocking(move || discard_download(&cache, &request))
                    .await
                    .map_err(|e| join_error("deleting the partial download", e))??;
            }
            Err(err.into())
        }
    }
}

/// Pauses a download: stops it and keeps its files, so that starting it again resumes.
#[tauri::command]
pub fn pause_download(state: State<'_, AppState>, id: String) -> AppResult<bool> {
    let entry = hub::entry(&id)?;
    Ok(state.hub.stop_download(&entry.id, false))
}

/// Cancels a download and deletes what it had fetched.
#[tauri::command]
pub fn cancel_download(state: State<'_, AppState>, id: String) -> AppResult<bool> {
    let entry = hub::entry(&id)?;
    Ok(state.hub.stop_download(&entry.id, true))
}

/// Deletes a downloaded (or partial) model from the cache; returns the bytes freed.
#[tauri::command]
pub async fn delete_model(state: State<'_, AppState>, id: String) -> AppResult<u64> {
    let entry = hub::entry(&id)?;
    if state.hub.is_downloading(&entry.id) {
        return Err(AppError::Downloading(entry.id.clone()));
    }
    let repo = RepoId::parse(&entry.repo)?;
    // The loaded (or loading) model's files stay: the engine maps them, the settings point at
    // them, and the space would not come back until another model is loaded anyway.
    let cache = state.hub.cache();
    let repo_dir = cache.repo_dir(&repo);
    if state
        .host
        .model_path()
        .is_some_and(|path| path.starts_with(&repo_dir))
    {
        return Err(AppError::ModelInUse(entry.id.clone()));
    }
    tauri::async_runtime::spawn_blocking(move || delete_cached(&cache, &repo))
        .await
        .map_err(|e| join_error("deleting the model", e))?
        .map_err(AppError::from)
}

/// Makes a downloaded catalog model the active one: finds its files in the cache (no network)
/// and loads them like `load_model`.
#[tauri::command]
pub async fn use_model(
    state: State<'_, AppState>,
    id: String,
    variant: Option<String>,
    force: Option<bool>,
    on_progress: Channel<jslm_runtime::LoadEvent>,
) -> AppResult<ModelSummary> {
    let entry = hub::entry(&id)?;
    if state.hub.is_downloading(&entry.id) {
        return Err(AppError::Downloading(entry.id.clone()));
    }
    let manager = state.hub.manager()?;
    // Without a variant: the catalog's default if it is here, else the first variant that is
    // (the row says "ready" for any complete one: a Q8_0 fetched by the CLI, say).
    let candidates: Vec<Option<String>> = match variant {
        Some(v) => vec![Some(v)],
        None => std::iter::once(None)
            .chain(entry.variants.iter().map(|v| Some(v.file.clone())))
            .collect(),
    };
    let id = entry.id.clone();
    let source = tauri::async_runtime::spawn_blocking(move || {
        let mut first_error = None;
        for variant in candidates {
            let model = jslm_runtime::ModelRef::Hub {
                id: id.clone(),
                revision: None,
                variant,
            };
            match jslm_runtime::resolve_local(&manager, &model) {
                Ok(source) => return Ok(source),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        Err(first_error.expect("at least one candidate"))
    })
    .await
    .map_err(|e| join_error("looking up the model", e))??;
    super::model::load(&state, source, force.unwrap_or(false), on_progress).await
}

/// Off the main thread (`async`): the keychain answers over D-Bus, and a locked or silent
/// secret service (an unlock prompt, a D-Bus timeout) would freeze the window meanwhile.
#[tauri::command(async)]
pub fn token_status(state: State<'_, AppState>) -> AppResult<TokenStatus> {
    state.hub.token_status()
}

/// Checks a token against the hub and stores it (keychain, else a 0600 file) when accepted.
/// The webview gets the account name back, never the token.
#[tauri::command]
pub async fn set_token(state: State<'_, AppState>, token: String) -> AppResult<TokenStatus> {
    state.hub.set_token(&token).await
}

#[tauri::command]
pub async fn clear_token(state: State<'_, AppState>) -> AppResult<TokenStatus> {
    state.hub.clear_token()
}

/// Opens a catalog model's page (to accept its terms) in the system browser. Only catalog
/// models: the webview cannot open arbitrary URLs.
#[tauri::command]
pub fn open_model_page<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    id: String,
) -> AppResult<()> {
    let entry = hub::entry(&id)?;
    let url = state.hub.model_page(entry);
    app.opener()
        .open_url(url, None::<&str>)
        .map_err(|e| AppError::Internal(format!("opening the browser: {e}")))
}
