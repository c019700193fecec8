//! Which build of JSLM runs on this machine: one install, with or without an NVIDIA GPU.
//!
//! A `cuda` build cannot start without NVIDIA's libraries (see `cuda_libraries`: candle links
//! them at build time), so an install carries two builds of each program side by side: the
//! CPU build under the program's name (`jslm`, `jslm-desktop`) and the CUDA build with a
//! `-cuda` suffix. The CPU build starts first, asks [`decide`] whether this machine can run the
//! CUDA twin (twin installed, an NVIDIA GPU visible to CUDA, a driver new enough for the CUDA
//! version the twin was built with, its libraries loadable) and, if so, replaces itself with
//! it ([`start_twin_if_usable`]); otherwise it runs on, and `jslm doctor` and the hardware
//! view say why.

use crate::cuda_libraries::CudaLibraryCheck;
use crate::nvidia::NvidiaGpu;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// CUDA major version of the `-cuda` builds (scripts/lib/cuda-toolkit.sh: the toolkit from
/// PyPI; a test below keeps the two equal).
pub const CUDA_VARIANT_MAJOR: u32 = 13;

/// Suffix of the CUDA build's file name beside the CPU build (`jslm` → `jslm-cuda`).
pub const CUDA_TWIN_SUFFIX: &str = "-cuda";

/// `JSLM_GPU_VARIANT=off` keeps the CPU build (for a comparison, or a broken driver); the
/// launcher also sets it for the twin, so a twin never starts another.
pub const GPU_VARIANT_ENV: &str = "JSLM_GPU_VARIANT";

/// What the launcher decided, in the hardware profile for `jslm doctor` and the window.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum VariantDecision {
    /// This process is the CUDA build.
    ThisIsCuda,
    /// The CUDA build at `path` can run here (the launcher starts it).
    StartTwin { path: PathBuf },
    /// The CPU build runs, for `reason`.
    StayOnCpu { reason: StayReason },
}

/// Why the CPU build runs on a machine where the CUDA twin might have.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum StayReason {
    /// `JSLM_GPU_VARIANT=off`.
    SwitchedOff,
    /// No NVIDIA GPU that CUDA can see (none, no driver, or hidden by CUDA_VISIBLE_DEVICES).
    NoNvidiaGpu,
    /// This install has no CUDA build beside the program (a CPU-only package or build).
    TwinNotInstalled { expected: PathBuf },
    /// The driver supports an older CUDA than the twin needs.
    DriverTooOld {
        /// What the driver supports, e.g. (12, 4).
        driver_cuda: (u32, u32),
        needed_major: u32,
    },
    /// The driver's CUDA version could not be read: the twin is not risked.
    DriverVersionUnknown,
    /// CUDA libraries the twin links against are not installed.
    LibrariesMissing { missing: Vec<String> },
}

impl StayReason {
    /// One line for `jslm doctor` and the CLI's note.
    pub fn describe(&self) -> String {
        match self {
            StayReason::SwitchedOff => format!("{GPU_VARIANT_ENV}=off"),
            StayReason::NoNvidiaGpu => "no NVIDIA GPU visible to CUDA".to_owned(),
            StayReason::TwinNotInstalled { expected } => format!(
                "this install has no CUDA build ({} not found)",
                expected.display()
            ),
            StayReason::DriverTooOld {
                driver_cuda: (major, minor),
                needed_major,
            } => format!(
                "the NVIDIA driver supports CUDA {major}.{minor}; the CUDA build needs \
                 {needed_major}.0 or newer (driver R580+): update the NVIDIA driver"
            ),
            StayReason::DriverVersionUnknown => {
                "the NVIDIA driver did not report its CUDA version".to_owned()
            }
            StayReason::LibrariesMissing { missing } => format!(
                "CUDA {CUDA_VARIANT_MAJOR} libraries missing: {} (install NVIDIA's CUDA \
                 {CUDA_VARIANT_MAJOR} runtime, cuBLAS and cuRAND, e.g. `pip install \
                 \"cuda-toolkit[cudart,cublas,curand]=={CUDA_VARIANT_MAJOR}.*\"`, and add its \
                 nvidia/cu{CUDA_VARIANT_MAJOR}/lib folder to LD_LIBRARY_PATH)",
                missing.join(", ")
            ),
        }
    }
}

