//! `DevicePlan`: where and how a model runs, as a pure function of the hardware profile, the
//! model and the user's settings (table-tested in `plan_tests.rs`).
//!
//! Policy (issue 4):
//! 1. A device the user asked for is used if this build and machine can run it; on a GPU the
//!    precision steps down bf16/f16 → Q8_0 → Q4_K_M to the first that fits comfortably
//!    (else tightly).
//! 2. Otherwise: CUDA on the visible NVIDIA GPU with the most free VRAM, bf16 (f16 below
//!    compute capability 8.0); then Metal, bf16 on M2+ (f16 on M1), in its working set.
//! 3. On a GPU the precision steps down bf16/f16 → Q8_0 → Q4_K_M (issue 11) to the first that
//!    fits comfortably at the full context, else at a shorter automatic context, else the
//!    first that fits tightly ([`GPU_QUANTIZED_LADDER`]): GPU decoding is several times
//!    faster than the CPU's, so a GPU with room for a quantized file beats the CPU.
//! 4. Then the CPU: Q4_K_M, or Q8_0 when the user prefers quality, whichever fits
//!    comfortably first, else tightly; threads = physical cores. The engine runs CPU GGUFs
//!    from a memory map (`jslm_engine`'s `gguf_cpu`), so the weights cost the file's size.
//!    A small model (f32 weights up to [`SMALL_MODEL_BYTES`]) runs in f32 instead: quantizing
//!    it would save little memory and cost accuracy.
//! 5. With no context set, the context may shrink 4096 → 2048 → 1024: to the longest that
//!    fits comfortably, else the longest that fits tightly, before "will not fit".
//! 6. With a CUDA GPU too small for the whole model, the CPU plan puts its last blocks there
//!    where at least a quarter fit comfortably, and counts in RAM only the CPU's part, so a
//!    machine whose RAM cannot hold the model alone may still hold its part
//!    (`plan_split.rs`; the arithmetic in [`crate::split`]).
//! 7. Only precisions the model's files can give are planned ([`ModelSpec::source_for`]): a
//!    GGUF runs at its own precision; safetensors load as floats or are quantized in the app.
//!
//! Every plan says why it chose its precision ([`PlanReason`]).

use crate::apple::AppleGpu;
use crate::backend::BackendStatus;
use crate::device::{ComputeDevice, DeviceKind};
use crate::error::HardwareError;
use crate::estimate::{estimate_memory, MemoryEstimate};
use crate::fit::{FitLevel, FitReport, MemoryPool};
use crate::model::{ModelSpec, WeightFile};
use crate::nvidia::NvidiaGpu;
use crate::profile::HardwareProfile;
use crate::refusal::{OverrideSetting, RefusalReason, RefusedOverride};
use crate::settings::{PlanSettings, DEFAULT_CONTEXT_TOKENS, MIN_AUTO_CONTEXT_TOKENS};
use crate::split::LayerSplit;
use crate::warning::PlanWarning;
use jslm_core::Precision;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Models whose f32 weights are at most this big (about 250 M parameters) run unquantized on
/// the CPU: quantizing them would save under a gigabyte and cost accuracy.
pub const SMALL_MODEL_BYTES: u64 = crate::units::GB;

/// Quantized precisions a GPU too small for bf16/f16 tries, best quality first.
pub const GPU_QUANTIZED_LADDER: [Precision; 2] = [Precision::Q8_0, Precision::Q4KM];

/// Why the plan runs the precision it does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PlanReason {
    /// The user asked for this precision.
    Requested,
    /// The model's file is stored at this precision and nothing else can be made from it (a
    /// GGUF runs as it is).
    AsStored,
    /// A small model: unquantized, since quantizing would save little and cost accuracy.
    SmallModel { weight_bytes: u64 },
    /// The device's first choice: bf16/f16 on a GPU; Q4_K_M on a CPU (fast, close to Q8_0).
    DeviceDefault,
    /// Q8_0 because the user prefers quality and it fits comfortably.
    QualityPreferred,
    /// A wider precision (`preferred`) does not fit comfortably, this one does.
    SmallerToFit { preferred: Precision },
}

