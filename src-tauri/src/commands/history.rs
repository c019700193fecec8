//! `list_history`, `get_history_entry` and `delete_history_entry`.

use crate::error::AppResult;
use crate::history::{HistoryEntry, HistoryItem};
use crate::state::AppState;
use tauri::State;

/// Past runs, newest first (previews; open one with `get_history_entry`).
#[tauri::command]
pub fn list_history(state: State<'_, AppState>) -> Vec<HistoryItem> {
    state.history.list()
}

#[tauri::command]
pub fn get_history_entry(state: State<'_, AppState>, id: String) -> AppResult<HistoryEntry> {
    state.history.get(&id)
}

/// Async so that rewriting the file never runs on the UI thread.
#[tauri::command]
pub async fn delete_history_entry(state: State<'_, AppState>, id: String) -> AppResult<()> {
    state.history.delete(&id)
}
