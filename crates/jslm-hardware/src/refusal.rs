//! Why a user override was not honoured. Each reason has a stable `code` (the serde tag) for
//! the UI's translations and an English `Display` with the numbers.

use crate::device::DeviceKind;
use crate::fit::MemoryPool;
use crate::units::format_gb;
use jslm_core::Precision;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Which setting was overridden.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OverrideSetting {
    Device,
    Precision,
    Threads,
    Context,
    /// Blocks on the GPU (`--gpu-layers`).
    GpuLayers,
}

impl fmt::Display for OverrideSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Device => "device",
            Self::Precision => "precision",
            Self::Threads => "threads",
            Self::Context => "context",
            Self::GpuLayers => "gpu_layers",
        })
    }
}

/// Why an override was refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum RefusalReason {
    /// CUDA requested, but NVML lists no NVIDIA GPU.
    NoNvidiaGpu,
    /// CUDA requested, but `CUDA_VISIBLE_DEVICES` hides every NVIDIA GPU.
    NoVisibleNvidiaGpu,
    /// CUDA requested, but this binary was built without the `cuda` feature.
    CudaNotBuilt,
    /// CUDA requested, but the device failed to initialise.
    CudaUnavailable { message: String },
    /// Metal requested, but this is not an Apple Silicon Mac.
    NoAppleGpu,
    /// Metal requested, but this binary was built without the `metal` feature.
    MetalNotBuilt,
    /// Metal requested, but the device failed to initialise.
    MetalUnavailable { message: String },
    /// An unquantized precision on the CPU: candle's f32/bf16/f16 CPU matmuls decode the 7B at
    /// well under 1 token/s (about 0.07 token/s measured for bf16) and need 15–31 GB.
    SlowOnCpu { precision: Precision },
    /// bf16 on a GPU without bf16 kernels (CUDA compute capability below 8.0, Apple M1).
    NoBf16 { device: DeviceKind },
    /// The estimate exceeds what the device has.
    WillNotFit {
        needed_bytes: u64,
        available_bytes: u64,
        pool: MemoryPool,
    },
    /// No file of the model gives this precision (a GGUF runs only as stored; the app
    /// quantizes safetensors to Q4_K_M and Q8_0 only).
    NotAvailable { precision: Precision },
    /// Zero threads or zero context tokens.
    Zero,
    /// More threads than logical cores: they only contend.
    TooManyThreads { requested: u32, logical_cores: u32 },
    /// Some blocks on the GPU and some on the CPU, at a float precision: a split runs a
    /// quantized GGUF.
    SplitNeedsQuantized { precision: Precision },
    /// Blocks on the GPU asked for with another device chosen as well.
    DeviceChosen { device: DeviceKind },
}

impl RefusalReason {
    /// The stable code, same as the serde tag.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NoNvidiaGpu => "no_nvidia_gpu",
            Self::NoVisibleNvidiaGpu => "no_visible_nvidia_gpu",
            Self::CudaNotBuilt => "cuda_not_built",
            Self::CudaUnavailable { .. } => "cuda_unavailable",
            Self::NoAppleGpu => "no_apple_gpu",
            Self::MetalNotBuilt => "metal_not_built",
            Self::MetalUnavailable { .. } => "metal_unavailable",
            Self::SlowOnCpu { .. } => "slow_on_cpu",
            Self::NoBf16 { .. } => "no_bf16",
            Self::WillNotFit { .. } => "will_not_fit",
            Self::NotAvailable { .. } => "not_available",
            Self::Zero => "zero",
            Self::TooManyThreads { .. } => "too_many_threads",
            Self::SplitNeedsQuantized { .. } => "split_needs_quantized",
            Self::DeviceChosen { .. } => "device_chosen",
        }
    }
}

