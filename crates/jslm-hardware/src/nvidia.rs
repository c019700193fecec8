//! NVIDIA GPUs through NVML, which `nvml-wrapper` opens with `dlopen` at run time: a machine
//! without the NVIDIA driver simply has no GPUs here, and the binary needs no NVIDIA library
//! to start.

use crate::error::HardwareError;
use serde::{Deserialize, Serialize};

/// One NVIDIA GPU as NVML reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NvidiaGpu {
    /// NVML's index: PCI bus order, all GPUs, ignoring `CUDA_VISIBLE_DEVICES`.
    pub nvml_index: u32,
    /// The ordinal to pass to `Device::new_cuda`, or `None` when `CUDA_VISIBLE_DEVICES` hides
    /// this GPU from CUDA. Assumes `CUDA_DEVICE_ORDER=PCI_BUS_ID` when several GPUs are
    /// visible: `gpu_variant::pin_cuda_device_order` sets it first thing in `main` unless the
    /// user chose another order (with CUDA's default `FASTEST_FIRST` the ordinals of unequal
    /// GPUs can differ).
    pub cuda_ordinal: Option<u32>,
    /// E.g. "NVIDIA GeForce RTX 4090".
    pub name: String,
    /// NVML's UUID, "GPU-xxxxxxxx-...", stable across reboots.
    pub uuid: String,
    /// Installed VRAM in bytes.
    pub total_vram_bytes: u64,
    /// VRAM not allocated by any process right now, in bytes (the display and other apps use
    /// some).
    pub free_vram_bytes: u64,
    /// CUDA compute capability (major, minor); `None` if NVML could not tell.
    pub compute_capability: Option<(u32, u32)>,
}

impl NvidiaGpu {
    /// Whether candle's CUDA kernels support bf16 here: they are compiled for bf16 only on
    /// compute capability 8.0 (Ampere) and newer.
    pub fn supports_bf16(&self) -> bool {
        matches!(self.compute_capability, Some((major, _)) if major >= 8)
    }
}

/// VRAM of one GPU as NVML reports it now (all processes, the display included).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VramUse {
    pub used_bytes: u64,
    pub total_bytes: u64,
}

/// The VRAM in use on the GPU that CUDA calls `cuda_ordinal`, read now: after a load, what the
/// model took plus what was in use before. `None` without NVML or such a GPU.
pub fn vram_use(cuda_ordinal: u32) -> Option<VramUse> {
    scan()
        .gpus
        .into_iter()
        .find(|gpu| gpu.cuda_ordinal == Some(cuda_ordinal))
        .map(|gpu| VramUse {
            used_bytes: gpu.total_vram_bytes.saturating_sub(gpu.free_vram_bytes),
            total_bytes: gpu.total_vram_bytes,
        })
}

/// What NVML said: the GPUs it could read, plus problems worth showing.
#[derive(Debug, Default)]
pub(crate) struct NvidiaScan {
    pub gpus: Vec<NvidiaGpu>,
    pub problems: Vec<HardwareError>,
    /// Driver version string, e.g. "550.54.14", when NVML loaded.
    pub driver_version: Option<String>,
    /// Newest CUDA version the driver supports, as NVML encodes it (12040 = 12.4).
    pub driver_cuda_version: Option<u32>,
}

/// Library names to try, most specific first. The unversioned `libnvidia-ml.so` that
/// nvml-wrapper opens by default exists only with the driver's development package on many
/// distributions; `libnvidia-ml.so.1` ships with every Linux driver.
#[cfg(target_os = "linux")]
const NVML_LIBRARIES: &[&str] = &["libnvidia-ml.so.1", "libnvidia-ml.so"];
#[cfg(not(target_os = "linux"))]
const NVML_LIBRARIES: &[&str] = &["nvml.dll"];

