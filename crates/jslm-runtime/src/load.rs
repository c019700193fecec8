//! Loading a planned model: the engine's options come from the plan (device, precision,
//! threads, context, prefill chunk), never from a front end, and the report says what runs.

use crate::error::{Result, RuntimeError};
use crate::planning::{plan, Planned};
use jslm_core::{ErrorCode, Precision};
use jslm_engine::{Engine, GgufRunner, LoadOptions, LoadProgress, ModelInfo};
use jslm_hardware::{
    BackendStatus, ComputeDevice, FitReport, HardwareProfile, LayerSplit, PlanReason, VramUse,
};
use serde::Serialize;
use std::path::PathBuf;

/// Where loading keeps its files.
#[derive(Debug, Clone)]
pub struct LoadPlaces {
    /// In-app quantized GGUFs, shared by the CLI and the window (`<cache>/jslm/quantized`).
    pub quantized_dir: PathBuf,
}

impl LoadPlaces {
    /// The one file of remembered sha256 of model files (`<cache>/jslm/file-hashes.json`,
    /// beside the quantized copies): the quantizer's sources, the window's history
    /// fingerprints and the copies found in other apps' folders, so that no file is read twice
    /// for its hash, by the window or the CLI.
    pub fn hash_store(&self) -> PathBuf {
        hash_store_in(self.quantized_dir.parent().unwrap_or(&self.quantized_dir))
    }
}

/// [`LoadPlaces::hash_store`] for the jslm cache folder `cache` (`<cache>/jslm`).
pub fn hash_store_in(cache: &std::path::Path) -> PathBuf {
    cache.join("file-hashes.json")
}

/// Reported while a model loads, in order: `started` (from the front end, before planning),
/// `planned`, zero or more `hashing`, zero or more `quantizing` or one `cache_hit`, then
/// `loading_weights`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", content = "data", rename_all = "snake_case")]
pub enum LoadEvent {
    Started {
        path: PathBuf,
    },
    /// What the device plan chose for this model on this machine, and why.
    Planned {
        device: ComputeDevice,
        device_name: String,
        precision: Precision,
        reason: PlanReason,
        threads: u32,
        context_tokens: u32,
        fit: FitReport,
        /// The blocks on the GPU when the model is split between it and the CPU.
        #[serde(skip_serializing_if = "Option::is_none")]
        split: Option<LayerSplit>,
    },
    /// Computing the sha256 of a weights file (to name the in-app quantized copy, or for the
    /// window's history).
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

/// What runs, as the CLI's `--json`, the window's model panel and each history entry say it:
/// the engine's own account (device, precision, threads, context: the loaded truth, not the
/// request), the device's name, why the plan chose this precision, and what it was converted
/// from.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct RunReport {
    #[serde(flatten)]
    pub model: ModelInfo,
    /// The CPU's brand or the GPU's name.
    pub device_name: String,
    /// Why the plan chose this precision.
    pub reason: PlanReason,
    /// Set when the app converted or quantized the model's files (e.g. BF16 safetensors run
    /// as Q4_K_M): their stored precision.
    pub converted_from: Option<Precision>,
    /// Set when the planned GPU failed to start and the model runs on the CPU instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<DeviceFallback>,
    /// On an NVIDIA GPU: its VRAM in use right after the load (the model, its KV cache and
    /// whatever else was running) and in total.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vram: Option<VramUse>,
    /// On an NVIDIA GPU: what the load took (free before it, as planned, less free after), so
    /// that plans made while it runs can count it as free (`jslm_hardware::OwnVram`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vram_taken_bytes: Option<u64>,
}

/// A planned GPU that did not start (driver missing or too old, out of memory, a build
/// without its backend): the device, and the reason its start-up gave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct DeviceFallback {
    pub device: ComputeDevice,
    pub device_name: String,
    pub message: String,
}

/// A model on its device, and what runs.
#[derive(Debug)]
pub struct LoadedModel {
    pub engine: Engine,
    pub report: RunReport,
    pub planned: Planned,
}

/// The local server serves a loaded model through `Arc<dyn AsRef<Engine>>`.
impl AsRef<Engine> for LoadedModel {
    fn as_ref(&self) -> &Engine {
        &self.engine
    }
}

