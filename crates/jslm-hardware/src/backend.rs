//! Whether this *build* can use a GPU backend, and whether it really initialises here.
//!
//! candle's `cuda_is_available()` / `metal_is_available()` only report how the binary was
//! compiled. The probes below create the device (`Device::new_cuda` / `Device::new_metal`),
//! which loads the driver and creates a context: only that proves the backend works.

use crate::error::HardwareError;
use serde::{Deserialize, Serialize};

/// State of one candle backend in this binary on this machine.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum BackendStatus {
    /// Compiled without the cargo feature (`cuda` / `metal`).
    NotBuilt,
    /// Compiled in, but the probe was not run (detection was asked to be quick).
    NotProbed,
    /// A device was created successfully.
    Available,
    /// Compiled in, but creating the device failed.
    Failed { message: String },
}

impl BackendStatus {
    /// Whether a plan may put the model on this backend. `NotProbed` counts: the load itself
    /// will then be the probe, and its error is reported there.
    pub fn usable(&self) -> bool {
        matches!(self, Self::Available | Self::NotProbed)
    }
}

/// The candle backends of this binary.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackendSupport {
    pub cuda: BackendStatus,
    pub metal: BackendStatus,
}

impl BackendSupport {
    /// What this build supports, running the device probes when `probe` is true. A failed
    /// probe also returns the error, for the profile's notes.
    pub fn detect(probe: bool) -> (Self, Vec<HardwareError>) {
        let mut errors = Vec::new();
        let cuda = probe_cuda(probe, &mut errors);
        let metal = probe_metal(probe, &mut errors);
        (Self { cuda, metal }, errors)
    }
}

/// The oldest compute capability this build's CUDA kernels run on: `CUDA_COMPUTE_CAP` when it
/// was built (`scripts/build-cuda.sh` sets it, 90 by default; a list counts its lowest), e.g.
/// `(9, 0)`. candle compiles its kernels for that architecture only, and such code runs on it
/// and newer GPUs, never older ones. `None` in builds without CUDA, or built without it set
/// (candle then asks `nvidia-smi` for the build machine's GPU, which is not known here).
pub fn built_compute_capability() -> Option<(u32, u32)> {
    if !cfg!(feature = "cuda") {
        return None;
    }
    parse_compute_capability(option_env!("CUDA_COMPUTE_CAP")?)
}

/// `"90"` → (9, 0), `"86,90"` → (8, 6); `None` for anything else, `"90a"` included (code
/// for an `a` architecture runs on that GPU only, which "this one and newer" would not say).
fn parse_compute_capability(text: &str) -> Option<(u32, u32)> {
    text.split(',')
        .map(|entry| {
            let entry = entry.trim();
            let n = entry.parse::<u32>().ok().filter(|&n| n >= 10)?;
            Some((n / 10, n % 10))
        })
        .collect::<Option<Vec<_>>>()?
        .into_iter()
        .min()
}

#[cfg(feature = "cuda")]
fn probe_cuda(probe: bool, errors: &mut Vec<HardwareError>) -> BackendStatus {
    if !probe {
        return BackendStatus::NotProbed;
    }
    // candle builds link libcuda/cudart at start-up (cudarc `dynamic-linking`), so reaching
    // this line already means the libraries loaded; the device can still be missing or busy.
    match candle_core::Device::new_cuda(0) {
        Ok(_) => BackendStatus::Available,
        Err(err) => {
            let failure = HardwareError::CudaInitFailed {
                ordinal: 0,
                message: without_backtrace(&err),
            };
            let status = BackendStatus::Failed {
                message: failure.to_string(),
            };
            errors.push(failure);
            status
        }
    }
}

/// candle's message without the stack trace it attaches when RUST_BACKTRACE is set (the
/// engine's `candle_message`; this crate sits below the engine).
#[cfg(any(feature = "cuda", all(feature = "metal", target_os = "macos")))]
fn without_backtrace(err: &candle_core::Error) -> String {
    match err {
        candle_core::Error::WithBacktrace { inner, .. } => without_backtrace(inner),
        other => other.to_string(),
    }
}

#[cfg(not(feature = "cuda"))]
fn probe_cuda(_probe: bool, _errors: &mut Vec<HardwareError>) -> BackendStatus {
    BackendStatus::NotBuilt
}

#[cfg(all(feature = "metal", target_os = "macos"))]
fn probe_metal(probe: bool, errors: &mut Vec<HardwareError>) -> BackendStatus {
    if !probe {
        return BackendStatus::NotProbed;
    }
    match candle_core::Device::new_metal(0) {
        Ok(_) => BackendStatus::Available,
        Err(err) => {
            let failure = HardwareError::MetalInitFailed {
                message: without_backtrace(&err),
            };
            let status = BackendStatus::Failed {
                message: failure.to_string(),
            };
            errors.push(failure);
            status
        }
    }
}

#[cfg(not(all(feature = "metal", target_os = "macos")))]
fn probe_metal(_probe: bool, _errors: &mut Vec<HardwareError>) -> BackendStatus {
    BackendStatus::NotBuilt
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usable_table() {
        let cases = [
            (BackendStatus::NotBuilt, false),
            (BackendStatus::NotProbed, true),
            (BackendStatus::Available, true),
            (
                BackendStatus::Failed {
                    message: "x".into(),
                },
                false,
            ),
        ];
        for (status, want) in cases {
            assert_eq!(status.usable(), want, "{status:?}");
        }
    }

    #[test]
    fn the_builds_compute_capability_is_read_as_candle_reads_it() {
        for (text, want) in [
            ("90", Some((9, 0))),
            ("89", Some((8, 9))),
            ("86,90", Some((8, 6))),
            ("90a", None),
            ("", None),
            ("9", None),
            ("sm_90", None),
        ] {
            assert_eq!(parse_compute_capability(text), want, "{text:?}");
        }
        if !cfg!(feature = "cuda") {
            assert_eq!(built_compute_capability(), None);
        }
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn default_build_has_no_gpu_backends() {
        let (support, errors) = BackendSupport::detect(true);
        assert_eq!(support.cuda, BackendStatus::NotBuilt);
        assert!(errors.is_empty());
    }
}
