//! `generate` and `stop_generation`.

use super::join_error;
use crate::error::AppResult;
use crate::generation::{self, GenerationResult};
use crate::state::AppState;
use jslm_engine::{GenerationEvent, GenerationRequest};
use tauri::ipc::Channel;
use tauri::State;

/// Runs one generation, streaming its events through `on_event` (one channel per generation);
/// resolves when it has ended, with the history entry. Refused with `busy` while another runs.
#[tauri::command]
pub async fn generate(
    state: State<'_, AppState>,
    request: GenerationRequest,
    on_event: Channel<GenerationEvent>,
) -> AppResult<GenerationResult> {
    // Remember the settings as the user set them (an empty seed stays "random").
    let chosen = request.settings.clone();
    let mut request = request;
    generation::fix_seed(&mut request)?;
    let ticket = state.host.begin_generation()?;
    // A failure to write the settings must not block the run.
    if let Err(e) = state.settings.update(|s| s.generation = chosen) {
        eprintln!("jslm-desktop: could not save settings: {e}");
    }
    let history = state.history.clone();
    tauri::async_runtime::spawn_blocking(move || {
        let output = generation::run(&ticket, &request, |event| {
            on_event.send(event.clone()).is_ok()
        })?;
        let entry = generation::entry_for(&request, &output, &ticket.model);
        // The engine is free again before the history file is written.
        drop(ticket);
        Ok(generation::record(&history, entry))
    })
    .await
    .map_err(|e| join_error("the generation", e))?
}

/// Stops the running generation before its next token. Returns whether one was running.
#[tauri::command]
pub fn stop_generation(state: State<'_, AppState>) -> bool {
    state.host.stop()
}