impl Planned {
    /// The engine's options: everything from the plan.
    pub fn load_options(&self, places: &LoadPlaces) -> LoadOptions {
        let plan = &self.plan;
        LoadOptions {
            device: plan.device,
            precision: Some(plan.precision),
            threads: Some(plan.threads.max(1) as usize),
            quantized_dir: Some(places.quantized_dir.clone()),
            source_hashes: Some(places.hash_store()),
            tokenizer: self.source.tokenizer.clone(),
            prefill_chunk_tokens: plan.prefill_chunk_tokens.max(1) as usize,
            context_tokens: Some(plan.context_tokens as usize),
            gguf_runner: GgufRunner::Mapped,
            isa: None,
            kv_cache: Default::default(),
            gpu_layers: plan.split.as_ref().map(|s| s.gpu_layers as usize),
        }
    }

    /// The `planned` event for this plan (front ends show it before loading starts).
    pub fn event(&self) -> LoadEvent {
        let plan = &self.plan;
        LoadEvent::Planned {
            device: plan.device,
            device_name: self.device_name.clone(),
            precision: plan.precision,
            reason: plan.reason.clone(),
            threads: plan.threads,
            context_tokens: plan.context_tokens,
            fit: plan.fit.clone(),
            split: plan.split.clone(),
        }
    }

    /// Loads the model as planned, reporting progress (from `hashing` on). When the plan chose
    /// a GPU by itself and that GPU does not start, the model is planned again without it and
    /// loaded there (a `planned` event says so, the report's `fallback` says why): one install
    /// works with or without a working driver. A device the user asked for fails instead.
    pub fn load(
        self,
        places: &LoadPlaces,
        mut progress: impl FnMut(LoadEvent),
    ) -> Result<LoadedModel> {
        let device = self.plan.device;
        let may_fall_back = device != ComputeDevice::Cpu && self.choices.device.is_none();
        let retry = may_fall_back.then(|| {
            (
                self.profile.clone(),
                self.source.clone(),
                self.choices.clone(),
            )
        });
        let device_name = self.device_name.clone();
        match self.load_on_planned_device(places, &mut progress) {
            Err(e)
                if matches!(
                    e.code(),
                    ErrorCode::DeviceUnavailable | ErrorCode::DeviceOutOfMemory
                ) && retry.is_some() =>
            {
                let (profile, source, choices) = retry.expect("checked above");
                let message = e.to_string();
                let replanned = plan(&without_device(profile, device, &message), source, &choices)
                    .map_err(|e| match e {
                        // Say why the CPU had to take it: the GPU's failure, not only the RAM.
                        RuntimeError::WillNotFit {
                            message: fit,
                            needed_bytes,
                            available_bytes,
                        } => RuntimeError::WillNotFit {
                            message: format!(
                                "{fit} on the CPU alone, because {device_name} did not start: \
                                 {message}"
                            ),
                            needed_bytes,
                            available_bytes,
                        },
                        other => other,
                    })?;
                progress(replanned.event());
                let mut loaded = replanned.load_on_planned_device(places, &mut progress)?;
                loaded.report.fallback = Some(DeviceFallback {
                    device,
                    device_name,
                    message,
                });
                Ok(loaded)
            }
            other => other,
        }
    }

    fn load_on_planned_device(
        self,
        places: &LoadPlaces,
        mut progress: impl FnMut(LoadEvent),
    ) -> Result<LoadedModel> {
        let first_file = first_file_name(&self);
        let engine = Engine::load_described(&self.description, &self.load_options(places), |p| {
            progress(match p {
                // The engine hashes the source to name its quantized cache file.
                LoadProgress::Hashing => LoadEvent::Hashing {
                    file: first_file.clone(),
                },
                LoadProgress::Quantizing(q) => LoadEvent::Quantizing {
                    tensors_done: q.tensors_done,
                    tensors_total: q.tensors_total,
                    bytes_done: q.bytes_done,
                    bytes_total: q.bytes_total,
                },
                LoadProgress::QuantizedCacheHit(_) => LoadEvent::CacheHit,
                LoadProgress::LoadingWeights => LoadEvent::LoadingWeights,
            })
        })?;
        let report = RunReport::new(&self, engine.info());
        Ok(LoadedModel {
            engine,
            report,
            planned: self,
        })
    }
}

