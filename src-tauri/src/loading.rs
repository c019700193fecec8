//! Loading a model for the app, through the runtime: plan it for this machine (the user's
//! precision choice, the memory fit), record its files' hashes for the history, load it as
//! planned, and report progress. Runs on a blocking thread; knows nothing of Tauri (the
//! command forwards [`LoadEvent`]s to a channel).

use crate::error::AppResult;
use crate::fingerprint::FingerprintCache;
use crate::host::LoadedModel;
use crate::model_summary::ModelSummary;
use jslm_engine::WeightsFormat;
use jslm_hardware::HardwareProfile;
use jslm_runtime::{LoadEvent, LoadPlaces, ModelSource, RunChoices};
use std::path::Path;

/// Plans and loads `source` with `choices`, calling `progress` as it goes. Refused with
/// `will_not_fit` before anything is read when the plan's estimate exceeds the memory, unless
/// `choices.force`.
pub fn load(
    source: ModelSource,
    choices: &RunChoices,
    profile: &HardwareProfile,
    places: &LoadPlaces,
    mut progress: impl FnMut(LoadEvent),
) -> AppResult<LoadedModel> {
    let path = source.weights.clone();
    progress(LoadEvent::Started { path: path.clone() });
    let planned = jslm_runtime::plan(profile, source, choices)?;
    progress(planned.event());
    let shards = match &planned.description.weights {
        WeightsFormat::Safetensors { shards, .. } => shards.clone(),
        WeightsFormat::Gguf { file } => vec![file.clone()],
    };
    let file_name = |p: &Path| {
        p.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let provenance = FingerprintCache::new(places.hash_store()).provenance(&shards, |file| {
        progress(LoadEvent::Hashing {
            file: file_name(file),
        })
    })?;
    let name = planned.description.display_name();
    let loaded = planned.load(places, progress)?;
    let summary = ModelSummary::new(&path, name, provenance, loaded.report);
    Ok(LoadedModel {
        engine: loaded.engine,
        summary,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use jslm_core::Precision;
    use std::path::PathBuf;

    fn places(dir: &Path) -> LoadPlaces {
        LoadPlaces {
            quantized_dir: dir.join("q"),
        }
    }

    fn tiny() -> ModelSource {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/tiny-mistral");
        ModelSource::from_path(&path, None)
    }

    #[test]
    fn missing_model_is_reported_with_its_code() {
        let dir = tempfile::tempdir().unwrap();
        let mut events = vec![];
        let source = ModelSource::from_path(&dir.path().join("nope"), None);
        let profile = HardwareProfile::detect(&Default::default());
        let err = load(
            source,
            &RunChoices::default(),
            &profile,
            &places(dir.path()),
            |e| events.push(e),
        )
        .unwrap_err();
        assert_eq!(err.code(), "missing_file");
        assert!(matches!(events[..], [LoadEvent::Started { .. }]));
    }

    #[test]
    fn tiny_model_loads_as_planned_with_events_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let profile = HardwareProfile::detect(&Default::default());
        let mut events = vec![];
        let model = load(
            tiny(),
            &RunChoices::default(),
            &profile,
            &places(dir.path()),
            |e| events.push(e),
        )
        .unwrap();
        let run = model.summary.run.clone().unwrap();
        // Small: the plan keeps it unquantized (f32 on the CPU), and that is what runs.
        assert_eq!(run.model.precision, Precision::F32);
        assert_eq!(run.converted_from, Some(Precision::F16));
        assert_eq!(run.model.threads, profile.cpu.physical_cores.max(1));
        assert_eq!(model.summary.files[0].sha256.len(), 64);
        assert_eq!(*model.engine.info(), run.model);
        let names: Vec<&str> = events
            .iter()
            .map(|e| match e {
                LoadEvent::Started { .. } => "started",
                LoadEvent::Planned { .. } => "planned",
                LoadEvent::Hashing { .. } => "hashing",
                LoadEvent::Quantizing { .. } => "quantizing",
                LoadEvent::CacheHit => "cache_hit",
                LoadEvent::LoadingWeights => "loading_weights",
            })
            .collect();
        assert_eq!(names, ["started", "planned", "hashing", "loading_weights"]);
    }
}