/// What [`decide`] looks at, detected or made up by a test.
#[derive(Clone, Debug, Default)]
pub struct VariantInputs<'a> {
    pub this_is_cuda: bool,
    pub switched_off: bool,
    /// The twin's path, and whether it exists.
    pub twin: Option<(PathBuf, bool)>,
    pub gpus: &'a [NvidiaGpu],
    /// The driver's CUDA version as NVML encodes it (major × 1000 + minor × 10).
    pub driver_cuda: Option<u32>,
    /// `None` when not checked (no GPU).
    pub libraries: Option<&'a CudaLibraryCheck>,
}

/// The launcher's decision. The reasons come in the order a user would want them: no GPU
/// before no twin (on a machine without NVIDIA the missing twin is no news).
pub fn decide(inputs: &VariantInputs) -> VariantDecision {
    let stay = |reason| VariantDecision::StayOnCpu { reason };
    if inputs.this_is_cuda {
        return VariantDecision::ThisIsCuda;
    }
    if inputs.switched_off {
        return stay(StayReason::SwitchedOff);
    }
    if !inputs.gpus.iter().any(|gpu| gpu.cuda_ordinal.is_some()) {
        return stay(StayReason::NoNvidiaGpu);
    }
    let path = match &inputs.twin {
        Some((path, true)) => path.clone(),
        Some((path, false)) => {
            return stay(StayReason::TwinNotInstalled {
                expected: path.clone(),
            })
        }
        None => {
            return stay(StayReason::TwinNotInstalled {
                expected: PathBuf::new(),
            })
        }
    };
    match inputs.driver_cuda {
        None => return stay(StayReason::DriverVersionUnknown),
        Some(version) if version / 1000 < CUDA_VARIANT_MAJOR => {
            return stay(StayReason::DriverTooOld {
                driver_cuda: (version / 1000, version % 1000 / 10),
                needed_major: CUDA_VARIANT_MAJOR,
            })
        }
        Some(_) => {}
    }
    match inputs.libraries {
        Some(check) if check.all_present() => VariantDecision::StartTwin { path },
        Some(check) => stay(StayReason::LibrariesMissing {
            missing: check.missing.clone(),
        }),
        None => stay(StayReason::LibrariesMissing {
            missing: Vec::new(),
        }),
    }
}

/// Whether the CUDA twin's libraries load, checked only where there is an NVIDIA GPU (loading
/// them costs time and means nothing without one).
pub(crate) fn libraries_for(gpus: &[NvidiaGpu]) -> Option<CudaLibraryCheck> {
    (!gpus.is_empty()).then(|| crate::cuda_libraries::check_cuda_libraries(CUDA_VARIANT_MAJOR))
}

/// The decision for this process on this machine, from an NVML scan and the library check.
pub(crate) fn decide_here(
    nvidia: &crate::nvidia::NvidiaScan,
    libraries: Option<&CudaLibraryCheck>,
) -> VariantDecision {
    decide(&VariantInputs {
        this_is_cuda: cfg!(feature = "cuda"),
        switched_off: switched_off(),
        twin: this_twin(),
        gpus: &nvidia.gpus,
        driver_cuda: nvidia.driver_cuda_version,
        libraries,
    })
}

/// `…/jslm` → `…/jslm-cuda`, `…\jslm.exe` → `…\jslm-cuda.exe`.
pub fn twin_path(exe: &Path) -> Option<PathBuf> {
    let stem = exe.file_stem()?.to_str()?;
    let mut name = format!("{stem}{CUDA_TWIN_SUFFIX}");
    if let Some(ext) = exe.extension().and_then(|e| e.to_str()) {
        name = format!("{name}.{ext}");
    }
    Some(exe.with_file_name(name))
}

/// The twin of the running program and whether it is there (a regular file).
pub fn this_twin() -> Option<(PathBuf, bool)> {
    let exe = std::env::current_exe().ok()?;
    let twin = twin_path(&exe)?;
    let exists = twin.is_file();
    Some((twin, exists))
}