impl fmt::Display for RefusalReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoNvidiaGpu => f.write_str("no NVIDIA GPU found (NVML lists none)"),
            Self::NoVisibleNvidiaGpu => {
                f.write_str("CUDA_VISIBLE_DEVICES hides every NVIDIA GPU from CUDA")
            }
            Self::CudaNotBuilt => {
                f.write_str("this build has no CUDA support; install the CUDA build of JSLM")
            }
            Self::CudaUnavailable { message } => write!(f, "CUDA did not start: {message}"),
            Self::NoAppleGpu => f.write_str("Metal needs an Apple Silicon Mac"),
            Self::MetalNotBuilt => f.write_str("this build has no Metal support"),
            Self::MetalUnavailable { message } => write!(f, "Metal did not start: {message}"),
            Self::SlowOnCpu { precision } => write!(
                f,
                "{precision} on the CPU decodes far below 1 token/s (bf16: about 0.07 token/s) \
                 and needs 15 GB or more; use q8_0 for quality, or force it"
            ),
            Self::NoBf16 { device } => write!(
                f,
                "this {device} GPU has no bf16 support (needs CUDA compute capability 8.0+ or \
                 Apple M2+); use f16"
            ),
            Self::WillNotFit {
                needed_bytes,
                available_bytes,
                pool,
            } => write!(
                f,
                "needs {}, {} {}",
                format_gb(*needed_bytes),
                format_gb(*available_bytes),
                pool.label()
            ),
            Self::NotAvailable { precision } => write!(
                f,
                "no file of this model is or can be made {precision} (a GGUF runs as stored; \
                 safetensors can be quantized to Q4_K_M or Q8_0)"
            ),
            Self::Zero => f.write_str("must be at least 1"),
            Self::TooManyThreads {
                requested,
                logical_cores,
            } => write!(
                f,
                "{requested} threads on {logical_cores} logical cores only contend; force it \
                 to insist"
            ),
            Self::SplitNeedsQuantized { precision } => write!(
                f,
                "blocks split between the GPU and the CPU run a quantized GGUF (Q4_K_M, Q8_0, \
                 ...), not {precision}"
            ),
            Self::DeviceChosen { device } => write!(
                f,
                "the device chosen is {device}; blocks on an NVIDIA GPU need the device cuda or \
                 automatic"
            ),
        }
    }
}

/// An override the plan did not follow; the plan falls back to its own choice for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefusedOverride {
    pub setting: OverrideSetting,
    /// The value asked for, as the user wrote it ("cuda", "bf16", "0").
    pub requested: String,
    pub reason: RefusalReason,
}

impl fmt::Display for RefusedOverride {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} = {} refused: {}",
            self.setting, self.requested, self.reason
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_matches_serde_tag() {
        let reasons = [
            RefusalReason::NoNvidiaGpu,
            RefusalReason::NoVisibleNvidiaGpu,
            RefusalReason::CudaNotBuilt,
            RefusalReason::CudaUnavailable {
                message: "m".into(),
            },
            RefusalReason::NoAppleGpu,
            RefusalReason::MetalNotBuilt,
            RefusalReason::MetalUnavailable {
                message: "m".into(),
            },
            RefusalReason::SlowOnCpu {
                precision: Precision::Bf16,
            },
            RefusalReason::NoBf16 {
                device: DeviceKind::Cuda,
            },
            RefusalReason::WillNotFit {
                needed_bytes: 5_100_000_000,
                available_bytes: 3_200_000_000,
                pool: MemoryPool::SystemRam,
            },
            RefusalReason::Zero,
            RefusalReason::TooManyThreads {
                requested: 64,
                logical_cores: 8,
            },
        ];
        for reason in reasons {
            let json = serde_json::to_value(&reason).expect("serialises");
            assert_eq!(json["code"], reason.code(), "{reason:?}");
            assert!(!reason.to_string().is_empty());
        }
    }

    #[test]
    fn will_not_fit_message_has_numbers() {
        let refused = RefusedOverride {
            setting: OverrideSetting::Device,
            requested: "cuda".into(),
            reason: RefusalReason::WillNotFit {
                needed_bytes: 16_000_000_000,
                available_bytes: 7_500_000_000,
                pool: MemoryPool::GpuVram,
            },
        };
        assert_eq!(
            refused.to_string(),
            "device = cuda refused: needs 16.0 GB, 7.5 GB VRAM free"
        );
    }
}
