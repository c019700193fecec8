//! Choosing a model like a person does: the system's file or folder picker, a file dropped on
//! the window, or a copy another app already keeps (`found_models`). Every route ends in
//! `inspect_model`: the same checks as the CLI's load and the plan on this machine, shown
//! before anything is loaded. The pickers are opened by the backend (the webview is granted
//! no dialog or file-system permission) and only hand back the path the user chose.

use super::join_error;
use crate::drops::DropEvent;
use crate::error::{AppError, AppResult};
use crate::found::{self, FoundModels, ScanRequest};
use crate::state::AppState;
use jslm_runtime::{Inspection, ModelSource};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use tauri::ipc::Channel;
use tauri::{AppHandle, Manager, Runtime, State};
use tauri_plugin_dialog::DialogExt;

/// Reads and checks the model at `path` and plans it here, without loading it.
#[tauri::command]
pub async fn inspect_model(state: State<'_, AppState>, path: String) -> AppResult<Inspection> {
    let path = state.model_path(Some(&path))?;
    let source = ModelSource::from_path(&path, state.tokenizer_for(&path));
    let choices = state.run_choices(false);
    let detect = state.detect_options();
    tauri::async_runtime::spawn_blocking(move || {
        let profile = crate::commands::model::detect_hardware(&detect);
        Ok(jslm_runtime::inspect(&profile, &source, &choices)?)
    })
    .await
    .map_err(|e| join_error("reading the model", e))?
}

/// What the picker chooses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PickKind {
    /// A `.gguf` file.
    File,
    /// A model folder (official safetensors with `config.json`, or a folder with one GGUF).
    Folder,
}

/// Opens the system's picker over the window; resolves with the chosen path, or `None` when
/// the user closed it. It starts in the folder of the model in the path field (`near`) or of
/// the loaded model.
#[tauri::command]
pub async fn pick_model<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    kind: PickKind,
    near: Option<String>,
) -> AppResult<Option<PathBuf>> {
    let start = near
        .filter(|n| !n.trim().is_empty())
        .map(|n| jslm_runtime::expand_home(&n))
        .or_else(|| state.configured_model_path());
    pick(&app, kind, start.as_deref()).await
}

async fn pick<R: Runtime>(
    app: &AppHandle<R>,
    kind: PickKind,
    start: Option<&Path>,
) -> AppResult<Option<PathBuf>> {
    let mut dialog = app.dialog().file();
    if let Some(window) = app.get_webview_window(crate::window::MAIN) {
        dialog = dialog.set_parent(&window);
    }
    if let Some(dir) = start.and_then(start_folder) {
        dialog = dialog.set_directory(dir);
    }
    let (tx, rx) = std::sync::mpsc::channel();
    match kind {
        // The backend does not know the page's language: both, Japanese first.
        PickKind::File => dialog
            .set_title("モデルの GGUF ファイルを選ぶ / Choose the model's GGUF file")
            .add_filter("GGUF", &["gguf", "GGUF"])
            .pick_file(move |p| {
                let _ = tx.send(p);
            }),
        PickKind::Folder => dialog
            .set_title("モデルのフォルダーを選ぶ / Choose a model folder")
            .pick_folder(move |p| {
                let _ = tx.send(p);
            }),
    }
    let chosen = tauri::async_runtime::spawn_blocking(move || rx.recv().ok().flatten())
        .await
        .map_err(|e| join_error("the file picker", e))?;
    chosen
        .map(|p| {
            p.into_path()
                .map_err(|e| AppError::Internal(format!("the picker gave no local path: {e}")))
        })
        .transpose()
}

/// The folder a picker opens in for `near`: the folder itself, or the file's folder.
fn start_folder(near: &Path) -> Option<PathBuf> {
    if near.is_dir() {
        Some(near.to_path_buf())
    } else {
        near.parent().filter(|p| p.is_dir()).map(Path::to_path_buf)
    }
}

/// From now on, files dropped on the window are reported on `on_drop`.
#[tauri::command]
pub fn watch_drops(state: State<'_, AppState>, on_drop: Channel<DropEvent>) {
    state.drops.watch(on_drop);
}

/// Copies of the model that other apps keep, and the folders the user added; with `verify`,
/// files whose store names a sha256 are hashed (once per file: remembered).
#[tauri::command]
pub async fn found_models(
    state: State<'_, AppState>,
    verify: Option<bool>,
) -> AppResult<FoundModels> {
    scan(&state, verify.unwrap_or(false)).await
}

pub(crate) async fn scan(state: &AppState, verify: bool) -> AppResult<FoundModels> {
    let request = ScanRequest {
        added: state.settings.get().model_dirs,
        hf_cache: state.hub.cache_dir(),
        // One store with the quantizer's and the history's (`LoadPlaces::hash_store`).
        hashes: state.load_places().hash_store(),
        verify,
    };
    let choices = state.run_choices(false);
    let detect = state.detect_options();
    let active = state.host.ready_path();
    tauri::async_runtime::spawn_blocking(move || {
        let profile = crate::commands::model::detect_hardware(&detect);
        found::scan(&request, &profile, &choices, active.as_deref())
    })
    .await
    .map_err(|e| join_error("looking for models", e))
}

/// Asks for a folder with the picker and adds it to the folders scanned for models; resolves
/// with the new list (unchanged when the picker was closed).
#[tauri::command]
pub async fn add_model_folder<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
) -> AppResult<FoundModels> {
    let home = dirs::home_dir();
    if let Some(folder) = pick(&app, PickKind::Folder, home.as_deref()).await? {
        state.settings.update(|s| {
            if !s.model_dirs.contains(&folder) {
                s.model_dirs.push(folder);
            }
        })?;
    }
    scan(&state, false).await
}

/// Stops scanning a folder the user added (nothing in it is touched).
#[tauri::command]
pub async fn remove_model_folder(
    state: State<'_, AppState>,
    path: PathBuf,
) -> AppResult<FoundModels> {
    state
        .settings
        .update(|s| s.model_dirs.retain(|d| *d != path))?;
    scan(&state, false).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pickers_open_where_the_model_is() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("m.gguf");
        std::fs::write(&file, b"x").unwrap();
        assert_eq!(start_folder(&file), Some(dir.path().to_path_buf()));
        assert_eq!(start_folder(dir.path()), Some(dir.path().to_path_buf()));
        assert_eq!(start_folder(Path::new("/no/such/place/m.gguf")), None);
    }
}