impl fmt::Display for PlanReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Requested => f.write_str("the precision you chose"),
            Self::AsStored => f.write_str("the precision the model file is stored in"),
            Self::SmallModel { weight_bytes } => write!(
                f,
                "a small model ({} in f32): quantizing would save little and cost accuracy",
                crate::units::format_gb(*weight_bytes)
            ),
            Self::DeviceDefault => f.write_str("the best precision for this device"),
            Self::QualityPreferred => f.write_str("quality preferred, and it fits comfortably"),
            Self::SmallerToFit { preferred } => write!(
                f,
                "{preferred} does not fit comfortably, this smaller precision does"
            ),
        }
    }
}

/// Whether the weight file fits on the model cache's disk (if it is not downloaded yet).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DownloadCheck {
    /// Size of the weight file, in bytes.
    pub file_bytes: u64,
    /// Free space on the cache's filesystem, in bytes.
    pub available_bytes: u64,
    pub enough_space: bool,
}

/// How to load and run one model on this machine.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DevicePlan {
    /// `ModelSpec::name` of the model planned for.
    pub model: String,
    pub device: ComputeDevice,
    /// The precision the weights run at.
    pub precision: Precision,
    /// Why this precision.
    pub reason: PlanReason,
    /// The weight file to download/load (and convert or quantize, when its precision differs).
    pub source: WeightFile,
    /// CPU threads for candle's thread pool.
    pub threads: u32,
    /// KV cache reserved for this many tokens.
    pub context_tokens: u32,
    /// Prompt tokens per forward pass; the estimate assumes the engine chunks prefill so.
    pub prefill_chunk_tokens: u32,
    pub memory: MemoryEstimate,
    pub fit: FitReport,
    /// `None` when the model cache's disk is unknown.
    pub download: Option<DownloadCheck>,
    /// Set when the model is split between `device` (a GPU too small for all of it) and the
    /// CPU; `memory` and `fit` are then the CPU's (RAM), the split has the GPU's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split: Option<LayerSplit>,
    pub warnings: Vec<PlanWarning>,
    /// Overrides not followed, with reasons; the plan used its own choice for those.
    pub refused: Vec<RefusedOverride>,
}

impl DevicePlan {
    /// The plan if the device and precision the user asked for were honoured, else the first
    /// such refusal as an error: for callers such as `jslm generate --device cuda` that must
    /// not silently run something else. (A thread count or context the plan adjusted stays a
    /// refusal note in the plan.)
    pub fn strict(self) -> Result<Self, HardwareError> {
        let choice = |r: &&RefusedOverride| {
            matches!(
                r.setting,
                OverrideSetting::Device | OverrideSetting::Precision | OverrideSetting::GpuLayers
            )
        };
        match self.refused.iter().find(choice) {
            None => Ok(self),
            Some(refusal) => Err(HardwareError::OverrideRefused {
                setting: refusal.setting.to_string(),
                requested: refusal.requested.clone(),
                reason: refusal.reason.to_string(),
            }),
        }
    }
}

/// Plans `model` on the machine described by `profile` under `settings`.
pub fn plan(profile: &HardwareProfile, model: &ModelSpec, settings: &PlanSettings) -> DevicePlan {
    let mut notes = Notes::default();
    let threads = resolve_threads(profile, settings, &mut notes);
    let context = resolve_context(model, settings, &mut notes);
    let planner = Planner {
        profile,
        model,
        settings,
        context,
    };

    let requested = settings
        .device
        .and_then(|kind| match target_for(profile, kind) {
            Ok(target) => planner.on_requested(target, &mut notes),
            Err(reason) => {
                notes.refuse(OverrideSetting::Device, kind.to_string(), reason);
                None
            }
        });
    let attempt = match requested {
        Some(attempt) => attempt,
        None => planner.automatic(&mut notes),
    };
    let attempt = match settings.gpu_layers {
        Some(blocks) => planner.with_gpu_layers(attempt, blocks, &mut notes),
        None => attempt,
    };
    planner.finish(attempt, threads, notes)
}

/// Warnings and refusals gathered while planning.
#[derive(Default)]
struct Notes {
    warnings: Vec<PlanWarning>,
    refused: Vec<RefusedOverride>,
}

impl Notes {
    fn refuse(&mut self, setting: OverrideSetting, requested: String, reason: RefusalReason) {
        self.refused.push(RefusedOverride {
            setting,
            requested,
            reason,
        });
    }
}

