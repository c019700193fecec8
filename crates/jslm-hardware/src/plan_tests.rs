//! Table tests of the plan policy over synthetic machines.

use super::*;
use crate::fit::FitLevel::{Comfortable, Tight, WillNotFit};
use crate::model::tests::seven_b;
use crate::model::WeightFile;
use jslm_core::Container;
use jslm_core::Precision::{self, Bf16, F16, Q4KM, Q8_0};

/// The weight file a plan loads, as (container, stored precision).
type Source = (Container, Precision);
#[allow(non_upper_case_globals)]
const SafetensorsBf16: Source = (Container::Safetensors, Bf16);
#[allow(non_upper_case_globals)]
const GgufQ4KM: Source = (Container::Gguf, Q4KM);
#[allow(non_upper_case_globals)]
const GgufQ8_0: Source = (Container::Gguf, Q8_0);

/// Synthetic machines. RAM and VRAM in binary units as the OS reports them, "available"
/// as a typical desktop session leaves it.
pub(crate) mod machines {
    use crate::apple::{estimated_working_set, AppleGpu, WorkingSetSource};
    use crate::backend::{BackendStatus, BackendSupport};
    use crate::cpu::{CpuFeatures, CpuInfo};
    use crate::memory::SystemMemory;
    use crate::nvidia::NvidiaGpu;
    use crate::profile::HardwareProfile;
    use crate::units::{GB, GIB};

    const X86_AVX2: CpuFeatures = CpuFeatures {
        avx: true,
        avx2: true,
        fma: true,
        f16c: true,
        avx512f: false,
        avx512vnni: false,
        avxvnni: false,
        amx_int8: false,
        neon: false,
        dotprod: false,
    };

    fn x86(brand: &str, physical: usize, logical: usize, features: CpuFeatures) -> CpuInfo {
        CpuInfo {
            brand: brand.into(),
            arch: "x86_64".into(),
            physical_cores: physical,
            logical_cores: logical,
            features,
        }
    }

    fn no_backends() -> BackendSupport {
        BackendSupport {
            cuda: BackendStatus::NotBuilt,
            metal: BackendStatus::NotBuilt,
        }
    }

    fn cuda_build() -> BackendSupport {
        BackendSupport {
            cuda: BackendStatus::Available,
            metal: BackendStatus::NotBuilt,
        }
    }

    fn pc(cpu: CpuInfo, total: u64, available: u64) -> HardwareProfile {
        HardwareProfile {
            os: "linux".into(),
            cpu,
            memory: SystemMemory {
                total_bytes: total,
                available_bytes: available,
            },
            nvidia_gpus: vec![],
            nvidia_driver: None,
            cuda_libraries: None,
            gpu_variant: None,
            nvidia_driver_cuda: None,
            apple_gpu: None,
            backends: no_backends(),
            model_cache_disk: None,
            notes: vec![],
        }
    }

    pub(crate) fn nvidia(
        index: u32,
        name: &str,
        total: u64,
        free: u64,
        cc: (u32, u32),
    ) -> NvidiaGpu {
        NvidiaGpu {
            nvml_index: index,
            cuda_ordinal: Some(index),
            name: name.into(),
            uuid: format!("GPU-{index:08x}"),
            total_vram_bytes: total,
            free_vram_bytes: free,
            compute_capability: Some(cc),
        }
    }

    /// 8 GB laptop, integrated graphics, a browser open.
    pub(crate) fn laptop_8gb() -> HardwareProfile {
        pc(
            x86("Intel Core i5-1135G7", 4, 8, X86_AVX2),
            8 * GIB,
            5_800_000_000,
        )
    }

    /// 32 GB desktop without a GPU: room for every quantized plan, for override tests.
    pub(crate) fn no_gpu_32gb() -> HardwareProfile {
        pc(
            x86("Intel Core i7-12700", 12, 20, X86_AVX2),
            32 * GIB,
            26 * GB,
        )
    }

    /// 16 GB desktop without a GPU.
    pub(crate) fn no_gpu_16gb() -> HardwareProfile {
        pc(x86("AMD Ryzen 7 5700G", 8, 16, X86_AVX2), 16 * GIB, 12 * GB)
    }

    /// RTX 4090 (24 GB), 64 GB RAM, CUDA build.
    pub(crate) fn rtx_4090() -> HardwareProfile {
        let mut p = pc(
            x86("AMD Ryzen 9 7950X", 16, 32, X86_AVX2),
            64 * GIB,
            50 * GB,
        );
        p.nvidia_gpus = vec![nvidia(
            0,
            "NVIDIA GeForce RTX 4090",
            24 * GIB,
            22 * GIB + GIB / 2,
            (8, 9),
        )];
        p.backends = cuda_build();
        p
    }

    /// RTX 3070 (8 GB) with 32 GB RAM, CUDA build.
    pub(crate) fn gpu_8gb_ram_32gb() -> HardwareProfile {
        let mut p = pc(
            x86("Intel Core i7-12700", 12, 20, X86_AVX2),
            32 * GIB,
            26 * GB,
        );
        p.nvidia_gpus = vec![nvidia(
            0,
            "NVIDIA GeForce RTX 3070",
            8 * GIB,
            7_200_000_000,
            (8, 6),
        )];
        p.backends = cuda_build();
        p
    }

    /// Tesla V100 32 GB: compute capability 7.0, no bf16.
    pub(crate) fn v100_32gb() -> HardwareProfile {
        let mut p = pc(
            x86("Intel Xeon Gold 6148", 20, 40, X86_AVX2),
            128 * GIB,
            100 * GB,
        );
        p.nvidia_gpus = vec![nvidia(
            0,
            "Tesla V100-SXM2-32GB",
            32 * GIB,
            31 * GIB,
            (7, 0),
        )];
        p.backends = cuda_build();
        p
    }

    /// One NVIDIA card of `total_gib` with `free` bytes free (compute 8.9, bf16), 64 GB RAM,
    /// CUDA build: the VRAM ladder's machines.
    pub(crate) fn card(total_gib: u64, free: u64) -> HardwareProfile {
        let mut p = rtx_4090();
        p.nvidia_gpus = vec![nvidia(
            0,
            &format!("NVIDIA {total_gib} GB"),
            total_gib * GIB,
            free,
            (8, 9),
        )];
        p
    }