pub fn switched_off() -> bool {
    std::env::var(GPU_VARIANT_ENV).is_ok_and(|v| v.eq_ignore_ascii_case("off"))
}

/// Called first thing in `main` of the CPU builds: replaces this process with the CUDA twin
/// when [`decide`] says it can run here. Returns when the CPU build should run on (and then
/// says why on stderr only if the twin was there but could not be used, or failed to start).
pub fn start_twin_if_usable() {
    // First, in every build and before anything touches CUDA (the twin inherits it).
    pin_cuda_device_order();
    if cfg!(feature = "cuda") || switched_off() {
        return;
    }
    let twin = this_twin();
    // Cheap exit for CPU-only installs: no NVML, no library loading.
    if !matches!(twin, Some((_, true))) {
        return;
    }
    // Only what the decision needs (NVML, the libraries), not the whole hardware profile.
    let nvidia = crate::nvidia::scan();
    let libraries = libraries_for(&nvidia.gpus);
    match decide_here(&nvidia, libraries.as_ref()) {
        VariantDecision::StartTwin { path } => {
            let error = exec(&path);
            eprintln!(
                "note: the CUDA build {} did not start ({error}); running on the CPU",
                path.display()
            );
        }
        VariantDecision::StayOnCpu { reason } => {
            if !matches!(reason, StayReason::NoNvidiaGpu) {
                eprintln!("note: running the CPU build: {}", reason.describe());
            }
        }
        VariantDecision::ThisIsCuda => {}
    }
}

/// Makes CUDA number the GPUs in PCI bus order, as NVML does, unless the user chose an order.
/// The plan picks a GPU by its NVML index and gives CUDA the ordinal of that index
/// (`nvidia::assign_cuda_ordinals`); CUDA's default order is fastest first, so on a machine
/// with a GTX 1650 in the first slot and an RTX 4090 in the second, "cuda:1" was the 1650:
/// the model went to the 4 GB card, and a 4090 owner ended up on the CPU after its out-of-
/// memory. Called first thing in `main` (one thread: setting the environment is safe there).
pub fn pin_cuda_device_order() {
    const ORDER: &str = "CUDA_DEVICE_ORDER";
    if std::env::var_os(ORDER).is_none() {
        std::env::set_var(ORDER, "PCI_BUS_ID");
    }
}

/// Runs `path` with this process's arguments in its place; returns only if that failed.
#[cfg(unix)]
fn exec(path: &Path) -> std::io::Error {
    use std::os::unix::process::CommandExt;
    std::process::Command::new(path)
        .args(std::env::args_os().skip(1))
        .env(GPU_VARIANT_ENV, "off")
        .exec()
}

