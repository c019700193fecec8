//! Whether the shared libraries a `cuda` build of JSLM links against can be loaded here.
//!
//! candle 0.11.1 links CUDA at build time (cudarc's `dynamic-linking` feature, and
//! candle-kernels emits `-l cudart` unconditionally; candle issue #3900), so a `cuda` binary
//! started without these libraries is stopped by the dynamic loader before `main` runs
//! ("error while loading shared libraries: libcudart.so.13") and cannot fall back to the CPU
//! by itself. An install therefore carries the CPU and CUDA builds side by side, and the CPU
//! build runs this check before it starts the CUDA one (`gpu_variant`).

use serde::{Deserialize, Serialize};

/// Result of trying to load each library the `cuda` build needs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CudaLibraryCheck {
    /// CUDA major version whose library names were tried.
    pub cuda_major: u32,
    /// Library file names that loaded.
    pub found: Vec<String>,
    /// Library file names the dynamic loader could not find; empty means the `cuda` build
    /// can start.
    pub missing: Vec<String>,
}

impl CudaLibraryCheck {
    pub fn all_present(&self) -> bool {
        self.missing.is_empty() && !self.found.is_empty()
    }
}

/// The file names the loader resolves for a candle 0.11.1 `cuda` build: what `readelf -d`
/// lists as NEEDED for the linked binary (scripts/build-cuda.sh prints it): the driver
/// (`cuda`), `cudart` (candle-kernels), `cublas` and `curand` (cudarc), plus `cublasLt`,
/// which cuBLAS itself needs. NVRTC is linked only if used, and candle's kernels are compiled
/// ahead of time, so it is not needed. Empty for platforms without CUDA (macOS).
pub fn cuda_library_names(cuda_major: u32, os: &str) -> Vec<String> {
    match os {
        "linux" => vec![
            "libcuda.so.1".to_owned(),
            format!("libcudart.so.{cuda_major}"),
            format!("libcublas.so.{cuda_major}"),
            format!("libcublasLt.so.{cuda_major}"),
            // cuRAND kept soname 10 through CUDA 12 and 13.
            "libcurand.so.10".to_owned(),
        ],
        "windows" => vec![
            "nvcuda.dll".to_owned(),
            format!("cudart64_{cuda_major}.dll"),
            format!("cublas64_{cuda_major}.dll"),
            format!("cublasLt64_{cuda_major}.dll"),
            "curand64_10.dll".to_owned(),
        ],
        _ => Vec::new(),
    }
}

/// Tries to load each library the `cuda` build needs, by the same names and search path
/// (`LD_LIBRARY_PATH`, ld.so cache / `PATH`) the dynamic loader uses at start-up.
pub fn check_cuda_libraries(cuda_major: u32) -> CudaLibraryCheck {
    let mut check = CudaLibraryCheck {
        cuda_major,
        found: Vec::new(),
        missing: Vec::new(),
    };
    for name in cuda_library_names(cuda_major, std::env::consts::OS) {
        // SAFETY: loading runs the library's initialisers. These are NVIDIA's own CUDA
        // libraries, which the `cuda` build would load at start-up anyway; they are dropped
        // (dlclose) right after, and no symbol is called.
        let loaded = unsafe { libloading::Library::new(&name) };
        match loaded {
            Ok(_library) => check.found.push(name),
            Err(_) => check.missing.push(name),
        }
    }
    check
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_table() {
        let cases: &[(u32, &str, &[&str])] = &[
            (
                12,
                "linux",
                &[
                    "libcuda.so.1",
                    "libcudart.so.12",
                    "libcublas.so.12",
                    "libcublasLt.so.12",
                    "libcurand.so.10",
                ],
            ),
            (
                12,
                "windows",
                &[
                    "nvcuda.dll",
                    "cudart64_12.dll",
                    "cublas64_12.dll",
                    "cublasLt64_12.dll",
                    "curand64_10.dll",
                ],
            ),
            (12, "macos", &[]),
        ];
        for (major, os, want) in cases {
            assert_eq!(
                cuda_library_names(*major, os),
                want.to_vec(),
                "{os} {major}"
            );
        }
    }

    #[test]
    fn check_reports_every_library_once() {
        let check = check_cuda_libraries(crate::gpu_variant::CUDA_VARIANT_MAJOR);
        let expected =
            cuda_library_names(crate::gpu_variant::CUDA_VARIANT_MAJOR, std::env::consts::OS).len();
        assert_eq!(check.found.len() + check.missing.len(), expected);
        if expected == 0 {
            assert!(!check.all_present());
        }
    }
}
