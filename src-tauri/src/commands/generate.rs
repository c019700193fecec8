//! `generate`, `stop_generation` and `prefill_prompt`. Generate runs where the settings say
//! (`backend`): on the loaded model — after waiting its turn at the serving gate, behind
//! requests the local server already accepted — or on a remote server.

use super::join_error;
use crate::error::AppResult;
use crate::generation::{self, GenerationResult};
use crate::remote_run;
use crate::serving;
use crate::settings::Backend;
use crate::state::AppState;
use jslm_engine::{GenerationEvent, GenerationRequest, GenerationStats, StopReason};
use jslm_remote::RemoteConfig;
use tauri::ipc::Channel;
use tauri::State;

/// Runs one generation, streaming its events through `on_event` (one channel per generation);
/// resolves when it has ended, with the history entry. Refused with `busy` while another of
/// the window's runs goes; waits (Stop still works) while the local server generates.
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
    match state.settings.get().backend {
        Backend::Local => local(&state, request, chosen, on_event).await,
        Backend::Remote { url, model } => {
            remote(
                &state,
                request,
                chosen,
                on_event,
                RemoteConfig {
                    url,
                    model,
                    api_key: None,
                    ..Default::default()
                },
            )
            .await
        }
    }
}

/// Runs the prompt of `request` into the loaded model's cache while the user writes it, so
/// that Generate finds it there (`crate::prefill`); the page calls it a moment after typing
/// stops. Returns at once: true when the work started, false when there is nothing to do it
/// on (no model ready, a run going, runs going to a remote server) or the request would be
/// refused anyway (Generate then says why).
#[tauri::command]
pub fn prefill_prompt(state: State<'_, AppState>, request: GenerationRequest) -> bool {
    let local = matches!(state.settings.get().backend, Backend::Local);
    local && request.check().is_ok() && state.prefill.prompt(&state.host, request)
}

async fn local(
    state: &AppState,
    request: GenerationRequest,
    chosen: jslm_engine::GenerationSettings,
    on_event: Channel<GenerationEvent>,
) -> AppResult<GenerationResult> {
    let ticket = state.host.begin_generation()?;
    remember(state, chosen);
    let gate = state.serving.gate();
    let turn = tokio::select! {
        turn = gate.turn() => turn,
        () = serving::cancelled(&ticket.cancel) => {
            // Stopped before its turn came: an empty run, not kept.
            let seed = request.settings.seed.unwrap_or(0);
            let _ = on_event.send(GenerationEvent::Started { prompt_tokens: 0, seed });
            let stats = GenerationStats { seed, ..Default::default() };
            let _ = on_event.send(GenerationEvent::Finished { reason: StopReason::Cancelled, stats });
            return Ok(generation::not_run(&request, &ticket.model));
        }
    };
    let history = state.history.clone();
    tauri::async_runtime::spawn_blocking(move || {
        let output = generation::run(&ticket, &request, |event| {
            on_event.send(event.clone()).is_ok()
        })?;
        let entry = generation::entry_for(&request, &output, &ticket.model);
        // The engine is free again before the history file is written.
        drop(turn);
        drop(ticket);
        Ok(generation::record(&history, entry))
    })
    .await
    .map_err(|e| join_error("the generation", e))?
}

async fn remote(
    state: &AppState,
    request: GenerationRequest,
    chosen: jslm_engine::GenerationSettings,
    on_event: Channel<GenerationEvent>,
    mut config: RemoteConfig,
) -> AppResult<GenerationResult> {
    // The same bounds as a local run, checked here so the field is named the same way.
    request.settings.validate()?;
    let ticket = state.host.begin_remote()?;
    remember(state, chosen);
    config.api_key = state.keys.remote_key()?.map(|k| k.expose().to_string());
    let output = remote_run::run(&ticket, config, &request, |event| {
        on_event.send(event.clone()).is_ok()
    })
    .await?;
    drop(ticket);
    let entry = remote_run::entry_for(&request, &output);
    let history = state.history.clone();
    tauri::async_runtime::spawn_blocking(move || generation::record(&history, entry))
        .await
        .map_err(|e| join_error("saving the run", e))
}

/// A failure to write the settings must not block the run.
fn remember(state: &AppState, chosen: jslm_engine::GenerationSettings) {
    if let Err(e) = state.settings.update(|s| s.generation = chosen) {
        eprintln!("jslm-desktop: could not save settings: {e}");
    }
}

/// Stops the running generation before its next token (up to three more only to finish a
/// character it would cut in half), or while it waits for its turn.
/// Returns whether one was running.
#[tauri::command]
pub fn stop_generation(state: State<'_, AppState>) -> bool {
    state.host.stop()
}