/// A device the model could go on, with the memory it has.
#[derive(Clone, Copy)]
enum Target<'a> {
    Cpu,
    Cuda(&'a NvidiaGpu),
    Metal(&'a AppleGpu),
}

impl Target<'_> {
    fn kind(&self) -> DeviceKind {
        match self {
            Self::Cpu => DeviceKind::Cpu,
            Self::Cuda(_) => DeviceKind::Cuda,
            Self::Metal(_) => DeviceKind::Metal,
        }
    }

    fn device(&self) -> ComputeDevice {
        match self {
            Self::Cpu => ComputeDevice::Cpu,
            Self::Cuda(gpu) => ComputeDevice::Cuda {
                ordinal: gpu.cuda_ordinal.unwrap_or(0),
                nvml_index: gpu.nvml_index,
            },
            Self::Metal(_) => ComputeDevice::Metal,
        }
    }

    fn memory(&self, profile: &HardwareProfile) -> (u64, MemoryPool) {
        match self {
            Self::Cpu => (profile.memory.available_bytes, MemoryPool::SystemRam),
            Self::Cuda(gpu) => (gpu.free_vram_bytes, MemoryPool::GpuVram),
            Self::Metal(gpu) => (gpu.working_set_bytes, MemoryPool::UnifiedWorkingSet),
        }
    }

    fn name(&self, profile: &HardwareProfile) -> String {
        match self {
            Self::Cpu => profile.cpu.brand.clone(),
            Self::Cuda(gpu) => gpu.name.clone(),
            Self::Metal(gpu) => gpu.name.clone(),
        }
    }

    /// The unquantized precision this device runs best: bf16 where supported, else f16.
    /// For the CPU, the quantized default.
    fn default_precision(&self) -> Precision {
        match self {
            Self::Cpu => Precision::Q4KM,
            Self::Cuda(gpu) if gpu.supports_bf16() => Precision::Bf16,
            Self::Metal(gpu) if gpu.supports_bf16 => Precision::Bf16,
            Self::Cuda(_) | Self::Metal(_) => Precision::F16,
        }
    }

    /// Why `precision` cannot run here, if it cannot. `force` overrides slowness, not
    /// missing kernels.
    fn precision_refusal(&self, precision: Precision, force: bool) -> Option<RefusalReason> {
        match (self, precision) {
            (Self::Cpu, Precision::Bf16 | Precision::F16 | Precision::F32) if !force => {
                Some(RefusalReason::SlowOnCpu { precision })
            }
            (Self::Cuda(gpu), Precision::Bf16) if !gpu.supports_bf16() => {
                Some(RefusalReason::NoBf16 {
                    device: DeviceKind::Cuda,
                })
            }
            (Self::Metal(gpu), Precision::Bf16) if !gpu.supports_bf16 => {
                Some(RefusalReason::NoBf16 {
                    device: DeviceKind::Metal,
                })
            }
            _ => None,
        }
    }
}

/// The CUDA GPU to use: the visible one with the most free VRAM (not simply GPU 0, which is
/// often the small display card).
pub(crate) fn best_cuda_gpu(profile: &HardwareProfile) -> Option<&NvidiaGpu> {
    profile
        .nvidia_gpus
        .iter()
        .filter(|gpu| gpu.cuda_ordinal.is_some())
        .max_by_key(|gpu| (gpu.free_vram_bytes, std::cmp::Reverse(gpu.cuda_ordinal)))
}

/// The target for an explicitly requested device, or why it cannot be used.
fn target_for(profile: &HardwareProfile, kind: DeviceKind) -> Result<Target<'_>, RefusalReason> {
    match kind {
        DeviceKind::Cpu => Ok(Target::Cpu),
        DeviceKind::Cuda => {
            if profile.nvidia_gpus.is_empty() {
                return Err(RefusalReason::NoNvidiaGpu);
            }
            backend_refusal(&profile.backends.cuda, DeviceKind::Cuda)?;
            best_cuda_gpu(profile)
                .map(Target::Cuda)
                .ok_or(RefusalReason::NoVisibleNvidiaGpu)
        }
        DeviceKind::Metal => {
            let gpu = profile
                .apple_gpu
                .as_ref()
                .ok_or(RefusalReason::NoAppleGpu)?;
            backend_refusal(&profile.backends.metal, DeviceKind::Metal)?;
            Ok(Target::Metal(gpu))
        }
    }
}

