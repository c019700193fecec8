//! `get_settings` and `save_settings`.

use crate::error::AppResult;
use crate::settings::{AppSettings, SettingsPatch};
use crate::state::AppState;
use tauri::State;

#[tauri::command]
pub fn get_settings(state: State<'_, AppState>) -> AppSettings {
    state.settings.get()
}

/// Applies the fields present in `patch` (validated like a generation request) and saves.
/// Async so that writing the file never runs on the UI thread.
#[tauri::command]
pub async fn save_settings(
    state: State<'_, AppState>,
    patch: SettingsPatch,
) -> AppResult<AppSettings> {
    state.settings.apply(patch)
}