    /// A 4 GB GTX 1650 on the first PCI slot and an RTX 4090 on the second.
    pub(crate) fn two_gpus() -> HardwareProfile {
        let mut p = rtx_4090();
        p.nvidia_gpus = vec![
            nvidia(0, "NVIDIA GeForce GTX 1650", 4 * GIB, 3 * GIB, (7, 5)),
            nvidia(1, "NVIDIA GeForce RTX 4090", 24 * GIB, 22 * GIB, (8, 9)),
        ];
        p
    }

    fn mac(brand: &str, cores: usize, total: u64, available: u64) -> HardwareProfile {
        HardwareProfile {
            os: "macos".into(),
            cpu: CpuInfo {
                brand: brand.into(),
                arch: "aarch64".into(),
                physical_cores: cores,
                logical_cores: cores,
                features: CpuFeatures {
                    neon: true,
                    ..CpuFeatures::default()
                },
            },
            memory: SystemMemory {
                total_bytes: total,
                available_bytes: available,
            },
            nvidia_gpus: vec![],
            nvidia_driver: None,
            cuda_libraries: None,
            gpu_variant: None,
            nvidia_driver_cuda: None,
            apple_gpu: Some(AppleGpu {
                name: brand.into(),
                working_set_bytes: estimated_working_set(total),
                working_set_source: WorkingSetSource::EstimatedFromRam,
                supports_bf16: crate::apple::brand_supports_bf16(brand),
            }),
            backends: BackendSupport {
                cuda: BackendStatus::NotBuilt,
                metal: BackendStatus::Available,
            },
            model_cache_disk: None,
            notes: vec![],
        }
    }

    /// MacBook Air M2, 16 GB, Metal build.
    pub(crate) fn m2_16gb() -> HardwareProfile {
        mac("Apple M2", 8, 16 * GIB, 10 * GB)
    }

    /// MacBook Pro M3 Max, 64 GB, Metal build.
    pub(crate) fn m3_max_64gb() -> HardwareProfile {
        mac("Apple M3 Max", 16, 64 * GIB, 40 * GB)
    }

    /// MacBook Air M1, 16 GB: no bf16.
    pub(crate) fn m1_16gb() -> HardwareProfile {
        mac("Apple M1", 8, 16 * GIB, 10 * GB)
    }

    /// Xeon (Sapphire Rapids: AVX-512 VNNI + AMX) in a container with 16 GB available.
    pub(crate) fn amx_server_16gb() -> HardwareProfile {
        let features = CpuFeatures {
            avx512f: true,
            avx512vnni: true,
            avxvnni: true,
            amx_int8: true,
            ..X86_AVX2
        };
        pc(
            x86("Intel Xeon Platinum 8480+", 8, 16, features),
            18 * GIB,
            16 * GB,
        )
    }

    /// Pentium G4560 (Kaby Lake): no AVX at all, 16 GB.
    pub(crate) fn no_avx2_16gb() -> HardwareProfile {
        let features = CpuFeatures {
            f16c: false,
            ..CpuFeatures::default()
        };
        pc(
            x86("Intel Pentium G4560", 2, 4, features),
            16 * GIB,
            12 * GB,
        )
    }
}

fn cpu() -> ComputeDevice {
    ComputeDevice::Cpu
}

fn cuda(ordinal: u32) -> ComputeDevice {
    ComputeDevice::Cuda {
        ordinal,
        nvml_index: ordinal,
    }
}

/// One row: machine, settings, then the expected device, precision, format, fit, context.
struct Case {
    name: &'static str,
    profile: HardwareProfile,
    settings: PlanSettings,
    device: ComputeDevice,
    precision: Precision,
    format: Source,
    fit: FitLevel,
    context: u32,
    warnings: &'static [&'static str],
    refused: &'static [&'static str],
}

fn auto() -> PlanSettings {
    PlanSettings::default()
}

fn with(f: impl FnOnce(&mut PlanSettings)) -> PlanSettings {
    let mut settings = PlanSettings::default();
    f(&mut settings);
    settings
}

