//! Loading a model for the app: plan it for this machine (precision, threads, context, fit),
//! record its files' hashes, load it as planned, and report progress.
//!
//! Runs on a blocking thread; knows nothing of Tauri (the command forwards [`LoadEvent`]s to
//! a channel).

use crate::error::AppResult;
use crate::fingerprint::FingerprintCache;
use crate::host::LoadedModel;
use crate::model_summary::ModelSummary;
use crate::plan::{self, PrecisionChoice};
use jslm_engine::{DType, Device, Engine, LoadOptions, LoadProgress, ModelFiles, WeightsFormat};
use jslm_hardware::{FitReport, HardwareProfile, Precision};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Streamed to the UI while a model loads, in order: `started`, `planned`, zero or more
/// `hashing`, zero or more `quantizing` or one `cache_hit`, then `loading_weights`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", content = "data", rename_all = "snake_case")]
pub enum LoadEvent {
    Started {
        path: PathBuf,
    },
    /// What the device plan chose for this model on this machine.
    Planned {
        precision: Precision,
        threads: u32,
        context_tokens: u32,
        fit: FitReport,
    },
    /// Computing the sha256 of a weights file for the history (once per file).
    Hashing {
        file: String,
    },
    /// In-app quantization; bytes are of the source weights.
    Quantizing {
        tensors_done: usize,
        tensors_total: usize,
        bytes_done: u64,
        bytes_total: u64,
    },
    /// A quantized copy made earlier is reused.
    CacheHit,
    LoadingWeights,
}

/// Turns what the user typed into a path: trims it and expands a leading `~/`.
pub fn normalize_path(text: &str) -> PathBuf {
    let text = text.trim();
    if let Some(rest) = text.strip_prefix("~/") {
        if let Some(home) = std::env::var_os("HOME") {
            return Path::new(&home).join(rest);
        }
    }
    PathBuf::from(text)
}

/// Where loading keeps its files.
#[derive(Debug, Clone)]
pub struct LoadPlaces {
    /// In-app quantized GGUFs (shared with the CLI's cache).
    pub quantized_dir: PathBuf,
    pub fingerprints: PathBuf,
}

/// What to load and how.
#[derive(Debug, Clone)]
pub struct LoadRequest {
    pub path: PathBuf,
    /// `tokenizer.json` when it is not beside the weights (a GGUF from the catalog).
    pub tokenizer: Option<PathBuf>,
    pub choice: PrecisionChoice,
    /// Load even when the plan estimates that the model will not fit.
    pub force: bool,
}

/// Element type for safetensors weights the plan asks for; `None` leaves the engine's default
/// (f32 on the CPU) and is what a quantized plan uses.
fn dtype(precision: Precision) -> Option<DType> {
    match precision {
        Precision::F32 => Some(DType::F32),
        Precision::Bf16 => Some(DType::BF16),
        Precision::F16 => Some(DType::F16),
        Precision::Q4KM | Precision::Q8_0 => None,
    }
}

