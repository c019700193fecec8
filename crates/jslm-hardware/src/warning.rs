//! Things the user should know about a plan that is still followed: a slow CPU, a GPU that
//! could not be used and why, a shortened context. Stable `code` (serde tag) plus English text.

use crate::fit::MemoryPool;
use crate::refusal::RefusalReason;
use crate::units::format_gb;
use jslm_core::Precision;
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum PlanWarning {
    /// x86 CPU without AVX2+FMA: candle's scalar quantized kernels run, several times slower.
    NoAvx2,
    /// An NVIDIA GPU is present but this build has no CUDA.
    CudaNotBuilt { gpu: String },
    /// This build has CUDA but the device did not initialise.
    CudaUnavailable { message: String },
    /// `CUDA_VISIBLE_DEVICES` hides every NVIDIA GPU.
    NvidiaGpuHidden { gpu: String },
    /// An Apple GPU is present but this build has no Metal.
    MetalNotBuilt { gpu: String },
    /// This build has Metal but the device did not initialise.
    MetalUnavailable { message: String },
    /// The GPU is usable but the model does not fit in it.
    GpuTooSmall {
        gpu: String,
        precision: Precision,
        needed_bytes: u64,
        available_bytes: u64,
        pool: MemoryPool,
    },
    /// The context was shortened so the model fits.
    ContextReduced { from_tokens: u32, to_tokens: u32 },
    /// The requested context exceeds the model's maximum.
    ContextCapped {
        requested_tokens: u32,
        max_tokens: u32,
    },
    /// `force` made the plan follow an override it would have refused.
    Forced { reason: RefusalReason },
}

impl PlanWarning {
    /// The stable code, same as the serde tag.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NoAvx2 => "no_avx2",
            Self::CudaNotBuilt { .. } => "cuda_not_built",
            Self::CudaUnavailable { .. } => "cuda_unavailable",
            Self::NvidiaGpuHidden { .. } => "nvidia_gpu_hidden",
            Self::MetalNotBuilt { .. } => "metal_not_built",
            Self::MetalUnavailable { .. } => "metal_unavailable",
            Self::GpuTooSmall { .. } => "gpu_too_small",
            Self::ContextReduced { .. } => "context_reduced",
            Self::ContextCapped { .. } => "context_capped",
            Self::Forced { .. } => "forced",
        }
    }
}

impl fmt::Display for PlanWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoAvx2 => f.write_str(
                "slow: no AVX2/FMA on this CPU, so candle uses its scalar kernels \
                 (several times slower; still correct)",
            ),
            Self::CudaNotBuilt { gpu } => write!(
                f,
                "{gpu} found, but this build has no CUDA support; the CUDA build of JSLM would \
                 run the model on it"
            ),
            Self::CudaUnavailable { message } => {
                write!(f, "CUDA did not start, using the CPU: {message}")
            }
            Self::NvidiaGpuHidden { gpu } => {
                write!(
                    f,
                    "{gpu} found, but CUDA_VISIBLE_DEVICES hides it from CUDA"
                )
            }
            Self::MetalNotBuilt { gpu } => {
                write!(f, "{gpu} GPU found, but this build has no Metal support")
            }
            Self::MetalUnavailable { message } => {
                write!(f, "Metal did not start, using the CPU: {message}")
            }
            Self::GpuTooSmall {
                gpu,
                precision,
                needed_bytes,
                available_bytes,
                pool,
            } => write!(
                f,
                "{gpu}: {precision} needs {}, {} {}; using the CPU",
                format_gb(*needed_bytes),
                format_gb(*available_bytes),
                pool.label()
            ),
            Self::ContextReduced {
                from_tokens,
                to_tokens,
            } => write!(
                f,
                "context shortened from {from_tokens} to {to_tokens} tokens to fit in memory"
            ),
            Self::ContextCapped {
                requested_tokens,
                max_tokens,
            } => write!(
                f,
                "context of {requested_tokens} tokens capped at the model's {max_tokens}"
            ),
            Self::Forced { reason } => write!(f, "forced despite: {reason}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_matches_serde_tag() {
        let warnings = [
            PlanWarning::NoAvx2,
            PlanWarning::CudaNotBuilt { gpu: "RTX".into() },
            PlanWarning::CudaUnavailable {
                message: "m".into(),
            },
            PlanWarning::NvidiaGpuHidden { gpu: "RTX".into() },
            PlanWarning::MetalNotBuilt {
                gpu: "Apple M2".into(),
            },
            PlanWarning::MetalUnavailable {
                message: "m".into(),
            },
            PlanWarning::GpuTooSmall {
                gpu: "RTX".into(),
                precision: Precision::Bf16,
                needed_bytes: 1,
                available_bytes: 0,
                pool: MemoryPool::GpuVram,
            },
            PlanWarning::ContextReduced {
                from_tokens: 4096,
                to_tokens: 2048,
            },
            PlanWarning::ContextCapped {
                requested_tokens: 8192,
                max_tokens: 4096,
            },
            PlanWarning::Forced {
                reason: RefusalReason::Zero,
            },
        ];
        for warning in warnings {
            let json = serde_json::to_value(&warning).expect("serialises");
            assert_eq!(json["code"], warning.code(), "{warning:?}");
            assert!(!warning.to_string().is_empty());
        }
    }
}
