//! Hardware detection and the device plan for JSLM.
//!
//! [`HardwareProfile::detect`] reads this machine at run time (CPU features, RAM, NVIDIA GPUs
//! through a dlopened NVML, the Apple GPU, free disk space); [`plan`] turns a profile, a
//! [`ModelSpec`] and the user's [`PlanSettings`] into a [`DevicePlan`]: device, precision,
//! weight file, threads, context, and a memory estimate with a [`FitLevel`]. Planning is a
//! pure function, so it is table-tested over synthetic machines. [`report`] renders both for
//! `jslm doctor`.
//!
//! The default build depends on no GPU library; the `cuda` and `metal` features add a probe
//! that a candle device really initialises.

pub mod apple;
pub mod backend;
pub mod cpu;
pub mod cuda_libraries;
pub mod device;
pub mod disk;
pub mod error;
pub mod estimate;
pub mod fit;
pub mod gpu_variant;
pub mod memory;
pub mod model;
pub mod nvidia;
pub mod plan;
pub mod profile;
pub mod refusal;
pub mod report;
pub mod settings;
pub mod split;
pub mod units;
pub mod warning;

pub use apple::{AppleGpu, WorkingSetSource};
pub use backend::{BackendStatus, BackendSupport};
pub use cpu::{CpuFeatures, CpuInfo};
pub use cuda_libraries::{check_cuda_libraries, CudaLibraryCheck};
pub use device::{ComputeDevice, DeviceKind};
pub use disk::DiskSpace;
pub use error::{DetectionNote, HardwareError};
pub use estimate::{activation_bytes, estimate_memory, kv_cache_bytes_per_token, MemoryEstimate};
pub use fit::{FitLevel, FitReport, MemoryPool};
pub use gpu_variant::{StayReason, VariantDecision, CUDA_VARIANT_MAJOR};
pub use jslm_core::{Container, ModelShape, Precision};
pub use memory::SystemMemory;
pub use model::{ModelSpec, WeightFile, IN_APP_QUANTIZATIONS};
pub use nvidia::{vram_use, NvidiaGpu, VramUse};
pub use plan::{
    plan, DevicePlan, DownloadCheck, PlanReason, GPU_QUANTIZED_LADDER, SMALL_MODEL_BYTES,
};
pub use profile::{DetectOptions, HardwareProfile, OwnVram};
pub use refusal::{OverrideSetting, RefusalReason, RefusedOverride};
pub use report::{doctor_report, DoctorReport, ModelPlans};
pub use settings::PlanSettings;
pub use split::LayerSplit;
pub use warning::PlanWarning;