/// Plans and loads a model on the CPU, calling `progress` as it goes. Refused with
/// `will_not_fit` before anything is read when the plan's estimate exceeds the memory, unless
/// forced.
pub fn load(
    request: &LoadRequest,
    profile: &HardwareProfile,
    places: &LoadPlaces,
    mut progress: impl FnMut(LoadEvent),
) -> AppResult<LoadedModel> {
    let path = request.path.as_path();
    progress(LoadEvent::Started {
        path: path.to_path_buf(),
    });
    let spec = plan::model_spec(path)?;
    let device_plan = plan::plan_model(profile, &spec, request.choice, request.force);
    plan::check_fit(&device_plan, request.force)?;
    progress(LoadEvent::Planned {
        precision: device_plan.precision,
        threads: device_plan.threads,
        context_tokens: device_plan.context_tokens,
        fit: device_plan.fit.clone(),
    });
    let files = ModelFiles::locate(path, request.tokenizer.as_deref())?;
    let (shards, quantize, dtype) = match &files.weights {
        WeightsFormat::Safetensors { shards, .. } => (
            shards.clone(),
            plan::quantization(&device_plan),
            dtype(device_plan.precision),
        ),
        WeightsFormat::Gguf { file } => (vec![file.clone()], None, None),
    };
    let file_name = |p: &Path| {
        p.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let provenance =
        FingerprintCache::new(places.fingerprints.clone()).provenance(&shards, |file| {
            progress(LoadEvent::Hashing {
                file: file_name(file),
            })
        })?;
    let options = LoadOptions {
        device: Device::Cpu,
        dtype,
        quantize,
        quantized_dir: Some(places.quantized_dir.clone()),
        tokenizer: request.tokenizer.clone(),
        prefill_chunk_tokens: device_plan.prefill_chunk_tokens.max(1) as usize,
        context_tokens: Some(device_plan.context_tokens as usize),
        gguf_runner: jslm_engine::GgufRunner::from_env(),
    };
    let first = shards.first().map(|s| file_name(s)).unwrap_or_default();
    let engine = Engine::load(path, &options, |p| match p {
        // The engine hashes the source again to name its quantized cache file. Reported as
        // hashing, so that a long wait is explained rather than frozen.
        LoadProgress::Hashing => progress(LoadEvent::Hashing {
            file: first.clone(),
        }),
        LoadProgress::Quantizing(q) => progress(LoadEvent::Quantizing {
            tensors_done: q.tensors_done,
            tensors_total: q.tensors_total,
            bytes_done: q.bytes_done,
            bytes_total: q.bytes_total,
        }),
        LoadProgress::QuantizedCacheHit(_) => progress(LoadEvent::CacheHit),
        LoadProgress::LoadingWeights => progress(LoadEvent::LoadingWeights),
    })?;
    let summary = ModelSummary::new(path, provenance, engine.info(), quantize.map(|q| q.name()));
    Ok(LoadedModel { engine, summary })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn places(dir: &Path) -> LoadPlaces {
        LoadPlaces {
            quantized_dir: dir.join("q"),
            fingerprints: dir.join("h.json"),
        }
    }

    #[test]
    fn dtype_table() {
        let cases = [
            (Precision::F32, Some(DType::F32)),
            (Precision::Bf16, Some(DType::BF16)),
            (Precision::F16, Some(DType::F16)),
            (Precision::Q4KM, None),
            (Precision::Q8_0, None),
        ];
        for (precision, expected) in cases {
            assert_eq!(dtype(precision), expected, "{precision:?}");
        }
    }

    #[test]
    fn paths_are_trimmed_and_home_expanded() {
        assert_eq!(normalize_path("  /m/x \n"), PathBuf::from("/m/x"));
        if let Some(home) = std::env::var_os("HOME") {
            assert_eq!(normalize_path("~/m"), Path::new(&home).join("m"));
        }
    }

    #[test]
    fn missing_model_is_reported_with_its_code() {
        let dir = tempfile::tempdir().unwrap();
        let mut events = vec![];
        let request = LoadRequest {
            path: dir.path().join("nope"),
            tokenizer: None,
            choice: PrecisionChoice::Auto,
            force: false,
        };
        let profile = HardwareProfile::detect(&Default::default());
        let err = load(&request, &profile, &places(dir.path()), |e| events.push(e)).unwrap_err();
        assert_eq!(err.code(), "missing_file");
        assert!(matches!(events[..], [LoadEvent::Started { .. }]));
    }

    #[test]
    fn tiny_model_loads_as_planned_with_events_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let tiny = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/tiny-mistral");
        let profile = HardwareProfile::detect(&Default::default());
        let request = LoadRequest {
            path: tiny,
            tokenizer: None,
            choice: PrecisionChoice::F32,
            force: false,
        };
        let mut events = vec![];
        let model = load(&request, &profile, &places(dir.path()), |e| events.push(e)).unwrap();
        assert_eq!(model.summary.precision, "f32");
        assert_eq!(model.summary.quantization, None);
        assert_eq!(model.summary.files[0].sha256.len(), 64);
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