fn backend_refusal(status: &BackendStatus, kind: DeviceKind) -> Result<(), RefusalReason> {
    match (status, kind) {
        (BackendStatus::Available | BackendStatus::NotProbed, _) => Ok(()),
        (BackendStatus::NotBuilt, DeviceKind::Metal) => Err(RefusalReason::MetalNotBuilt),
        (BackendStatus::NotBuilt, _) => Err(RefusalReason::CudaNotBuilt),
        (BackendStatus::Failed { message }, DeviceKind::Metal) => {
            Err(RefusalReason::MetalUnavailable {
                message: message.clone(),
            })
        }
        (BackendStatus::Failed { message }, _) => Err(RefusalReason::CudaUnavailable {
            message: message.clone(),
        }),
    }
}

fn resolve_threads(profile: &HardwareProfile, settings: &PlanSettings, notes: &mut Notes) -> u32 {
    let physical = u32::try_from(profile.cpu.physical_cores)
        .unwrap_or(u32::MAX)
        .max(1);
    let logical = u32::try_from(profile.cpu.logical_cores)
        .unwrap_or(u32::MAX)
        .max(physical);
    match settings.threads {
        None => physical,
        Some(0) => {
            notes.refuse(OverrideSetting::Threads, "0".into(), RefusalReason::Zero);
            physical
        }
        Some(requested) if requested > logical => {
            let reason = RefusalReason::TooManyThreads {
                requested,
                logical_cores: logical,
            };
            if settings.force {
                notes.warnings.push(PlanWarning::Forced { reason });
                requested
            } else {
                notes.refuse(OverrideSetting::Threads, requested.to_string(), reason);
                physical
            }
        }
        Some(requested) => requested,
    }
}

/// The context to plan for: exactly what the user set (capped at the model's maximum), or
/// automatic (the default, shrinkable).
#[derive(Clone, Copy, Debug)]
enum ContextRequest {
    Exact(u32),
    Auto(u32),
}

fn resolve_context(
    model: &ModelSpec,
    settings: &PlanSettings,
    notes: &mut Notes,
) -> ContextRequest {
    let max = model.max_context_tokens.max(1);
    let auto = ContextRequest::Auto(DEFAULT_CONTEXT_TOKENS.min(max));
    match settings.context_tokens {
        None => auto,
        Some(0) => {
            notes.refuse(OverrideSetting::Context, "0".into(), RefusalReason::Zero);
            auto
        }
        Some(requested) if requested > max => {
            notes.warnings.push(PlanWarning::ContextCapped {
                requested_tokens: requested,
                max_tokens: max,
            });
            ContextRequest::Exact(max)
        }
        Some(requested) => ContextRequest::Exact(requested),
    }
}

/// One evaluated (device, precision, context).
struct Attempt<'a> {
    target: Target<'a>,
    precision: Precision,
    context_tokens: u32,
    /// The automatic context it was shortened from.
    reduced_from: Option<u32>,
    memory: MemoryEstimate,
    fit: FitReport,
    /// Warnings that apply only if this attempt is chosen.
    warnings: Vec<PlanWarning>,
    reason: PlanReason,
    /// A CPU attempt with some blocks on a GPU too small for the whole model.
    split: Option<(&'a NvidiaGpu, LayerSplit)>,
}

struct Planner<'a> {
    profile: &'a HardwareProfile,
    model: &'a ModelSpec,
    settings: &'a PlanSettings,
    context: ContextRequest,
}