/// Lists the NVIDIA GPUs. Never fails as a whole: no driver means no GPUs; a GPU that fails a
/// query is left out and reported in `problems`.
pub(crate) fn scan() -> NvidiaScan {
    // macOS has had no NVIDIA driver since 10.13; do not even try to dlopen.
    if cfg!(target_os = "macos") {
        return NvidiaScan::default();
    }
    let Some(nvml) = open_nvml() else {
        let loaded = std::path::Path::new("/sys/module/nvidia").exists();
        return without_driver(pci_nvidia_gpus(std::path::Path::new(PCI_DEVICES)), loaded);
    };
    let nvml = match nvml {
        Ok(nvml) => nvml,
        Err(err) => {
            return NvidiaScan {
                problems: vec![HardwareError::NvmlFailed {
                    message: err.to_string(),
                }],
                ..NvidiaScan::default()
            }
        }
    };
    let mut scan = NvidiaScan {
        driver_version: nvml.sys_driver_version().ok(),
        driver_cuda_version: nvml
            .sys_cuda_driver_version()
            .ok()
            .and_then(|v| u32::try_from(v).ok()),
        ..NvidiaScan::default()
    };
    let count = match nvml.device_count() {
        Ok(count) => count,
        Err(err) => {
            scan.problems.push(HardwareError::NvmlFailed {
                message: err.to_string(),
            });
            return scan;
        }
    };
    for index in 0..count {
        match read_gpu(&nvml, index) {
            Ok(gpu) => scan.gpus.push(gpu),
            Err(err) => scan.problems.push(err),
        }
    }
    let visible = std::env::var("CUDA_VISIBLE_DEVICES").ok();
    assign_cuda_ordinals(&mut scan.gpus, visible.as_deref());
    scan
}

/// Where Linux lists the PCI devices.
const PCI_DEVICES: &str = "/sys/bus/pci/devices";

/// NVIDIA display controllers on the PCI bus (vendor 0x10de, class 0x03xxxx), whatever the
/// driver's state; 0 where there is no such folder (not Linux).
fn pci_nvidia_gpus(devices: &std::path::Path) -> usize {
    let Ok(entries) = std::fs::read_dir(devices) else {
        return 0;
    };
    let read = |dir: &std::path::Path, name: &str| {
        std::fs::read_to_string(dir.join(name))
            .map(|text| text.trim().to_ascii_lowercase())
            .unwrap_or_default()
    };
    entries
        .flatten()
        .filter(|entry| {
            let dir = entry.path();
            read(&dir, "vendor") == "0x10de" && read(&dir, "class").starts_with("0x03")
        })
        .count()
}

/// No NVML to ask. With no NVIDIA GPU on the bus that is a normal machine; with one, the GPU
/// is there but cannot be used, and users see "GPU: none" beside a card they paid for: say
/// why, as a problem that doctor and the plan show.
/// `module_loaded`: the kernel module is there (`/sys/module/nvidia`), so the driver runs and
/// only its NVML library was not found (NixOS's paths, a container given only CUDA).
fn without_driver(gpus_on_the_bus: usize, module_loaded: bool) -> NvidiaScan {
    if gpus_on_the_bus == 0 {
        return NvidiaScan::default();
    }
    let message = if module_loaded {
        format!(
            "{gpus_on_the_bus} NVIDIA GPU(s) on the PCI bus and the NVIDIA kernel module is \
             loaded, but its library libnvidia-ml.so.1 (NVML) was not found, so the GPU cannot \
             be checked or used here"
        )
    } else {
        format!(
            "{gpus_on_the_bus} NVIDIA GPU(s) on the PCI bus, but the NVIDIA driver is not \
             running: not installed, its kernel module not loaded (a kernel update without \
             DKMS, or refused by Secure Boot), or the GPU not passed into this container. \
             `nvidia-smi` fails the same way until it is fixed"
        )
    };
    NvidiaScan {
        problems: vec![HardwareError::NvmlFailed { message }],
        ..NvidiaScan::default()
    }
}