impl RunReport {
    /// A report of a small f32 model on 2 CPU threads, as a load would give it, for the front
    /// ends' tests (which must not build a device or thread count themselves).
    #[cfg(any(test, feature = "test-fixtures"))]
    pub fn fixture(path: &std::path::Path) -> Self {
        Self {
            model: ModelInfo {
                path: path.to_path_buf(),
                container: jslm_core::Container::Safetensors,
                precision: Precision::F32,
                vocab_size: 32000,
                context_length: 4096,
                num_layers: 2,
                hidden_size: 64,
                device: ComputeDevice::Cpu,
                gpu_layers: None,
                threads: 2,
            },
            device_name: "test CPU".into(),
            reason: PlanReason::Requested,
            converted_from: None,
            fallback: None,
            vram: None,
            vram_taken_bytes: None,
        }
    }

    fn new(planned: &Planned, info: &ModelInfo) -> Self {
        let stored = planned.description.stored;
        let (vram, vram_taken_bytes) = match info.device {
            ComputeDevice::Cuda { ordinal, .. } => {
                let after = jslm_hardware::vram_use(ordinal);
                let free_before = planned
                    .profile
                    .nvidia_gpus
                    .iter()
                    .find(|g| g.cuda_ordinal == Some(ordinal))
                    .map(|g| g.free_vram_bytes);
                let taken = match (free_before, after) {
                    (Some(before), Some(after)) => Some(vram_taken(before, after)),
                    _ => None,
                };
                (after, taken)
            }
            _ => (None, None),
        };
        Self {
            model: info.clone(),
            device_name: planned.device_name.clone(),
            reason: planned.plan.reason.clone(),
            converted_from: (info.precision != stored
                || info.container != planned.description.container)
                .then_some(stored),
            fallback: None,
            vram,
            vram_taken_bytes,
        }
    }

    /// What this model holds on its GPU, for plans made while it is loaded.
    pub fn own_vram(&self) -> Option<jslm_hardware::OwnVram> {
        match (self.model.device, self.vram_taken_bytes) {
            (ComputeDevice::Cuda { ordinal, .. }, Some(bytes)) => Some(jslm_hardware::OwnVram {
                cuda_ordinal: ordinal,
                bytes,
            }),
            _ => None,
        }
    }
}

/// VRAM a load took: free before it less free after it (never below 0: another program may
/// have freed some meanwhile).
fn vram_taken(free_before: u64, after: VramUse) -> u64 {
    free_before.saturating_sub(after.total_bytes.saturating_sub(after.used_bytes))
}

/// `profile` with the backend of `device` marked as failed with `message`, so that planning
/// again skips it (with a `cuda_unavailable`/`metal_unavailable` warning).
fn without_device(
    mut profile: HardwareProfile,
    device: ComputeDevice,
    message: &str,
) -> HardwareProfile {
    let failed = BackendStatus::Failed {
        message: message.to_owned(),
    };
    match device {
        ComputeDevice::Cuda { .. } => profile.backends.cuda = failed,
        ComputeDevice::Metal => profile.backends.metal = failed,
        ComputeDevice::Cpu => {}
    }
    profile
}

fn first_file_name(planned: &Planned) -> String {
    let path = match &planned.description.weights {
        jslm_engine::WeightsFormat::Safetensors { shards, .. } => shards.first().cloned(),
        jslm_engine::WeightsFormat::Gguf { file } => Some(file.clone()),
    };
    path.and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_gpu_load_took_is_given_to_later_plans() {
        const GIB: u64 = 1 << 30;
        // 7 GiB free before; after, 6.5 of 8 GiB in use (1.5 free): the load took 5.5 GiB.
        let after = VramUse {
            used_bytes: 13 * GIB / 2,
            total_bytes: 8 * GIB,
        };
        assert_eq!(vram_taken(7 * GIB, after), 11 * GIB / 2);
        // Another program freed more than the load took: nothing, not a wrap-around.
        assert_eq!(vram_taken(GIB, after), 0);
        let mut report = RunReport::fixture(std::path::Path::new("/m"));
        report.vram_taken_bytes = Some(5 * GIB);
        assert_eq!(report.own_vram(), None, "a CPU model holds no VRAM");
        report.model.device = ComputeDevice::Cuda {
            ordinal: 1,
            nvml_index: 0,
        };
        assert_eq!(
            report.own_vram(),
            Some(jslm_hardware::OwnVram {
                cuda_ordinal: 1,
                bytes: 5 * GIB
            })
        );
        // Older history entries have no such field.
        let mut json = serde_json::to_value(&report).unwrap();
        json.as_object_mut().unwrap().remove("vram_taken_bytes");
        let read: RunReport = serde_json::from_value(json).unwrap();
        assert_eq!(read.vram_taken_bytes, None);
    }
}