impl<'a> Planner<'a> {
    fn evaluate(
        &self,
        target: Target<'a>,
        precision: Precision,
        context_tokens: u32,
    ) -> Attempt<'a> {
        let memory = estimate_memory(
            self.model,
            target.kind(),
            precision,
            context_tokens,
            self.settings.prefill_chunk_tokens,
        );
        let (available, pool) = target.memory(self.profile);
        Attempt {
            target,
            precision,
            context_tokens,
            reduced_from: None,
            memory,
            fit: FitReport::new(memory.total_bytes, available, pool),
            warnings: Vec::new(),
            reason: PlanReason::DeviceDefault,
            split: None,
        }
    }

    /// Why `precision` cannot run on `target`, if it cannot: no file gives it, no kernels for
    /// it, or (unless forced or the model is small) far too slow on the CPU.
    fn refusal(
        &self,
        target: Target<'a>,
        precision: Precision,
        force: bool,
    ) -> Option<RefusalReason> {
        if self.model.source_for(precision).is_none() {
            return Some(RefusalReason::NotAvailable { precision });
        }
        if matches!(target, Target::Cpu) && self.is_small(precision) {
            return None;
        }
        target.precision_refusal(precision, force)
    }

    /// Whether the model is small enough to run unquantized on the CPU.
    fn is_small(&self, precision: Precision) -> bool {
        !precision.is_quantized() && self.model.weight_bytes(Precision::F32) <= SMALL_MODEL_BYTES
    }

    /// `preferred` limited to what the model's files can give; when none of them can be, the
    /// precisions there are (a GGUF's own), marked [`PlanReason::AsStored`].
    fn ladder(&self, preferred: &[Precision]) -> (Vec<Precision>, bool) {
        let possible: Vec<Precision> = preferred
            .iter()
            .copied()
            .filter(|&p| self.model.source_for(p).is_some())
            .collect();
        if possible.is_empty() {
            (self.model.available_precisions(), true)
        } else {
            (possible, false)
        }
    }

    /// Evaluates at the planned context. When `shrink` and the context is automatic, also
    /// tries halving it down to [`MIN_AUTO_CONTEXT_TOKENS`] and keeps the longest context that
    /// fits comfortably, else the longest that fits tightly: on an automatic choice headroom
    /// beats context, since a tight estimate that is 10 % low crashes the app. If nothing
    /// fits, the full context's numbers are returned, since those are what the user asked about.
    fn evaluate_fitting(
        &self,
        target: Target<'a>,
        precision: Precision,
        shrink: bool,
    ) -> Attempt<'a> {
        let full = self.full_context();
        let mut tight = None;
        for tokens in self.contexts(shrink) {
            let mut attempt = self.evaluate(target, precision, tokens);
            attempt.reduced_from = (tokens < full).then_some(full);
            match attempt.fit.level {
                FitLevel::Comfortable => return attempt,
                FitLevel::Tight if tight.is_none() => tight = Some(attempt),
                _ => {}
            }
        }
        tight.unwrap_or_else(|| self.evaluate(target, precision, full))
    }

    /// The device the user asked for. `None` (with a refusal noted) when nothing fits there
    /// and `force` is off.
    fn on_requested(&self, target: Target<'a>, notes: &mut Notes) -> Option<Attempt<'a>> {
        if let Target::Cpu = target {
            return Some(match self.settings.precision {
                Some(precision) => self.cpu_with_precision(precision, notes),
                None => self.cpu_automatic(),
            });
        }
        let force = self.settings.force;
        if let Some(precision) = self.settings.precision {
            match self.refusal(target, precision, force) {
                Some(reason) => notes.refuse(
                    OverrideSetting::Precision,
                    precision.as_str().into(),
                    reason,
                ),
                None => {
                    let mut attempt = self.evaluate_fitting(target, precision, true);
                    attempt.reason = PlanReason::Requested;
                    if attempt.fit.level != FitLevel::WillNotFit {
                        return Some(attempt);
                    }
                    let reason = will_not_fit(&attempt);
                    if force {
                        attempt.warnings.push(PlanWarning::Forced { reason });
                        return Some(attempt);
                    }
                    notes.refuse(
                        OverrideSetting::Precision,
                        precision.as_str().into(),
                        reason,
                    );
                }
            }
        }
        let (ladder, as_stored) =
            self.ladder(&[target.default_precision(), Precision::Q8_0, Precision::Q4KM]);
        if let Some(attempt) = self.choose(target, &ladder, as_stored) {
            return Some(attempt);
        }
        let smallest_precision = ladder.last().copied().unwrap_or(Precision::Q4KM);
        let mut smallest = self.evaluate(target, smallest_precision, self.full_context());
        let reason = will_not_fit(&smallest);
        if force {
            smallest.warnings.push(PlanWarning::Forced { reason });
            return Some(smallest);
        }
        notes.refuse(OverrideSetting::Device, target.kind().to_string(), reason);
        None
    }

    /// No usable device override: CUDA, then Metal, then the CPU — with the last blocks on
    /// a CUDA GPU too small for the whole model, where enough of them fit there.
    fn automatic(&self, notes: &mut Notes) -> Attempt<'a> {
        let mut skipped = Vec::new();
        let mut too_small = None;
        let requested = self.settings.precision;
        for target in self.gpu_targets(&mut skipped) {
            let refusal = requested.and_then(|p| self.refusal(target, p, self.settings.force));
            let outcome = match (requested, &refusal) {
                (Some(p), None) => {
                    let mut attempt = self.evaluate_fitting(target, p, false);
                    attempt.reason = PlanReason::Requested;
                    if attempt.fit.level == FitLevel::WillNotFit {
                        Err(attempt)
                    } else {
                        Ok(attempt)
                    }
                }
                _ => match self.gpu_automatic(target) {
                    Some(outcome) => outcome,
                    None => continue,
                },
            };
            match outcome {
                Ok(mut attempt) => {
                    if let (Some(p), Some(reason)) = (requested, refusal) {
                        notes.refuse(OverrideSetting::Precision, p.as_str().into(), reason);
                    }
                    attempt.warnings.extend(skipped);
                    return attempt;
                }
                Err(attempt) => {
                    if let Target::Cuda(gpu) = target {
                        too_small = too_small.or(Some(gpu));
                    }
                    skipped.push(PlanWarning::GpuTooSmall {
                        gpu: target.name(self.profile),
                        precision: attempt.precision,
                        needed_bytes: attempt.fit.needed_bytes,
                        available_bytes: attempt.fit.available_bytes,
                        pool: attempt.fit.pool,
                    })
                }
            }
        }
        let mut attempt = self.cpu_side(too_small, notes);
        attempt.warnings.extend(skipped);
        attempt
    }

    /// Automatic precision on one GPU: its default (bf16, f16 without bf16, or the file's own
    /// precision), then [`GPU_QUANTIZED_LADDER`] (issue 11: "bf16 when it fits, else Q8_0, else
    /// Q4_K_M, else the CPU"). The first that fits comfortably at the full context, else the
    /// first comfortable at a shorter automatic context, else the first that fits tightly:
    /// VRAM does not swap, so headroom comes before precision, and a GPU that fits only
    /// tightly still decodes several times faster than the CPU. `None` when the model's files
    /// give no precision; `Err` with the default's numbers when nothing fits.
    fn gpu_automatic(&self, target: Target<'a>) -> Option<Result<Attempt<'a>, Attempt<'a>>> {
        let preferred = target.default_precision();
        let (mut ladder, as_stored) = self.ladder(&[preferred]);
        if !as_stored {
            for p in GPU_QUANTIZED_LADDER {
                if self.model.source_for(p).is_some() && !ladder.contains(&p) {
                    ladder.push(p);
                }
            }
        }
        let reason = |precision: Precision| {
            if as_stored {
                PlanReason::AsStored
            } else if precision == preferred {
                PlanReason::DeviceDefault
            } else {
                PlanReason::SmallerToFit { preferred }
            }
        };
        let with_reason = |mut attempt: Attempt<'a>| {
            attempt.reason = reason(attempt.precision);
            attempt
        };
        let mut full: Vec<Attempt<'a>> = ladder
            .iter()
            .map(|&p| self.evaluate(target, p, self.full_context()))
            .collect();
        if full.is_empty() {
            return None;
        }
        if let Some(i) = full
            .iter()
            .position(|a| a.fit.level == FitLevel::Comfortable)
        {
            return Some(Ok(with_reason(full.swap_remove(i))));
        }
        for &precision in &ladder {
            let attempt = self.evaluate_fitting(target, precision, true);
            if attempt.fit.level == FitLevel::Comfortable {
                return Some(Ok(with_reason(attempt)));
            }
        }
        if let Some(i) = full.iter().position(|a| a.fit.level == FitLevel::Tight) {
            return Some(Ok(with_reason(full.swap_remove(i))));
        }
        Some(Err(with_reason(full.swap_remove(0))))
    }

    /// The CPU's quantized precisions in order of preference: Q4_K_M first (smaller download,
    /// faster), Q8_0 first when the user prefers quality.
    fn quantized_ladder(&self) -> [Precision; 2] {
        if self.settings.prefer_quality {
            [Precision::Q8_0, Precision::Q4KM]
        } else {
            [Precision::Q4KM, Precision::Q8_0]
        }
    }

    /// GPUs to try in order, noting in `skipped` those present but unusable by this build.
    fn gpu_targets(&self, skipped: &mut Vec<PlanWarning>) -> Vec<Target<'a>> {
        let profile = self.profile;
        let mut targets = Vec::new();
        if let Some(first) = profile.nvidia_gpus.first() {
            match (&profile.backends.cuda, best_cuda_gpu(profile)) {
                (BackendStatus::NotBuilt, _) => skipped.push(PlanWarning::CudaNotBuilt {
                    gpu: first.name.clone(),
                }),
                (BackendStatus::Failed { message }, _) => {
                    skipped.push(PlanWarning::CudaUnavailable {
                        message: message.clone(),
                    })
                }
                (_, None) => skipped.push(PlanWarning::NvidiaGpuHidden {
                    gpu: first.name.clone(),
                }),
                (_, Some(gpu)) => targets.push(Target::Cuda(gpu)),
            }
        }
        if let Some(gpu) = &profile.apple_gpu {
            match &profile.backends.metal {
                BackendStatus::NotBuilt => skipped.push(PlanWarning::MetalNotBuilt {
                    gpu: gpu.name.clone(),
                }),
                BackendStatus::Failed { message } => skipped.push(PlanWarning::MetalUnavailable {
                    message: message.clone(),
                }),
                _ => targets.push(Target::Metal(gpu)),
            }
        }
        targets
    }

    /// CPU with a user-chosen precision, refused (falling back to automatic) when too slow or
    /// too big and not forced.
    fn cpu_with_precision(&self, precision: Precision, notes: &mut Notes) -> Attempt<'a> {
        let force = self.settings.force;
        if let Some(reason) = self.refusal(Target::Cpu, precision, force) {
            notes.refuse(
                OverrideSetting::Precision,
                precision.as_str().into(),
                reason,
            );
            return self.cpu_automatic();
        }
        let mut attempt = self.evaluate_fitting(Target::Cpu, precision, true);
        attempt.reason = PlanReason::Requested;
        if let Some(reason) = self.refusal(Target::Cpu, precision, false) {
            // Allowed only because of `force`: say so.
            attempt.warnings.push(PlanWarning::Forced { reason });
        }
        if attempt.fit.level == FitLevel::WillNotFit {
            let reason = will_not_fit(&attempt);
            if force {
                attempt.warnings.push(PlanWarning::Forced { reason });
            } else {
                notes.refuse(
                    OverrideSetting::Precision,
                    precision.as_str().into(),
                    reason,
                );
                return self.cpu_automatic();
            }
        }
        attempt
    }

    /// CPU, automatic precision: f32 for a small model; else Q8_0 if preferred and
    /// comfortable at the full context, else Q4_K_M (shortening the context if needed); a
    /// GGUF at its own precision.
    fn cpu_automatic(&self) -> Attempt<'a> {
        if self.model.source_for(Precision::F32).is_some() && self.is_small(Precision::F32) {
            let mut attempt = self.evaluate_fitting(Target::Cpu, Precision::F32, true);
            if attempt.fit.level != FitLevel::WillNotFit {
                attempt.reason = PlanReason::SmallModel {
                    weight_bytes: self.model.weight_bytes(Precision::F32),
                };
                return attempt;
            }
        }
        let (ladder, as_stored) = self.ladder(&self.quantized_ladder());
        let first = ladder.first().copied().unwrap_or(Precision::Q4KM);
        self.choose(Target::Cpu, &ladder, as_stored)
            .unwrap_or_else(|| self.evaluate(Target::Cpu, first, self.full_context()))
    }

    /// The first precision of `ladder` that fits comfortably at the full context, else the
    /// first that does with a shorter automatic context, else the first that fits tightly:
    /// precision steps down before context does, and headroom before either. The reason says
    /// whether the first choice was taken.
    fn choose(
        &self,
        target: Target<'a>,
        ladder: &[Precision],
        as_stored: bool,
    ) -> Option<Attempt<'a>> {
        let with_reason = |mut attempt: Attempt<'a>| {
            attempt.reason = self.ladder_reason(ladder, as_stored, attempt.precision);
            attempt
        };
        for shrink in [false, true] {
            for &precision in ladder {
                let attempt = self.evaluate_fitting(target, precision, shrink);
                if attempt.fit.level == FitLevel::Comfortable {
                    return Some(with_reason(attempt));
                }
            }
        }
        ladder
            .iter()
            .map(|&precision| self.evaluate_fitting(target, precision, true))
            .find(|attempt| attempt.fit.level == FitLevel::Tight)
            .map(with_reason)
    }

    /// Why `precision` was taken from `ladder`: as stored, smaller than the first choice to
    /// fit, the quality asked for, or the device's first choice.
    fn ladder_reason(
        &self,
        ladder: &[Precision],
        as_stored: bool,
        precision: Precision,
    ) -> PlanReason {
        let preferred = ladder.first().copied().unwrap_or(precision);
        if as_stored {
            PlanReason::AsStored
        } else if precision != preferred {
            PlanReason::SmallerToFit { preferred }
        } else if self.settings.prefer_quality && precision == Precision::Q8_0 {
            PlanReason::QualityPreferred
        } else {
            PlanReason::DeviceDefault
        }
    }

    /// The contexts a plan tries, longest first: the full one, then, when `shrink` and the
    /// context is automatic, its halvings down to [`MIN_AUTO_CONTEXT_TOKENS`].
    fn contexts(&self, shrink: bool) -> Vec<u32> {
        let full = self.full_context();
        let mut out = vec![full];
        if shrink && matches!(self.context, ContextRequest::Auto(_)) {
            let mut tokens = full / 2;
            while tokens >= MIN_AUTO_CONTEXT_TOKENS {
                out.push(tokens);
                tokens /= 2;
            }
        }
        out
    }

    fn full_context(&self) -> u32 {
        match self.context {
            ContextRequest::Exact(tokens) | ContextRequest::Auto(tokens) => tokens,
        }
    }

    fn finish(&self, attempt: Attempt<'a>, threads: u32, mut notes: Notes) -> DevicePlan {
        let profile = self.profile;
        if attempt.target.kind() == DeviceKind::Cpu
            && matches!(profile.cpu.arch.as_str(), "x86" | "x86_64")
            && !profile.cpu.features.has_fast_quantized_kernels()
        {
            notes.warnings.push(PlanWarning::NoAvx2);
        }
        if let Some(from_tokens) = attempt.reduced_from {
            notes.warnings.push(PlanWarning::ContextReduced {
                from_tokens,
                to_tokens: attempt.context_tokens,
            });
        }
        notes.warnings.extend(attempt.warnings);
        let source = self
            .model
            .source_for(attempt.precision)
            .unwrap_or(WeightFile {
                container: jslm_core::Container::Gguf,
                precision: attempt.precision,
                size_bytes: self.model.weight_bytes(attempt.precision),
            });
        let download = profile.model_cache_disk.as_ref().map(|disk| {
            let file_bytes = source.size_bytes;
            DownloadCheck {
                file_bytes,
                available_bytes: disk.available_bytes,
                enough_space: file_bytes <= disk.available_bytes,
            }
        });
        let device = match &attempt.split {
            Some((gpu, _)) => Target::Cuda(gpu).device(),
            None => attempt.target.device(),
        };
        DevicePlan {
            model: self.model.name.clone(),
            device,
            precision: attempt.precision,
            reason: attempt.reason,
            source,
            threads,
            context_tokens: attempt.context_tokens,
            // A split's GPU part was counted at its own pass, maybe shorter than the setting.
            prefill_chunk_tokens: attempt
                .split
                .as_ref()
                .map_or(self.settings.prefill_chunk_tokens, |(_, s)| {
                    s.prefill_chunk_tokens
                })
                .clamp(1, attempt.context_tokens.max(1)),
            memory: attempt.memory,
            fit: attempt.fit,
            download,
            warnings: notes.warnings,
            refused: notes.refused,
            split: attempt.split.map(|(_, split)| split),
        }
    }
}

fn will_not_fit(attempt: &Attempt<'_>) -> RefusalReason {
    RefusalReason::WillNotFit {
        needed_bytes: attempt.fit.needed_bytes,
        available_bytes: attempt.fit.available_bytes,
        pool: attempt.fit.pool,
    }
}

#[path = "plan_split.rs"]
mod split_side;

#[cfg(test)]
#[path = "plan_tests.rs"]
pub(crate) mod tests;