/// `None` when no NVML library or no driver is present (a normal machine without NVIDIA);
/// `Some(Err)` when NVML is there but failed.
fn open_nvml() -> Option<Result<nvml_wrapper::Nvml, nvml_wrapper::error::NvmlError>> {
    use nvml_wrapper::error::NvmlError;
    let mut last_error = None;
    for library in NVML_LIBRARIES {
        match nvml_wrapper::Nvml::builder()
            .lib_path(std::ffi::OsStr::new(library))
            .init()
        {
            Ok(nvml) => return Some(Ok(nvml)),
            // The library is not installed under this name: try the next one.
            Err(NvmlError::LibloadingError(_)) | Err(NvmlError::LibraryNotFound) => {}
            // Library present but no kernel driver (e.g. the driver package installed in a
            // container without a GPU passed through): no GPU, not a failure.
            Err(NvmlError::DriverNotLoaded) => return None,
            Err(err) => last_error = Some(err),
        }
    }
    last_error.map(Err)
}

fn read_gpu(nvml: &nvml_wrapper::Nvml, index: u32) -> Result<NvidiaGpu, HardwareError> {
    let failed = |err: nvml_wrapper::error::NvmlError| HardwareError::GpuQueryFailed {
        index,
        message: err.to_string(),
    };
    let device = nvml.device_by_index(index).map_err(failed)?;
    let memory = device.memory_info().map_err(failed)?;
    Ok(NvidiaGpu {
        nvml_index: index,
        cuda_ordinal: None,
        name: device
            .name()
            .unwrap_or_else(|_| format!("NVIDIA GPU {index}")),
        uuid: device.uuid().unwrap_or_default(),
        total_vram_bytes: memory.total,
        free_vram_bytes: memory.free.min(memory.total),
        compute_capability: device
            .cuda_compute_capability()
            .ok()
            .and_then(|cc| Some((u32::try_from(cc.major).ok()?, u32::try_from(cc.minor).ok()?))),
    })
}

