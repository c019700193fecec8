//! `get_settings`, `save_settings` and `generation_schema`.

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

/// The model card's defaults, the bounds of every setting and the presets, defined once in
/// the engine: the form takes its defaults, ranges and preset values from here.
#[tauri::command]
pub fn generation_schema() -> jslm_engine::settings::SettingsSchema {
    jslm_engine::settings::SettingsSchema::new()
}