/// Windows has no exec: the twin runs as a child and its exit code is passed on.
#[cfg(not(unix))]
fn exec(path: &Path) -> std::io::Error {
    match std::process::Command::new(path)
        .args(std::env::args_os().skip(1))
        .env(GPU_VARIANT_ENV, "off")
        .status()
    {
        Ok(status) => std::process::exit(status.code().unwrap_or(1)),
        Err(error) => error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gpu(cuda_ordinal: Option<u32>) -> NvidiaGpu {
        NvidiaGpu {
            nvml_index: 0,
            cuda_ordinal,
            name: "NVIDIA H200".to_owned(),
            uuid: "GPU-1".to_owned(),
            total_vram_bytes: 141 << 30,
            free_vram_bytes: 140 << 30,
            compute_capability: Some((9, 0)),
        }
    }

    fn libraries(missing: &[&str]) -> CudaLibraryCheck {
        CudaLibraryCheck {
            cuda_major: CUDA_VARIANT_MAJOR,
            found: vec!["libcuda.so.1".to_owned()],
            missing: missing.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn decision_table() {
        let twin = PathBuf::from("/usr/bin/jslm-cuda");
        let visible = [gpu(Some(0))];
        let hidden = [gpu(None)];
        let all = libraries(&[]);
        let no_cublas = libraries(&["libcublas.so.13"]);
        let usable = VariantInputs {
            this_is_cuda: false,
            switched_off: false,
            twin: Some((twin.clone(), true)),
            gpus: &visible,
            driver_cuda: Some(13000),
            libraries: Some(&all),
        };
        let stay = |reason| VariantDecision::StayOnCpu { reason };
        let cases: Vec<(&str, VariantInputs, VariantDecision)> = vec![
            (
                "everything there",
                usable.clone(),
                VariantDecision::StartTwin { path: twin.clone() },
            ),
            (
                "newer driver",
                VariantInputs {
                    driver_cuda: Some(13020),
                    ..usable.clone()
                },
                VariantDecision::StartTwin { path: twin.clone() },
            ),
            (
                "the twin itself",
                VariantInputs {
                    this_is_cuda: true,
                    ..usable.clone()
                },
                VariantDecision::ThisIsCuda,
            ),
            (
                "switched off",
                VariantInputs {
                    switched_off: true,
                    ..usable.clone()
                },
                stay(StayReason::SwitchedOff),
            ),
            (
                "CPU-only install",
                VariantInputs {
                    twin: Some((twin.clone(), false)),
                    ..usable.clone()
                },
                stay(StayReason::TwinNotInstalled {
                    expected: twin.clone(),
                }),
            ),
            (
                "no GPU",
                VariantInputs {
                    gpus: &[],
                    ..usable.clone()
                },
                stay(StayReason::NoNvidiaGpu),
            ),
            (
                "GPU hidden by CUDA_VISIBLE_DEVICES",
                VariantInputs {
                    gpus: &hidden,
                    ..usable.clone()
                },
                stay(StayReason::NoNvidiaGpu),
            ),
            (
                "CUDA 12.4 driver",
                VariantInputs {
                    driver_cuda: Some(12040),
                    ..usable.clone()
                },
                stay(StayReason::DriverTooOld {
                    driver_cuda: (12, 4),
                    needed_major: CUDA_VARIANT_MAJOR,
                }),
            ),
            (
                "driver version unreadable",
                VariantInputs {
                    driver_cuda: None,
                    ..usable.clone()
                },
                stay(StayReason::DriverVersionUnknown),
            ),
            (
                "cuBLAS missing",
                VariantInputs {
                    libraries: Some(&no_cublas),
                    ..usable.clone()
                },
                stay(StayReason::LibrariesMissing {
                    missing: vec!["libcublas.so.13".to_owned()],
                }),
            ),
        ];
        for (name, inputs, want) in cases {
            assert_eq!(decide(&inputs), want, "{name}");
        }
    }

    #[test]
    fn twin_names() {
        assert_eq!(
            twin_path(Path::new("/usr/bin/jslm")),
            Some(PathBuf::from("/usr/bin/jslm-cuda"))
        );
        assert_eq!(
            twin_path(Path::new("/opt/JSLM/jslm-desktop")),
            Some(PathBuf::from("/opt/JSLM/jslm-desktop-cuda"))
        );
        assert_eq!(
            twin_path(Path::new("C:/JSLM/jslm.exe")),
            Some(PathBuf::from("C:/JSLM/jslm-cuda.exe"))
        );
    }

    #[test]
    fn reasons_say_what_to_do() {
        let old = StayReason::DriverTooOld {
            driver_cuda: (12, 4),
            needed_major: 13,
        };
        assert!(old.describe().contains("CUDA 12.4"), "{}", old.describe());
        assert!(old.describe().contains("update the NVIDIA driver"));
        let missing = StayReason::LibrariesMissing {
            missing: vec!["libcublas.so.13".to_owned()],
        };
        assert!(missing.describe().contains("libcublas.so.13"));
    }

    /// The constant is what scripts/build-cuda.sh builds with: a toolkit bump there without
    /// one here would make the launcher check the wrong library names.
    #[test]
    fn variant_major_matches_the_build_script() {
        let script = include_str!("../../../scripts/lib/cuda-toolkit.sh");
        let line = script
            .lines()
            .find(|l| l.starts_with("CUDA_TOOLKIT_VERSION="))
            .expect("CUDA_TOOLKIT_VERSION in cuda-toolkit.sh");
        let version = line.split(":-").nth(1).expect("a default version");
        let major: u32 = version.split('.').next().unwrap().parse().unwrap();
        assert_eq!(major, CUDA_VARIANT_MAJOR, "{line}");
    }
}