/// Sets each GPU's CUDA ordinal from `CUDA_VISIBLE_DEVICES`: unset means all GPUs in NVML
/// (PCI) order; otherwise a comma-separated list of NVML indices or UUID prefixes, where CUDA
/// numbers the listed GPUs 0, 1, ... in list order and stops at the first invalid entry
/// (documented CUDA behaviour). An empty value hides every GPU.
pub(crate) fn assign_cuda_ordinals(gpus: &mut [NvidiaGpu], cuda_visible_devices: Option<&str>) {
    for gpu in gpus.iter_mut() {
        gpu.cuda_ordinal = None;
    }
    let Some(list) = cuda_visible_devices else {
        // Its own NVML index, not its place in `gpus`: a GPU whose query failed is missing
        // from the list, and counting places would shift every later GPU onto its neighbour.
        for gpu in gpus.iter_mut() {
            gpu.cuda_ordinal = Some(gpu.nvml_index);
        }
        return;
    };
    for (ordinal, entry) in (0u32..).zip(list.split(',').map(str::trim)) {
        let found = if let Ok(index) = entry.parse::<u32>() {
            gpus.iter().position(|gpu| gpu.nvml_index == index)
        } else if entry.starts_with("GPU-") {
            gpus.iter()
                .position(|gpu| !gpu.uuid.is_empty() && gpu.uuid.starts_with(entry))
        } else {
            None
        };
        let Some(position) = found else { break };
        if gpus[position].cuda_ordinal.is_some() {
            // Listed twice: CUDA treats that as invalid too.
            break;
        }
        gpus[position].cuda_ordinal = Some(ordinal);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gpu(index: u32, uuid: &str) -> NvidiaGpu {
        NvidiaGpu {
            nvml_index: index,
            cuda_ordinal: None,
            name: format!("GPU {index}"),
            uuid: uuid.to_owned(),
            total_vram_bytes: 1,
            free_vram_bytes: 1,
            compute_capability: Some((8, 9)),
        }
    }

    #[test]
    fn a_gpu_on_the_bus_without_a_driver_is_said() {
        let dir = tempfile::tempdir().expect("tempdir");
        let device = |name: &str, vendor: &str, class: &str| {
            let d = dir.path().join(name);
            std::fs::create_dir_all(&d).expect("mkdir");
            std::fs::write(d.join("vendor"), format!("{vendor}\n")).expect("vendor");
            std::fs::write(d.join("class"), format!("{class}\n")).expect("class");
        };
        device("0000:00:02.0", "0x8086", "0x030000"); // Intel graphics
        device("0000:01:00.1", "0x10de", "0x040300"); // the NVIDIA card's audio function
        assert_eq!(pci_nvidia_gpus(dir.path()), 0);
        assert!(
            without_driver(0, false).problems.is_empty(),
            "a normal machine"
        );
        device("0000:01:00.0", "0x10de", "0x030000"); // the NVIDIA GPU
        assert_eq!(pci_nvidia_gpus(dir.path()), 1);
        let scan = without_driver(1, false);
        assert!(scan.gpus.is_empty());
        let said = scan.problems[0].to_string();
        assert!(
            said.contains("driver is not running") && said.contains("Secure Boot"),
            "{said}"
        );
        // The module runs; only NVML is missing: not blamed on the driver.
        let said = without_driver(1, true).problems[0].to_string();
        assert!(
            said.contains("libnvidia-ml.so.1") && !said.contains("not running"),
            "{said}"
        );
        assert_eq!(pci_nvidia_gpus(&dir.path().join("missing")), 0);
    }

    #[test]
    fn cuda_ordinals_table() {
        let cases: &[(Option<&str>, [Option<u32>; 3])] = &[
            (None, [Some(0), Some(1), Some(2)]),
            (Some(""), [None, None, None]),
            (Some("2"), [None, None, Some(0)]),
            (Some("2,0"), [Some(1), None, Some(0)]),
            (Some("1, 2"), [None, Some(0), Some(1)]),
            (Some("GPU-bbb"), [None, Some(0), None]),
            // CUDA stops at the first invalid entry.
            (Some("0,7,2"), [Some(0), None, None]),
            (Some("0,0,2"), [Some(0), None, None]),
            (Some("nonsense"), [None, None, None]),
        ];
        for (visible, want) in cases {
            let mut gpus = vec![gpu(0, "GPU-aaa1"), gpu(1, "GPU-bbb2"), gpu(2, "GPU-ccc3")];
            assign_cuda_ordinals(&mut gpus, *visible);
            let got: Vec<Option<u32>> = gpus.iter().map(|g| g.cuda_ordinal).collect();
            assert_eq!(got, want.to_vec(), "CUDA_VISIBLE_DEVICES={visible:?}");
        }
        // NVML's GPU 0 failed its query and is missing: GPU 1 is still CUDA's 1, not 0.
        let mut answered = vec![gpu(1, "GPU-bbb2"), gpu(2, "GPU-ccc3")];
        assign_cuda_ordinals(&mut answered, None);
        let got: Vec<Option<u32>> = answered.iter().map(|g| g.cuda_ordinal).collect();
        assert_eq!(got, vec![Some(1), Some(2)]);
    }

    #[test]
    fn bf16_needs_ampere() {
        let cases = [
            (Some((7, 5)), false),
            (Some((8, 0)), true),
            (Some((9, 0)), true),
            (None, false),
        ];
        for (cc, want) in cases {
            let g = NvidiaGpu {
                compute_capability: cc,
                ..gpu(0, "")
            };
            assert_eq!(g.supports_bf16(), want, "{cc:?}");
        }
    }

    #[test]
    fn scan_without_nvidia_is_empty_not_an_error() {
        // This test machine has no NVIDIA driver; where one has, the scan must still not fail.
        let scan = scan();
        for gpu in &scan.gpus {
            assert!(gpu.free_vram_bytes <= gpu.total_vram_bytes);
        }
    }
}
