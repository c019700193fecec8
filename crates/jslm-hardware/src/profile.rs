//! `HardwareProfile`: everything the plan needs to know about this machine, in one
//! serialisable value, so tests can build synthetic machines and the UI can show the real one.

use crate::apple::AppleGpu;
use crate::backend::{BackendStatus, BackendSupport};
use crate::cpu::CpuInfo;
use crate::cuda_libraries::CudaLibraryCheck;
use crate::disk::DiskSpace;
use crate::error::DetectionNote;
use crate::gpu_variant::VariantDecision;
use crate::memory::SystemMemory;
use crate::nvidia::NvidiaGpu;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// This machine, as detected at run time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HardwareProfile {
    /// `std::env::consts::OS`: "linux", "macos", "windows".
    pub os: String,
    pub cpu: CpuInfo,
    pub memory: SystemMemory,
    /// NVIDIA GPUs in NVML order; empty without an NVIDIA driver.
    pub nvidia_gpus: Vec<NvidiaGpu>,
    /// NVIDIA driver version when NVML loaded, e.g. "550.54.14".
    pub nvidia_driver: Option<String>,
    /// Newest CUDA version the NVIDIA driver supports (NVML's encoding: 12040 = 12.4).
    #[serde(default)]
    pub nvidia_driver_cuda: Option<u32>,
    /// Whether the libraries a `cuda` build needs load here; checked only when an NVIDIA GPU
    /// is present. The launcher starts the CUDA build only if they all do.
    #[serde(default)]
    pub cuda_libraries: Option<CudaLibraryCheck>,
    /// Whether this is the CUDA build, or why the CPU build runs (the launcher's decision,
    /// `gpu_variant`). `None` only in synthetic profiles.
    #[serde(default)]
    pub gpu_variant: Option<VariantDecision>,
    /// The Apple Silicon GPU, on Apple Silicon Macs.
    pub apple_gpu: Option<AppleGpu>,
    /// Which candle GPU backends this binary has and whether they initialise.
    pub backends: BackendSupport,
    /// Free space where models are stored; `None` when no directory was given or no
    /// filesystem was found (then a note says why).
    pub model_cache_disk: Option<DiskSpace>,
    /// Parts of detection that failed; the rest of the profile is still valid.
    pub notes: Vec<DetectionNote>,
}

/// What [`HardwareProfile::detect`] should look at.
#[derive(Clone, Debug, Default)]
pub struct DetectOptions {
    /// Directory models are downloaded to; its filesystem's free space is read.
    pub model_cache_dir: Option<PathBuf>,
    /// Create a candle CUDA/Metal device to prove the backend works (about a second and a
    /// few hundred MB of VRAM while it lasts). Only has an effect in `cuda`/`metal` builds.
    pub probe_backends: bool,
    /// VRAM a model this process has loaded holds, counted as free (see [`OwnVram`]).
    pub own_vram: Vec<OwnVram>,
}

/// VRAM that a model loaded by this process holds on one GPU. Plans made while it is loaded
/// (the window's model list, the hardware view) count it as free: loading any model releases
/// it first, and without this the running model's own row would show a worse plan than the
/// one that runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnVram {
    pub cuda_ordinal: u32,
    pub bytes: u64,
}

impl HardwareProfile {
    /// Detects this machine. Never fails: an unreadable part becomes a note.
    pub fn detect(options: &DetectOptions) -> Self {
        let mut notes = Vec::new();
        let cpu = CpuInfo::detect();
        let memory = SystemMemory::detect();
        let nvidia = crate::nvidia::scan();
        notes.extend(nvidia.problems.iter().map(DetectionNote::from));
        let cuda_libraries = crate::gpu_variant::libraries_for(&nvidia.gpus);
        let gpu_variant = crate::gpu_variant::decide_here(&nvidia, cuda_libraries.as_ref());
        let apple_gpu = crate::apple::detect(&cpu.brand, memory.total_bytes);
        let (backends, backend_errors) = BackendSupport::detect(options.probe_backends);
        notes.extend(backend_errors.iter().map(DetectionNote::from));
        let model_cache_disk = options.model_cache_dir.as_deref().and_then(|dir| {
            DiskSpace::detect(dir)
                .map_err(|err| notes.push(DetectionNote::from(&err)))
                .ok()
        });
        let mut profile = Self {
            os: std::env::consts::OS.to_owned(),
            cpu,
            memory,
            nvidia_gpus: nvidia.gpus,
            nvidia_driver: nvidia.driver_version,
            nvidia_driver_cuda: nvidia.driver_cuda_version,
            cuda_libraries,
            gpu_variant: Some(gpu_variant),
            apple_gpu,
            backends,
            model_cache_disk,
            notes,
        };
        profile.count_as_free(&options.own_vram);
        if let Some(built) = crate::backend::built_compute_capability() {
            profile.refuse_gpus_older_than(built);
        }
        profile
    }

    /// Marks CUDA unusable when the GPU the plan would pick is older than the architecture this
    /// build's kernels were compiled for (`backend::built_compute_capability`). Without this
    /// the plan chose it, and the load failed with an error that blamed the model file, or
    /// generation failed: an RTX 3060 (8.6) under the default build for 9.0, say. The plan then
    /// runs on the CPU and says why, as for any CUDA that did not start.
    pub fn refuse_gpus_older_than(&mut self, built: (u32, u32)) {
        if !self.backends.cuda.usable() {
            return;
        }
        let Some(gpu) = crate::plan::best_cuda_gpu(self) else {
            return;
        };
        let Some(cc) = gpu.compute_capability.filter(|&cc| cc < built) else {
            return;
        };
        let message = format!(
            "this CUDA build's kernels are for compute capability {}.{} and newer; the {} is \
             {}.{}. A build for it: CUDA_COMPUTE_CAP={}{} bash scripts/build-cuda.sh",
            built.0, built.1, gpu.name, cc.0, cc.1, cc.0, cc.1
        );
        self.backends.cuda = BackendStatus::Failed { message };
    }

    /// Adds what this process's model holds back to its GPU's free VRAM (never above the
    /// GPU's total).
    pub fn count_as_free(&mut self, own: &[OwnVram]) {
        for o in own {
            if let Some(gpu) = self
                .nvidia_gpus
                .iter_mut()
                .find(|g| g.cuda_ordinal == Some(o.cuda_ordinal))
            {
                gpu.free_vram_bytes = gpu
                    .free_vram_bytes
                    .saturating_add(o.bytes)
                    .min(gpu.total_vram_bytes);
            }
        }
    }
}
