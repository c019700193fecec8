//! `load_model` and `model_status`.

use super::join_error;
use crate::error::AppResult;
use crate::host::ModelStatus;
use crate::loading::{self, LoadEvent};
use crate::model_summary::ModelSummary;
use crate::state::AppState;
use serde::Serialize;
use std::path::PathBuf;
use tauri::ipc::Channel;
use tauri::State;

#[derive(Debug, Serialize)]
pub struct ModelStatusReply {
    #[serde(flatten)]
    pub status: ModelStatus,
    /// What `load_model` without a path would load (`--model`, `JSLM_MODEL` or the last one).
    pub configured_path: Option<PathBuf>,
    pub generating: bool,
}

#[tauri::command]
pub fn model_status(state: State<'_, AppState>) -> ModelStatusReply {
    ModelStatusReply {
        status: state.host.status(),
        configured_path: state.configured_model_path(),
        generating: state.host.is_generating(),
    }
}

/// Loads `path` (or the configured model when absent), reporting progress through
/// `on_progress`; the model loaded is remembered for the next start.
#[tauri::command]
pub async fn load_model(
    state: State<'_, AppState>,
    path: Option<String>,
    on_progress: Channel<LoadEvent>,
) -> AppResult<ModelSummary> {
    let path = state.model_path(path.as_deref())?;
    let ticket = state.host.begin_load(path.clone())?;
    let choice = state.settings.get().quantization;
    let places = state.load_places();
    let load_path = path.clone();
    let result = tauri::async_runtime::spawn_blocking(move || {
        loading::load(&load_path, choice, &places, |event| {
            // Progress is informational: a closed window must not fail the load.
            let _ = on_progress.send(event);
        })
    })
    .await
    .unwrap_or_else(|e| Err(join_error("loading the model", e)));
    let summary = ticket.finish(result)?;
    if let Err(e) = state.settings.update(|s| s.model_path = Some(path)) {
        eprintln!("jslm-desktop: could not remember the model: {e}");
    }
    Ok(summary)
}
