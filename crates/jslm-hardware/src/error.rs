//! The crate's one error type. Detection never fails as a whole: a part that cannot be read
//! becomes a [`DetectionNote`] in the profile, built from one of these errors, so the UI can
//! still show everything else. The plan returns its refusals as data; `DevicePlan::strict`
//! turns them into [`HardwareError::OverrideRefused`] for callers that must not fall back.

use jslm_core::ErrorCode;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Everything that can go wrong in detection or planning, with a stable [`code`](Self::code)
/// the UI maps to Japanese/English text.
#[derive(Debug, thiserror::Error)]
pub enum HardwareError {
    /// NVML loaded but refused to answer (no permission, driver mismatch). A machine without
    /// the NVIDIA driver is *not* this error: it simply has no NVIDIA GPU.
    #[error("the NVIDIA driver library (NVML) failed: {message}")]
    NvmlFailed { message: String },

    /// One GPU answered NVML's device count but not a later query.
    #[error("NVIDIA GPU {index} could not be queried: {message}")]
    GpuQueryFailed { index: u32, message: String },

    /// No mounted filesystem contains the model cache directory.
    #[error("no mounted filesystem contains {}", path.display())]
    DiskNotFound { path: PathBuf },

    /// This build has CUDA support but `Device::new_cuda` failed (driver too old, no device,
    /// libraries missing).
    #[error("CUDA device {ordinal} did not initialise: {message}")]
    CudaInitFailed { ordinal: u32, message: String },

    /// This build has Metal support but `Device::new_metal` failed.
    #[error("Metal device did not initialise: {message}")]
    MetalInitFailed { message: String },

    /// A user override (device, precision, threads, context) could not be honoured.
    #[error("{setting} = {requested} refused: {reason}")]
    OverrideRefused {
        setting: String,
        requested: String,
        reason: String,
    },
}

impl HardwareError {
    /// Stable machine-readable code; never changes once released.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::NvmlFailed { .. } => ErrorCode::NvmlFailed,
            Self::GpuQueryFailed { .. } => ErrorCode::GpuQueryFailed,
            Self::DiskNotFound { .. } => ErrorCode::DiskNotFound,
            Self::CudaInitFailed { .. } => ErrorCode::CudaInitFailed,
            Self::MetalInitFailed { .. } => ErrorCode::MetalInitFailed,
            Self::OverrideRefused { .. } => ErrorCode::OverrideRefused,
        }
    }
}

/// A part of detection that did not work, kept in the profile so the rest still shows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DetectionNote {
    /// [`HardwareError::code`] of the underlying error.
    pub code: ErrorCode,
    /// Human-readable English text with the details.
    pub message: String,
}

impl From<&HardwareError> for DetectionNote {
    fn from(err: &HardwareError) -> Self {
        Self {
            code: err.code(),
            message: err.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable_and_messages_carry_details() {
        let cases: Vec<(HardwareError, &str, &str)> = vec![
            (
                HardwareError::NvmlFailed {
                    message: "NoPermission".into(),
                },
                "nvml_failed",
                "NoPermission",
            ),
            (
                HardwareError::GpuQueryFailed {
                    index: 1,
                    message: "GpuLost".into(),
                },
                "gpu_query_failed",
                "GPU 1",
            ),
            (
                HardwareError::DiskNotFound {
                    path: PathBuf::from("/models"),
                },
                "disk_not_found",
                "/models",
            ),
            (
                HardwareError::CudaInitFailed {
                    ordinal: 0,
                    message: "no driver".into(),
                },
                "cuda_init_failed",
                "no driver",
            ),
            (
                HardwareError::MetalInitFailed {
                    message: "no device".into(),
                },
                "metal_init_failed",
                "no device",
            ),
            (
                HardwareError::OverrideRefused {
                    setting: "device".into(),
                    requested: "cuda".into(),
                    reason: "no NVIDIA GPU found".into(),
                },
                "override_refused",
                "device = cuda refused: no NVIDIA GPU found",
            ),
        ];
        for (err, code, fragment) in cases {
            assert_eq!(err.code().as_str(), code);
            assert!(err.to_string().contains(fragment), "{err}");
            let note = DetectionNote::from(&err);
            assert_eq!(note.code.as_str(), code);
        }
    }
}