fn run(cases: Vec<Case>) {
    let mut mismatches = Vec::new();
    for case in cases {
        let plan = plan(&case.profile, &seven_b(), &case.settings);
        let warnings: Vec<&str> = plan.warnings.iter().map(|w| w.code()).collect();
        let refused: Vec<&str> = plan.refused.iter().map(|r| r.reason.code()).collect();
        let got = (
            plan.device,
            plan.precision,
            (plan.source.container, plan.source.precision),
            plan.fit.level,
            plan.context_tokens,
        );
        let want = (
            case.device,
            case.precision,
            case.format,
            case.fit,
            case.context,
        );
        if got != want || warnings != case.warnings || refused != case.refused {
            mismatches.push(format!(
                "{}\n  want {want:?} warnings {:?} refused {:?}\n  got  {got:?} warnings \
                 {warnings:?} refused {refused:?}\n  {}",
                case.name, case.warnings, case.refused, plan.fit
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[test]
fn automatic_plans_per_machine() {
    use machines::*;
    run(vec![
        Case {
            name: "8 GB laptop: Q4_K_M fits tightly at the full 4096 tokens (the 4.4 GB file memory-mapped, plus f16 KV)",
            profile: laptop_8gb(),
            settings: auto(),
            device: cpu(),
            precision: Q4KM,
            format: GgufQ4KM,
            fit: Tight,
            context: 4096,
            warnings: &[],
            refused: &[],
        },
        Case {
            name: "16 GB, no GPU, AVX2: Q4_K_M fits comfortably (5.3 GB)",
            profile: no_gpu_16gb(),
            settings: auto(),
            device: cpu(),
            precision: Q4KM,
            format: GgufQ4KM,
            fit: Comfortable,
            context: 4096,
            warnings: &[],
            refused: &[],
        },
        Case {
            name: "32 GB, no GPU: Q4_K_M",
            profile: no_gpu_32gb(),
            settings: auto(),
            device: cpu(),
            precision: Q4KM,
            format: GgufQ4KM,
            fit: Comfortable,
            context: 4096,
            warnings: &[],
            refused: &[],
        },
        Case {
            name: "RTX 4090: bf16 safetensors on the GPU",
            profile: rtx_4090(),
            settings: auto(),
            device: cuda(0),
            precision: Bf16,
            format: SafetensorsBf16,
            fit: Comfortable,
            context: 4096,
            warnings: &[],
            refused: &[],
        },
        Case {
            name: "8 GB GPU + 32 GB RAM: GPU too small, Q4_K_M split between it and the CPU",
            profile: gpu_8gb_ram_32gb(),
            settings: auto(),
            device: cuda(0),
            precision: Q4KM,
            format: GgufQ4KM,
            fit: Comfortable,
            context: 4096,
            warnings: &["gpu_too_small"],
            refused: &[],
        },
        Case {
            name: "8 GB GPU + 32 GB RAM, prefers quality: Q8_0 split between it and the CPU",
            profile: gpu_8gb_ram_32gb(),
            settings: with(|s| s.prefer_quality = true),
            device: cuda(0),
            precision: Q8_0,
            format: GgufQ8_0,
            fit: Comfortable,
            context: 4096,
            warnings: &["gpu_too_small"],
            refused: &[],
        },
        Case {
            name: "V100 (compute 7.0): f16",
            profile: v100_32gb(),
            settings: auto(),
            device: cuda(0),
            precision: F16,
            format: SafetensorsBf16,
            fit: Comfortable,
            context: 4096,
            warnings: &[],
            refused: &[],
        },
        Case {
            name: "GTX 1650 on slot 0, RTX 4090 on slot 1: the 4090",
            profile: two_gpus(),
            settings: auto(),
            device: cuda(1),
            precision: Bf16,
            format: SafetensorsBf16,
            fit: Comfortable,
            context: 4096,
            warnings: &[],
            refused: &[],
        },
        Case {
            name: "M2 16 GB: bf16 exceeds the working set, Q4_K_M on Metal",
            profile: m2_16gb(),
            settings: auto(),
            device: ComputeDevice::Metal,
            precision: Q4KM,
            format: GgufQ4KM,
            fit: Comfortable,
            context: 4096,
            warnings: &[], // the reason says it: smaller to fit
            refused: &[],
        },
        Case {
            name: "M3 Max 64 GB: bf16 on Metal",
            profile: m3_max_64gb(),
            settings: auto(),
            device: ComputeDevice::Metal,
            precision: Bf16,
            format: SafetensorsBf16,
            fit: Comfortable,
            context: 4096,
            warnings: &[],
            refused: &[],
        },
        Case {
            name: "AMX server, 16 GB free: Q4_K_M fits comfortably",
            profile: amx_server_16gb(),
            settings: auto(),
            device: cpu(),
            precision: Q4KM,
            format: GgufQ4KM,
            fit: Comfortable,
            context: 4096,
            warnings: &[],
            refused: &[],
        },
        Case {
            name: "CPU without AVX2: still a CPU plan, with a warning",
            profile: no_avx2_16gb(),
            settings: auto(),
            device: cpu(),
            precision: Q4KM,
            format: GgufQ4KM,
            fit: Comfortable,
            context: 4096,
            warnings: &["no_avx2"],
            refused: &[],
        },
    ]);
}

#[test]
fn gpus_this_build_cannot_use() {
    use machines::*;
    let mut not_built = rtx_4090();
    not_built.backends.cuda = BackendStatus::NotBuilt;
    let mut failed = rtx_4090();
    failed.backends.cuda = BackendStatus::Failed {
        message: "CUDA_ERROR_NO_DEVICE".into(),
    };
    let mut hidden = rtx_4090();
    hidden.nvidia_gpus[0].cuda_ordinal = None;
    let mut m2_without_metal = m2_16gb();
    m2_without_metal.backends.metal = BackendStatus::NotBuilt;
    let mut not_probed = rtx_4090();
    not_probed.backends.cuda = BackendStatus::NotProbed;
    // The CUDA build's kernels are for 9.0 (the default); a 4090 is 8.9.
    let mut older_than_the_kernels = rtx_4090();
    older_than_the_kernels.backends.cuda = BackendStatus::Available;
    older_than_the_kernels.refuse_gpus_older_than((9, 0));
    let refused = format!("{:?}", older_than_the_kernels.backends.cuda);
    assert!(
        refused.contains("8.9") && refused.contains("CUDA_COMPUTE_CAP=89"),
        "{refused}"
    );
    let mut new_enough = rtx_4090();
    new_enough.backends.cuda = BackendStatus::Available;
    new_enough.refuse_gpus_older_than((8, 6));
    assert_eq!(new_enough.backends.cuda, BackendStatus::Available);
    let cpu_q4 = |name, profile, warning| Case {
        name,
        profile,
        settings: auto(),
        device: cpu(),
        precision: Q4KM,
        format: GgufQ4KM,
        fit: Comfortable,
        context: 4096,
        warnings: warning,
        refused: &[],
    };
    run(vec![
        cpu_q4("4090, default build", not_built, &["cuda_not_built"]),
        cpu_q4("4090, CUDA fails", failed, &["cuda_unavailable"]),
        cpu_q4(
            "4090 under a CUDA build for 9.0",
            older_than_the_kernels,
            &["cuda_unavailable"],
        ),
        cpu_q4(
            "4090 hidden by CUDA_VISIBLE_DEVICES",
            hidden,
            &["nvidia_gpu_hidden"],
        ),
        Case {
            name: "M2, build without Metal: CPU, fits comfortably",
            profile: m2_without_metal,
            settings: auto(),
            device: cpu(),
            precision: Q4KM,
            format: GgufQ4KM,
            fit: Comfortable,
            context: 4096,
            warnings: &["metal_not_built"],
            refused: &[],
        },
        Case {
            name: "4090, CUDA build, not probed: planned on the GPU",
            profile: not_probed,
            settings: auto(),
            device: cuda(0),
            precision: Bf16,
            format: SafetensorsBf16,
            fit: Comfortable,
            context: 4096,
            warnings: &[],
            refused: &[],
        },
    ]);
}

#[test]
fn overrides_honoured_or_refused() {
    use machines::*;
    run(vec![
        Case {
            name: "CUDA requested, no GPU: refused, CPU",
            profile: no_gpu_32gb(),
            settings: with(|s| s.device = Some(DeviceKind::Cuda)),
            device: cpu(),
            precision: Q4KM,
            format: GgufQ4KM,
            fit: Comfortable,
            context: 4096,
            warnings: &[],
            refused: &["no_nvidia_gpu"],
        },
        Case {
            name: "CUDA requested, default build: refused",
            profile: {
                let mut p = rtx_4090();
                p.backends.cuda = BackendStatus::NotBuilt;
                p
            },
            settings: with(|s| s.device = Some(DeviceKind::Cuda)),
            device: cpu(),
            precision: Q4KM,
            format: GgufQ4KM,
            fit: Comfortable,
            context: 4096,
            warnings: &["cuda_not_built"],
            refused: &["cuda_not_built"],
        },
        Case {
            name: "Metal requested on Linux: refused",
            profile: no_gpu_32gb(),
            settings: with(|s| s.device = Some(DeviceKind::Metal)),
            device: cpu(),
            precision: Q4KM,
            format: GgufQ4KM,
            fit: Comfortable,
            context: 4096,
            warnings: &[],
            refused: &["no_apple_gpu"],
        },
        Case {
            name: "bf16 on CPU: refused as too slow",
            profile: no_gpu_32gb(),
            settings: with(|s| s.precision = Some(Bf16)),
            device: cpu(),
            precision: Q4KM,
            format: GgufQ4KM,
            fit: Comfortable,
            context: 4096,
            warnings: &[],
            refused: &["slow_on_cpu"],
        },
        Case {
            name: "bf16 on CPU, forced, fits in 32 GB",
            profile: gpu_8gb_ram_32gb(),
            settings: with(|s| {
                s.device = Some(DeviceKind::Cpu);
                s.precision = Some(Bf16);
                s.force = true;
            }),
            device: cpu(),
            precision: Bf16,
            format: SafetensorsBf16,
            fit: Comfortable,
            context: 4096,
            warnings: &["forced"],
            refused: &[],
        },
        Case {
            name: "bf16 on CPU, forced, does not fit in 16 GB: followed, says so",
            profile: no_gpu_16gb(),
            settings: with(|s| {
                s.precision = Some(Bf16);
                s.force = true;
            }),
            device: cpu(),
            precision: Bf16,
            format: SafetensorsBf16,
            fit: WillNotFit,
            context: 4096,
            warnings: &["forced", "forced"],
            refused: &[],
        },
        Case {
            name: "Q8_0 on 16 GB: honoured at the full context (8.6 GB)",
            profile: no_gpu_16gb(),
            settings: with(|s| s.precision = Some(Q8_0)),
            device: cpu(),
            precision: Q8_0,
            format: GgufQ8_0,
            fit: Comfortable,
            context: 4096,
            warnings: &[],
            refused: &[],
        },
        Case {
            name: "Q8_0 on the 8 GB laptop: refused (will not fit); Q4_K_M fits tightly",
            profile: laptop_8gb(),
            settings: with(|s| s.precision = Some(Q8_0)),
            device: cpu(),
            precision: Q4KM,
            format: GgufQ4KM,
            fit: Tight,
            context: 4096,
            warnings: &[],
            refused: &["will_not_fit"],
        },
        Case {
            name: "CPU requested on the 4090 machine: honoured, no GPU warnings",
            profile: rtx_4090(),
            settings: with(|s| s.device = Some(DeviceKind::Cpu)),
            device: cpu(),
            precision: Q4KM,
            format: GgufQ4KM,
            fit: Comfortable,
            context: 4096,
            warnings: &[],
            refused: &[],
        },
        Case {
            name: "Q4_K_M on the 4090: GGUF on the GPU",
            profile: rtx_4090(),
            settings: with(|s| s.precision = Some(Q4KM)),
            device: cuda(0),
            precision: Q4KM,
            format: GgufQ4KM,
            fit: Comfortable,
            context: 4096,
            warnings: &[],
            refused: &[],
        },
        Case {
            name: "bf16 on a V100: refused (no bf16 kernels), f16",
            profile: v100_32gb(),
            settings: with(|s| s.precision = Some(Bf16)),
            device: cuda(0),
            precision: F16,
            format: SafetensorsBf16,
            fit: Comfortable,
            context: 4096,
            warnings: &[],
            refused: &["no_bf16"],
        },
        Case {
            name: "CUDA requested on the 8 GB GPU: steps down to Q4_K_M, shorter context",
            profile: gpu_8gb_ram_32gb(),
            settings: with(|s| s.device = Some(DeviceKind::Cuda)),
            device: cuda(0),
            precision: Q4KM,
            format: GgufQ4KM,
            fit: Tight,
            context: 2048,
            warnings: &["context_reduced"],
            refused: &[],
        },
        Case {
            name: "CUDA + bf16 requested on the 8 GB GPU: precision refused, Q4_K_M on GPU",
            profile: gpu_8gb_ram_32gb(),
            settings: with(|s| {
                s.device = Some(DeviceKind::Cuda);
                s.precision = Some(Bf16);
            }),
            device: cuda(0),
            precision: Q4KM,
            format: GgufQ4KM,
            fit: Tight,
            context: 2048,
            warnings: &["context_reduced"],
            refused: &["will_not_fit"],
        },
        Case {
            name: "Metal requested on the M2: Q4_K_M on the GPU (comfortable beats tight Q8_0)",
            profile: m2_16gb(),
            settings: with(|s| s.device = Some(DeviceKind::Metal)),
            device: ComputeDevice::Metal,
            precision: Q4KM,
            format: GgufQ4KM,
            fit: Comfortable,
            context: 4096,
            warnings: &[],
            refused: &[],
        },
        Case {
            name: "M1: f16 on Metal when it fits (bf16 missing)",
            profile: {
                let mut p = m1_16gb();
                p.memory.total_bytes = 64 * crate::units::GIB;
                p.memory.available_bytes = 40 * crate::units::GB;
                if let Some(gpu) = p.apple_gpu.as_mut() {
                    gpu.working_set_bytes = 48 * crate::units::GIB;
                }
                p
            },
            settings: with(|s| s.precision = Some(Bf16)),
            device: ComputeDevice::Metal,
            precision: F16,
            format: SafetensorsBf16,
            fit: Comfortable,
            context: 4096,
            warnings: &[],
            refused: &["no_bf16"],
        },
        Case {
            name: "context 8192: capped at 4096",
            profile: no_gpu_32gb(),
            settings: with(|s| s.context_tokens = Some(8192)),
            device: cpu(),
            precision: Q4KM,
            format: GgufQ4KM,
            fit: Comfortable,
            context: 4096,
            warnings: &["context_capped"],
            refused: &[],
        },
        Case {
            name: "exact context 2048 on the 8 GB laptop: not shortened, fits tightly",
            profile: laptop_8gb(),
            settings: with(|s| s.context_tokens = Some(2048)),
            device: cpu(),
            precision: Q4KM,
            format: GgufQ4KM,
            fit: Tight,
            context: 2048,
            warnings: &[],
            refused: &[],
        },
        Case {
            name: "context 0: refused, automatic",
            profile: no_gpu_32gb(),
            settings: with(|s| s.context_tokens = Some(0)),
            device: cpu(),
            precision: Q4KM,
            format: GgufQ4KM,
            fit: Comfortable,
            context: 4096,
            warnings: &[],
            refused: &["zero"],
        },
    ]);
}

#[test]
fn thread_overrides() {
    use machines::*;
    let cases = [
        (None, false, 12, &[][..], &[][..]),
        (Some(4), false, 4, &[], &[]),
        (Some(20), false, 20, &[], &[]),
        (Some(0), false, 12, &[], &["zero"]),
        (Some(64), false, 12, &[], &["too_many_threads"]),
        (Some(64), true, 64, &["forced"], &[]),
    ];
    for (threads, force, want, warnings, refused) in cases {
        let settings = with(|s| {
            s.threads = threads;
            s.force = force;
        });
        let plan = plan(&no_gpu_32gb(), &seven_b(), &settings);
        assert_eq!(plan.threads, want, "{threads:?}");
        let got: Vec<&str> = plan.warnings.iter().map(|w| w.code()).collect();
        assert_eq!(got, warnings, "{threads:?}");
        let got: Vec<&str> = plan.refused.iter().map(|r| r.reason.code()).collect();
        assert_eq!(got, refused, "{threads:?}");
    }
}

#[test]
fn strict_turns_refusals_into_errors() {
    use machines::*;
    let settings = with(|s| s.device = Some(DeviceKind::Cuda));
    let err = plan(&no_gpu_16gb(), &seven_b(), &settings)
        .strict()
        .expect_err("no GPU to honour cuda");
    assert_eq!(err.code().as_str(), "override_refused");
    assert!(
        err.to_string()
            .contains("device = cuda refused: no NVIDIA GPU"),
        "{err}"
    );
    assert!(plan(&rtx_4090(), &seven_b(), &settings).strict().is_ok());
    // An adjusted thread count is a note, not a refusal of the plan.
    let zero_threads = with(|s| s.threads = Some(0));
    let p = plan(&no_gpu_16gb(), &seven_b(), &zero_threads);
    assert_eq!(p.refused.len(), 1);
    assert!(p.strict().is_ok());
}

#[test]
fn refusal_messages_carry_numbers() {
    use machines::*;
    let settings = with(|s| s.precision = Some(Q8_0));
    let plan = plan(&laptop_8gb(), &seven_b(), &settings);
    let refused = plan.refused.first().expect("Q8_0 refused on 8 GB");
    assert_eq!(
        refused.to_string(),
        "precision = q8_0 refused: needs 8.6 GB, 5.8 GB RAM available"
    );
    assert_eq!(
        plan.fit.message,
        "fits tightly: needs 5.3 GB, 5.8 GB RAM available"
    );
}

#[test]
fn download_check_uses_the_cache_disk() {
    use crate::disk::DiskSpace;
    use crate::units::GB;
    let cases = [(3 * GB, false), (100 * GB, true)];
    for (free, enough) in cases {
        let mut profile = machines::no_gpu_32gb();
        profile.model_cache_disk = Some(DiskSpace {
            path: "/models".into(),
            mount_point: "/".into(),
            available_bytes: free,
            total_bytes: 500 * GB,
        });
        let plan = plan(&profile, &seven_b(), &PlanSettings::default());
        let download = plan.download.expect("disk known");
        assert_eq!(download.file_bytes, 4_370_000_000);
        assert_eq!(download.enough_space, enough, "{free}");
    }
    let plan = plan(
        &machines::no_gpu_16gb(),
        &seven_b(),
        &PlanSettings::default(),
    );
    assert_eq!(plan.download, None);
}

#[test]
fn empty_machine_never_nan_never_zero_threads() {
    use crate::backend::BackendSupport;
    use crate::cpu::{CpuFeatures, CpuInfo};
    use crate::memory::SystemMemory;
    let profile = HardwareProfile {
        os: "linux".into(),
        cpu: CpuInfo {
            brand: String::new(),
            arch: "riscv64".into(),
            physical_cores: 0,
            logical_cores: 0,
            features: CpuFeatures::default(),
        },
        memory: SystemMemory::default(),
        nvidia_gpus: vec![machines::nvidia(0, "broken", 0, 0, (0, 0))],
        nvidia_driver: None,
        cuda_libraries: None,
        gpu_variant: None,
        nvidia_driver_cuda: None,
        apple_gpu: None,
        backends: BackendSupport {
            cuda: BackendStatus::Available,
            metal: BackendStatus::NotBuilt,
        },
        model_cache_disk: None,
        notes: vec![],
    };
    for settings in [
        auto(),
        with(|s| s.prefill_chunk_tokens = 0),
        with(|s| s.force = true),
    ] {
        let plan = plan(&profile, &seven_b(), &settings);
        assert!(plan.threads >= 1);
        assert!(plan.prefill_chunk_tokens >= 1);
        assert_eq!(plan.fit.level, WillNotFit);
        let json = serde_json::to_string(&plan).expect("serialises");
        let text = format!("{} {json}", plan.fit);
        assert!(
            !text.contains("NaN") && !text.contains("inf") && !text.contains(":-"),
            "{text}"
        );
    }
}

#[test]
fn profile_round_trips_through_json() {
    for profile in [
        machines::rtx_4090(),
        machines::m3_max_64gb(),
        machines::laptop_8gb(),
    ] {
        let json = serde_json::to_string(&profile).expect("serialises");
        let back: HardwareProfile = serde_json::from_str(&json).expect("deserialises");
        assert_eq!(back, profile);
    }
}

#[test]
fn reasons_small_models_and_files_that_run_as_stored() {
    use machines::*;
    let base = seven_b();
    // The 7B on a CPU: Q4_K_M, the device default; Q8_0 when quality is preferred.
    let p = plan(&no_gpu_32gb(), &base, &auto());
    assert_eq!((p.precision, &p.reason), (Q4KM, &PlanReason::DeviceDefault));
    let p = plan(&no_gpu_32gb(), &base, &with(|s| s.prefer_quality = true));
    assert_eq!(
        (p.precision, &p.reason),
        (Q8_0, &PlanReason::QualityPreferred)
    );
    let p = plan(&no_gpu_32gb(), &base, &with(|s| s.precision = Some(Q8_0)));
    assert_eq!(p.reason, PlanReason::Requested);
    // A GPU: bf16 by default; a small card steps down.
    let p = plan(&rtx_4090(), &base, &auto());
    assert_eq!((p.precision, &p.reason), (Bf16, &PlanReason::DeviceDefault));

    // A tiny safetensors model keeps f32 on the CPU.
    let tiny = ModelSpec::new(
        "tiny",
        jslm_core::ModelShape {
            hidden_size: 64,
            intermediate_size: 128,
            num_hidden_layers: 2,
            num_attention_heads: 4,
            num_key_value_heads: 2,
            head_dim: 16,
            vocab_size: 32000,
        },
        4096,
        vec![WeightFile {
            container: Container::Safetensors,
            precision: Precision::F32,
            size_bytes: 8_500_000,
        }],
    );
    let p = plan(&laptop_8gb(), &tiny, &auto());
    assert_eq!(p.precision, Precision::F32);
    assert_eq!(
        p.reason,
        PlanReason::SmallModel {
            weight_bytes: 8_500_000
        }
    );
    assert!(p.refused.is_empty() && p.warnings.is_empty(), "{p:?}");
    // ...and may still be quantized on request.
    let p = plan(&laptop_8gb(), &tiny, &with(|s| s.precision = Some(Q4KM)));
    assert_eq!((p.precision, &p.reason), (Q4KM, &PlanReason::Requested));

    // A GGUF runs as stored, on the CPU and on a GPU; asking for another precision is refused.
    let q5 = ModelSpec::new(
        "q5",
        base.shape,
        4096,
        vec![WeightFile {
            container: Container::Gguf,
            precision: Precision::Q5KM,
            size_bytes: 5_130_000_000,
        }],
    );
    for profile in [no_gpu_32gb(), rtx_4090()] {
        let p = plan(&profile, &q5, &auto());
        assert_eq!(p.precision, Precision::Q5KM);
        assert_eq!(p.reason, PlanReason::AsStored);
        assert_eq!(p.source.size_bytes, 5_130_000_000);
    }
    let p = plan(&no_gpu_32gb(), &q5, &with(|s| s.precision = Some(Bf16)));
    assert_eq!(p.precision, Precision::Q5KM);
    let refused: Vec<&str> = p.refused.iter().map(|r| r.reason.code()).collect();
    assert_eq!(refused, ["not_available"]);
    assert!(PlanReason::SmallerToFit { preferred: Bf16 }
        .to_string()
        .contains("BF16 does not fit"));
}

/// Issue 11's ladder over cards of 6…141 GB with what a desktop leaves free (about 0.5 GiB
/// less, 1 GiB on data-centre cards): bf16 when it fits comfortably, else Q8_0, else
/// Q4_K_M (at the full context before a shorter one; comfortably before tightly), else the CPU.
#[test]
fn vram_ladder() {
    use crate::units::GIB;
    use machines::*;
    let gpu = |name, profile, precision, format, fit| Case {
        name,
        profile,
        settings: auto(),
        device: cuda(0),
        precision,
        format,
        fit,
        context: 4096,
        warnings: &[],
        refused: &[],
    };
    let cpu_q4 = |name, profile| Case {
        name,
        profile,
        settings: auto(),
        device: cpu(),
        precision: Q4KM,
        format: GgufQ4KM,
        fit: Comfortable,
        context: 4096,
        warnings: &["gpu_too_small"],
        refused: &[],
    };
    run(vec![
        Case {
            name: "6 GB: not even Q4_K_M fits the card: split between it and the CPU",
            device: cuda(0),
            ..cpu_q4("", card(6, 5 * GIB + GIB / 2))
        },
        Case {
            name: "8 GB: Q4_K_M at a shorter context rather than tightly at the full one",
            context: 1024,
            warnings: &["context_reduced"],
            ..gpu("", card(8, 7 * GIB + GIB / 2), Q4KM, GgufQ4KM, Comfortable)
        },
        gpu(
            "12 GB: Q4_K_M at the full context (Q8_0 only at a shorter one)",
            card(12, 11 * GIB + GIB / 2),
            Q4KM,
            GgufQ4KM,
            Comfortable,
        ),
        gpu(
            "16 GB: Q8_0",
            card(16, 15 * GIB + GIB / 2),
            Q8_0,
            GgufQ8_0,
            Comfortable,
        ),
        gpu(
            "24 GB: bf16",
            card(24, 23 * GIB + GIB / 2),
            Bf16,
            SafetensorsBf16,
            Comfortable,
        ),
        gpu(
            "80 GB: bf16",
            card(80, 79 * GIB),
            Bf16,
            SafetensorsBf16,
            Comfortable,
        ),
        gpu(
            "141 GB: bf16",
            card(141, 140 * GIB),
            Bf16,
            SafetensorsBf16,
            Comfortable,
        ),
        cpu_q4(
            "24 GB already 90 % used by another program: CPU",
            card(24, 24 * GIB / 10),
        ),
    ]);
    // Each GPU plan says why it stepped down from bf16.
    let p = plan(&card(16, 15 * GIB + GIB / 2), &seven_b(), &auto());
    assert_eq!(p.reason, PlanReason::SmallerToFit { preferred: Bf16 });
}

/// GPUs too small for the whole model: the last blocks go there, the rest stay on the CPU, when
/// at least a quarter of them fit comfortably; the plan's fit is the CPU's RAM, the split's the
/// GPU's VRAM.
#[test]
fn split_between_gpu_and_cpu() {
    use crate::units::GIB;
    use machines::*;
    let split = |profile: &HardwareProfile, settings: &PlanSettings| {
        let p = plan(profile, &seven_b(), settings);
        (
            p.device,
            p.fit.pool,
            p.split
                .map(|s| (s.gpu_layers, s.total_layers, s.gpu_fit.level)),
        )
    };
    type Case = (
        &'static str,
        HardwareProfile,
        PlanSettings,
        ComputeDevice,
        Option<std::ops::RangeInclusive<u32>>,
    );
    let cases: [Case; 7] = [
        (
            "4 GB, 3.6 GiB free",
            card(4, 36 * GIB / 10),
            auto(),
            cuda(0),
            Some(8..=12),
        ),
        (
            "6 GB, 5.5 GiB free",
            card(6, 5 * GIB + GIB / 2),
            auto(),
            cuda(0),
            Some(17..=22),
        ),
        (
            "8 GB, 7.2 GB free",
            gpu_8gb_ram_32gb(),
            auto(),
            cuda(0),
            Some(24..=28),
        ),
        // 2.4 GB free: the CUDA context, the head and the scratch leave room for 1–2 blocks.
        (
            "24 GB, 90 % used",
            card(24, 24 * GIB / 10),
            auto(),
            cpu(),
            None,
        ),
        (
            "24 GB free: the whole model",
            card(24, 23 * GIB),
            auto(),
            cuda(0),
            None,
        ),
        (
            "4 GB, CPU asked for",
            card(4, 36 * GIB / 10),
            with(|s| s.device = Some(DeviceKind::Cpu)),
            cpu(),
            None,
        ),
        ("no NVIDIA GPU", no_gpu_32gb(), auto(), cpu(), None),
    ];
    for (name, profile, settings, device, want) in cases {
        let (got_device, pool, got) = split(&profile, &settings);
        assert_eq!(got_device, device, "{name}");
        match (got, want) {
            (None, None) => {}
            (Some((n, total, level)), Some(range)) => {
                assert!(range.contains(&n), "{name}: {n} blocks on the GPU");
                assert_eq!(total, 32, "{name}");
                assert_eq!(level, Comfortable, "{name}");
                assert_eq!(
                    pool,
                    MemoryPool::SystemRam,
                    "{name}: the plan's fit is the CPU's"
                );
            }
            (got, want) => panic!("{name}: got {got:?}, expected {want:?}"),
        }
    }
    // Not where the CPU cannot hold its half either.
    let mut small_ram = card(4, 36 * GIB / 10);
    small_ram.memory.available_bytes = 2 * GIB;
    let p = plan(&small_ram, &seven_b(), &auto());
    assert_eq!((p.device, p.split), (cpu(), None));
    // The plan's RAM is the CPU half's: the GPU's blocks and the head are never mapped in.
    let p = plan(&card(4, 36 * GIB / 10), &seven_b(), &auto());
    let alone = plan(
        &card(4, 36 * GIB / 10),
        &seven_b(),
        &with(|s| s.gpu_layers = Some(0)),
    );
    assert_eq!(alone.split, None);
    let on_gpu = p.split.as_ref().unwrap().gpu_layers;
    let per_block = 120 * crate::units::MB;
    assert!(
        p.memory.weights_bytes + u64::from(on_gpu) * per_block < alone.memory.weights_bytes,
        "{:?} against {:?}",
        p.memory,
        alone.memory
    );
    assert!(p.memory.kv_cache_bytes < alone.memory.kv_cache_bytes);
    assert_eq!(p.fit.needed_bytes, p.memory.total_bytes);
    // An 8 GB laptop with a 4 GB card: RAM alone cannot hold the 7B (the CPU plan will not
    // fit), its part of a split can.
    let mut laptop = card(4, 36 * GIB / 10);
    laptop.memory.total_bytes = 8 * GIB;
    laptop.memory.available_bytes = 4 * GIB;
    let cpu_only = plan(&laptop, &seven_b(), &with(|s| s.gpu_layers = Some(0)));
    assert_eq!(cpu_only.fit.level, FitLevel::WillNotFit, "{cpu_only:?}");
    let p = plan(&laptop, &seven_b(), &auto());
    assert_eq!(p.device, cuda(0));
    assert_eq!(p.precision, Precision::Q4KM);
    let split = p.split.as_ref().expect("a split");
    assert!((8..=16).contains(&split.gpu_layers), "{split:?}");
    // Comfortably at 2,048 tokens (13 blocks there: 3.1 GB of 4.3 GB RAM) before tightly at
    // 4,096, as the CPU plan shortens its context before it runs tight.
    assert_eq!(p.fit.level, Comfortable, "{p:?}");
    assert_eq!(p.context_tokens, 2048);
    assert_eq!(split.gpu_fit.level, Comfortable);
    assert_ne!(p.fit.level, FitLevel::WillNotFit, "{p:?}");
    assert_eq!(p.fit.pool, MemoryPool::SystemRam);
    // The same precision asked for by name: the same split, not a refusal as too big for RAM.
    let named = plan(
        &laptop,
        &seven_b(),
        &with(|s| s.precision = Some(Precision::Q4KM)),
    );
    assert_eq!(named.split, p.split, "{named:?}");
    assert_eq!(
        (named.context_tokens, named.reason.clone()),
        (2048, PlanReason::Requested)
    );
    assert!(named.refused.is_empty(), "{:?}", named.refused);
    // Q8_0 by name: too big for this card's share and for RAM, so refused with its reason,
    // and the automatic plan instead, split as above.
    let q8 = plan(
        &laptop,
        &seven_b(),
        &with(|s| s.precision = Some(Precision::Q8_0)),
    );
    assert_eq!(
        (q8.precision, q8.split.clone()),
        (Precision::Q4KM, p.split.clone())
    );
    assert_eq!(q8.fit.level, Comfortable);
    assert_eq!(q8.refused.len(), 1, "{:?}", q8.refused);
    assert_eq!(q8.refused[0].setting, OverrideSetting::Precision);
    // With a context set by the user, the same at that context or not at all.
    let fixed = plan(
        &laptop,
        &seven_b(),
        &with(|s| s.context_tokens = Some(4096)),
    );
    assert_eq!(fixed.context_tokens, 4096);
    assert!(fixed.split.is_some(), "{fixed:?}");
    assert_eq!(fixed.fit.level, FitLevel::Tight, "{fixed:?}");
    // The plan says so in JSON (the window and `--json` read it), and reads back.
    let p = plan(&card(4, 36 * GIB / 10), &seven_b(), &auto());
    let json = serde_json::to_value(&p).unwrap();
    assert_eq!(json["split"]["total_layers"], 32);
    let back: DevicePlan = serde_json::from_value(json).unwrap();
    assert_eq!(back, p);
}

/// `gpu_layers` (llama.cpp's `-ngl`): followed where an NVIDIA GPU can take them, refused with a
/// reason (and `strict` an error) where not.
#[test]
fn gpu_layers_override() {
    use crate::units::GIB;
    use machines::*;
    let layers = |n: u32| with(|s| s.gpu_layers = Some(n));
    let summary = |p: &DevicePlan| {
        (
            p.device,
            p.precision,
            p.split.as_ref().map(|s| s.gpu_layers),
            p.refused
                .iter()
                .map(|r| r.reason.code())
                .collect::<Vec<_>>(),
        )
    };
    type Case = (
        &'static str,
        HardwareProfile,
        PlanSettings,
        (ComputeDevice, Precision, Option<u32>, Vec<&'static str>),
    );
    let cases: Vec<Case> = vec![
        // A 24 GB card would run bf16 whole; 16 blocks there means a quantized split.
        (
            "4090, 16 blocks",
            rtx_4090(),
            layers(16),
            (cuda(0), Q4KM, Some(16), vec![]),
        ),
        (
            "4090, 0 blocks: the CPU",
            rtx_4090(),
            layers(0),
            (cpu(), Q4KM, None, vec![]),
        ),
        (
            "4090, all blocks: the GPU plan",
            rtx_4090(),
            layers(32),
            (cuda(0), Bf16, None, vec![]),
        ),
        (
            "4090, more than all",
            rtx_4090(),
            layers(99),
            (cuda(0), Bf16, None, vec![]),
        ),
        // The automatic split of a 4 GB card, moved by hand.
        (
            "4 GB, 4 blocks",
            card(4, 36 * GIB / 10),
            layers(4),
            (cuda(0), Q4KM, Some(4), vec![]),
        ),
        // 30 blocks do not fit a 4 GB card: refused, the automatic split stays.
        (
            "4 GB, 30 blocks",
            card(4, 36 * GIB / 10),
            layers(30),
            (cuda(0), Q4KM, Some(11), vec!["will_not_fit"]),
        ),
        (
            "4 GB, 0 blocks",
            card(4, 36 * GIB / 10),
            layers(0),
            (cpu(), Q4KM, None, vec![]),
        ),
        (
            "no GPU",
            no_gpu_32gb(),
            layers(16),
            (cpu(), Q4KM, None, vec!["no_nvidia_gpu"]),
        ),
        (
            "no GPU, 0 blocks: nothing to refuse",
            no_gpu_32gb(),
            layers(0),
            (cpu(), Q4KM, None, vec![]),
        ),
        (
            "bf16 asked for, split",
            rtx_4090(),
            with(|s| {
                s.gpu_layers = Some(16);
                s.precision = Some(Bf16);
            }),
            (cuda(0), Bf16, None, vec!["split_needs_quantized"]),
        ),
        (
            "the CPU asked for, 16 blocks",
            rtx_4090(),
            with(|s| {
                s.gpu_layers = Some(16);
                s.device = Some(DeviceKind::Cpu);
            }),
            (cpu(), Q4KM, None, vec!["device_chosen"]),
        ),
        (
            "Q8_0 asked for, 16 blocks",
            rtx_4090(),
            with(|s| {
                s.gpu_layers = Some(16);
                s.precision = Some(Q8_0);
            }),
            (cuda(0), Q8_0, Some(16), vec![]),
        ),
    ];
    for (name, profile, settings, want) in cases {
        let p = plan(&profile, &seven_b(), &settings);
        assert_eq!(summary(&p), want, "{name}");
        if let Some(split) = &p.split {
            assert_eq!(split.total_layers, 32, "{name}");
            assert_eq!(p.fit.pool, MemoryPool::SystemRam, "{name}");
        }
        // A refused choice is an error for callers that must not run something else.
        assert_eq!(p.clone().strict().is_err(), !want.3.is_empty(), "{name}");
    }
    // Forced, a split that does not fit is planned, with the warning.
    let forced = with(|s| {
        s.gpu_layers = Some(30);
        s.force = true;
    });
    let p = plan(&card(4, 36 * GIB / 10), &seven_b(), &forced);
    assert_eq!(
        p.split.map(|s| (s.gpu_layers, s.gpu_fit.level)),
        Some((30, WillNotFit))
    );
    assert!(
        p.warnings.iter().any(|w| w.code() == "forced"),
        "{:?}",
        p.warnings
    );
}

/// A GPU whose driver library is missing or too old: CUDA fails at probe time, the plan is the
/// CPU's with the reason as a warning, never an error.
#[test]
fn gpu_without_a_working_driver() {
    use machines::*;
    let mut no_library = rtx_4090();
    no_library.backends.cuda = BackendStatus::Failed {
        message: "libcuda.so.1: cannot open shared object file: No such file or directory".into(),
    };
    let p = plan(&no_library, &seven_b(), &auto());
    assert_eq!(p.device, cpu());
    assert_eq!(p.precision, Q4KM);
    assert_eq!(p.fit.level, Comfortable);
    let codes: Vec<&str> = p.warnings.iter().map(|w| w.code()).collect();
    assert_eq!(codes, ["cuda_unavailable"]);
    assert!(
        p.warnings[0].to_string().contains("libcuda.so.1"),
        "{}",
        p.warnings[0]
    );
}

/// The window plans its model list while a model runs on the GPU: the VRAM that model holds
/// counts as free, so its own row keeps the plan that runs instead of showing a split or the
/// CPU, and the GPU's total caps what is given back.
#[test]
fn a_loaded_models_vram_counts_as_free() {
    use crate::profile::OwnVram;
    use crate::units::GIB;
    let settings = auto();
    // An 8 GB card with 7.2 GiB free before the load: the Q4_K_M runs whole on the GPU.
    let before = machines::card(8, 72 * GIB / 10);
    let planned = plan(&before, &seven_b(), &settings);
    assert!(
        matches!(planned.device, ComputeDevice::Cuda { ordinal: 0, .. }),
        "{planned:?}"
    );
    // Loaded, it holds 5 GiB: 2.2 GiB free is all NVML reports now.
    let taken = 5 * GIB;
    let mut now = machines::card(8, 72 * GIB / 10 - taken);
    let unadjusted = plan(&now, &seven_b(), &settings);
    assert!(
        (unadjusted.device, unadjusted.split.is_some())
            != (planned.device, planned.split.is_some()),
        "without the model's own VRAM counted, its plan must differ: {unadjusted:?}"
    );
    now.count_as_free(&[OwnVram {
        cuda_ordinal: 0,
        bytes: taken,
    }]);
    let again = plan(&now, &seven_b(), &settings);
    assert_eq!(
        (again.device, again.precision),
        (planned.device, planned.precision)
    );
    assert_eq!(again.split.is_some(), planned.split.is_some());
    // Never more free than the card has; another GPU's ordinal changes nothing.
    now.count_as_free(&[
        OwnVram {
            cuda_ordinal: 0,
            bytes: 64 * GIB,
        },
        OwnVram {
            cuda_ordinal: 3,
            bytes: GIB,
        },
    ]);
    assert_eq!(now.nvidia_gpus[0].free_vram_bytes, 8 * GIB);
}
