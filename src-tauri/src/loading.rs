//! Loading a model for the app: find its files, record their hashes, pick how to load it
//! (in-app quantization for big safetensors on the CPU), load, and report progress.
//!
//! Runs on a blocking thread; knows nothing of Tauri (the command forwards [`LoadEvent`]s to
//! a channel).

use crate::error::AppResult;
use crate::fingerprint::FingerprintCache;
use crate::host::LoadedModel;
use crate::model_summary::ModelSummary;
use crate::settings::QuantizationChoice;
use jslm_engine::{
    Device, Engine, LoadOptions, LoadProgress, ModelFiles, Quantization, WeightsFormat,
};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Safetensors larger than this are quantized to Q4_K_M under `QuantizationChoice::Auto`:
/// the 7B model is 14.5 GB in bf16 and would need 29 GB as f32 on the CPU. 4 GiB keeps small
/// test models unquantized.
pub const AUTO_QUANTIZE_ABOVE_BYTES: u64 = 4 << 30;

/// Streamed to the UI while a model loads, in order: `started`, zero or more `hashing`,
/// zero or more `quantizing` or one `cache_hit`, then `loading_weights`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", content = "data", rename_all = "snake_case")]
pub enum LoadEvent {
    Started {
        path: PathBuf,
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

/// The in-app quantization for `weights` under `choice`; GGUFs load as they are.
pub fn choose_quantization(
    choice: QuantizationChoice,
    weights: &WeightsFormat,
) -> Option<Quantization> {
    let WeightsFormat::Safetensors { shards, .. } = weights else {
        return None;
    };
    match choice {
        QuantizationChoice::None => None,
        QuantizationChoice::Q4KM => Some(Quantization::Q4KM),
        QuantizationChoice::Q80 => Some(Quantization::Q8_0),
        QuantizationChoice::Auto => {
            let bytes: u64 = shards
                .iter()
                .filter_map(|s| std::fs::metadata(s).ok())
                .map(|m| m.len())
                .sum();
            (bytes > AUTO_QUANTIZE_ABOVE_BYTES).then_some(Quantization::Q4KM)
        }
    }
}

/// Where loading keeps its files.
#[derive(Debug, Clone)]
pub struct LoadPlaces {
    /// In-app quantized GGUFs (shared with the CLI's cache).
    pub quantized_dir: PathBuf,
    pub fingerprints: PathBuf,
}

/// Loads `path` on the CPU, calling `progress` as it goes.
pub fn load(
    path: &Path,
    choice: QuantizationChoice,
    places: &LoadPlaces,
    mut progress: impl FnMut(LoadEvent),
) -> AppResult<LoadedModel> {
    progress(LoadEvent::Started {
        path: path.to_path_buf(),
    });
    let files = ModelFiles::locate(path, None)?;
    let shards = match &files.weights {
        WeightsFormat::Safetensors { shards, .. } => shards.clone(),
        WeightsFormat::Gguf { file } => vec![file.clone()],
    };
    let provenance =
        FingerprintCache::new(places.fingerprints.clone()).provenance(&shards, |file| {
            progress(LoadEvent::Hashing {
                file: file
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            })
        })?;
    let quantize = choose_quantization(choice, &files.weights);
    let options = LoadOptions {
        device: Device::Cpu,
        dtype: None,
        quantize,
        quantized_dir: Some(places.quantized_dir.clone()),
        tokenizer: None,
    };
    let engine = Engine::load(path, &options, |p| match p {
        // The engine hashes the source again to name its quantized cache file. Reported as
        // hashing the first file, so that a long wait is explained rather than frozen.
        LoadProgress::Hashing => progress(LoadEvent::Hashing {
            file: shards
                .first()
                .and_then(|s| s.file_name())
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
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

    #[test]
    fn quantization_choice_table() {
        let dir = tempfile::tempdir().unwrap();
        let small = dir.path().join("model.safetensors");
        std::fs::write(&small, b"0123").unwrap();
        let st = WeightsFormat::Safetensors {
            config: dir.path().join("config.json"),
            shards: vec![small],
        };
        let gguf = WeightsFormat::Gguf {
            file: dir.path().join("m.gguf"),
        };
        use QuantizationChoice as C;
        let cases = [
            (C::Auto, &st, None),
            (C::None, &st, None),
            (C::Q4KM, &st, Some(Quantization::Q4KM)),
            (C::Q80, &st, Some(Quantization::Q8_0)),
            (C::Auto, &gguf, None),
            (C::Q4KM, &gguf, None),
        ];
        for (choice, weights, expected) in cases {
            assert_eq!(
                choose_quantization(choice, weights),
                expected,
                "{choice:?}"
            );
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
        let places = LoadPlaces {
            quantized_dir: dir.path().join("q"),
            fingerprints: dir.path().join("h.json"),
        };
        let mut events = vec![];
        let err = load(
            &dir.path().join("nope"),
            QuantizationChoice::Auto,
            &places,
            |e| events.push(e),
        )
        .unwrap_err();
        assert_eq!(err.code(), "missing_file");
        assert!(matches!(events[..], [LoadEvent::Started { .. }]));
    }
}
