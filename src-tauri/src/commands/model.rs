//! `load_model`, `model_status` and `hardware_report`.

use super::join_error;
use crate::error::AppResult;
use crate::host::ModelStatus;
use crate::loading;
use crate::model_summary::ModelSummary;
use crate::state::AppState;
use jslm_engine::ModelDescription;
use jslm_hardware::{DetectOptions, DevicePlan, HardwareProfile};
use jslm_runtime::{LoadEvent, ModelSource};
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

/// Plans and loads `path` (or the configured model when absent), reporting progress through
/// `on_progress`. Refused with `will_not_fit` when the plan's estimate exceeds the memory,
/// unless `force`. The model loaded is remembered for the next start.
#[tauri::command]
pub async fn load_model(
    state: State<'_, AppState>,
    path: Option<String>,
    force: Option<bool>,
    on_progress: Channel<LoadEvent>,
) -> AppResult<ModelSummary> {
    let path = state.model_path(path.as_deref())?;
    let tokenizer = state.tokenizer_for(&path);
    let source = ModelSource::from_path(&path, tokenizer);
    load(&state, source, force.unwrap_or(false), on_progress).await
}

/// Plans and loads `source` and remembers it for the next start. A local server serving the
/// old model stops before the old model is released, and serves the new one once it has
/// loaded (see [`crate::serving`]).
pub(crate) async fn load(
    state: &AppState,
    source: ModelSource,
    force: bool,
    on_progress: Channel<LoadEvent>,
) -> AppResult<ModelSummary> {
    let path = source.weights.clone();
    let tokenizer = source.tokenizer.clone();
    // A wrong path or a damaged file is refused while the loaded model still runs (and
    // serves): letting go of it first would cost the model that works for nothing.
    let checked = source.clone();
    tauri::async_runtime::spawn_blocking(move || jslm_runtime::check_files(&checked))
        .await
        .map_err(|e| join_error("reading the model", e))??;
    let ticket = state.host.begin_load(path.clone())?;
    let prefills = state.prefill.stop_all();
    let serving = state.serving.suspend().await;
    let choices = state.run_choices(force);
    let places = state.load_places();
    let detect = state.detect_options();
    let result = tauri::async_runtime::spawn_blocking(move || {
        // Prompt work on the old model lets go of it first (its outcome was logged).
        for job in prefills {
            let _ = job.finish();
        }
        let profile = detect_hardware(&detect);
        loading::load(source, &choices, &profile, &places, |event| {
            // Progress is informational: a closed window must not fail the load.
            let _ = on_progress.send(event);
        })
    })
    .await
    .unwrap_or_else(|e| Err(join_error("loading the model", e)));
    let finished = state.prefill.install(&state.host, ticket, result);
    if serving {
        resume_serving(state).await;
    }
    let summary = finished?;
    if let Err(e) = state.settings.update(|s| {
        s.model_path = Some(path);
        s.model_tokenizer = tokenizer;
    }) {
        eprintln!("jslm-desktop: could not remember the model: {e}");
    }
    Ok(summary)
}

/// Serves again after a model change, with the key and address as they are now (the user
/// may have changed them during the load), unless serving was turned off meanwhile.
pub(crate) async fn resume_serving(state: &AppState) {
    let resumed = state.serving.resume(state.host.ready_model(), |config| {
        config.api_key = state.keys.server_key()?;
        let saved = state.settings.get().serve;
        config.host = saved.host;
        config.port = saved.port;
        Ok(())
    });
    resumed.await;
}

/// This machine, and the plan for the configured (or given) model on it.
#[derive(Debug, Serialize)]
pub struct HardwareReport {
    pub profile: HardwareProfile,
    /// `None` when no model is configured yet.
    pub plan: Option<DevicePlan>,
    /// Why there is no plan for a configured model (e.g. its files are missing).
    pub plan_error: Option<crate::error::AppError>,
}

#[tauri::command]
pub async fn hardware_report(
    state: State<'_, AppState>,
    path: Option<String>,
) -> AppResult<HardwareReport> {
    let path = state.model_path(path.as_deref()).ok();
    let choices = state.run_choices(false);
    let detect = state.detect_options();
    tauri::async_runtime::spawn_blocking(move || {
        let profile = detect_hardware(&detect);
        let planned = path.map(|p| {
            let description =
                ModelDescription::read(&p).map_err(jslm_runtime::RuntimeError::from)?;
            jslm_runtime::plan_spec(&profile, &description.spec(), &choices)
        });
        let (plan, plan_error) = match planned {
            None => (None, None),
            Some(Ok(plan)) => (Some(plan), None),
            Some(Err(e)) => (None, Some(e.into())),
        };
        Ok(HardwareReport {
            profile,
            plan,
            plan_error,
        })
    })
    .await
    .map_err(|e| join_error("reading the hardware", e))?
}

/// Detection options without probing GPU backends (a CPU build has none to probe).
pub(crate) fn detect_options(model_cache_dir: PathBuf) -> DetectOptions {
    DetectOptions {
        model_cache_dir: Some(model_cache_dir),
        ..DetectOptions::default()
    }
}

/// This machine's hardware, as every command plans with it. Test builds (the end-to-end
/// window) read a simulated profile from the JSON file `JSLM_E2E_HARDWARE_PROFILE` instead, to
/// show the plans of machines the test machine is not (a GPU too small for the model).
pub(crate) fn detect_hardware(detect: &DetectOptions) -> HardwareProfile {
    #[cfg(feature = "test")]
    if let Some(path) = std::env::var_os("JSLM_E2E_HARDWARE_PROFILE") {
        match std::fs::read_to_string(&path)
            .map_err(|e| e.to_string())
            .and_then(|text| serde_json::from_str(&text).map_err(|e| e.to_string()))
        {
            Ok(profile) => {
                let mut profile: HardwareProfile = profile;
                profile.count_as_free(&detect.own_vram);
                return profile;
            }
            Err(e) => eprintln!("JSLM_E2E_HARDWARE_PROFILE not used: {e}"),
        }
    }
    HardwareProfile::detect(detect)
}
