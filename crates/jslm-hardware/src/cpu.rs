//! The CPU: brand, core counts and the SIMD features present *at run time*.
//!
//! The features come from `is_x86_feature_detected!` (CPUID), not from `cfg!(target_feature)`:
//! the distributed binary is built for the baseline CPU and candle picks its AVX2 kernels at run
//! time (candle-core 0.11.1 `quantized/k_quants.rs`, `has_avx2_fma`), so what matters is what
//! this machine has, not what the build machine had.

use serde::{Deserialize, Serialize};

/// SIMD features of the running CPU. Fields for the other architecture are always `false`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CpuFeatures {
    pub avx: bool,
    pub avx2: bool,
    pub fma: bool,
    pub f16c: bool,
    pub avx512f: bool,
    /// AVX-512 VNNI (512-bit int8 dot products).
    pub avx512vnni: bool,
    /// AVX-VNNI (256-bit VNNI on Alder Lake and later).
    pub avxvnni: bool,
    /// AMX tiles with int8 (Sapphire Rapids and later; CPUID leaf 7, EDX bits 24 and 25).
    pub amx_int8: bool,
    /// Advanced SIMD on aarch64 (every Apple Silicon and ARMv8 server has it).
    pub neon: bool,
    /// The aarch64 dot-product extension (all Apple Silicon; ARMv8.2+).
    pub dotprod: bool,
}

impl CpuFeatures {
    /// Reads the features of the CPU this process runs on.
    pub fn detect() -> Self {
        #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
        {
            Self {
                avx: std::arch::is_x86_feature_detected!("avx"),
                avx2: std::arch::is_x86_feature_detected!("avx2"),
                fma: std::arch::is_x86_feature_detected!("fma"),
                f16c: std::arch::is_x86_feature_detected!("f16c"),
                avx512f: std::arch::is_x86_feature_detected!("avx512f"),
                avx512vnni: std::arch::is_x86_feature_detected!("avx512vnni"),
                avxvnni: std::arch::is_x86_feature_detected!("avxvnni"),
                amx_int8: amx_int8(),
                neon: false,
                dotprod: false,
            }
        }
        #[cfg(target_arch = "aarch64")]
        {
            Self {
                neon: std::arch::is_aarch64_feature_detected!("neon"),
                dotprod: std::arch::is_aarch64_feature_detected!("dotprod"),
                ..Self::default()
            }
        }
        #[cfg(not(any(target_arch = "x86", target_arch = "x86_64", target_arch = "aarch64")))]
        {
            Self::default()
        }
    }

    /// Whether candle's fast quantized kernels run here: AVX2 *and* FMA on x86 (candle checks
    /// both before using them), NEON on ARM. Without them candle falls back to scalar code,
    /// which works (no "Illegal instruction") but is several times slower.
    pub fn has_fast_quantized_kernels(&self) -> bool {
        (self.avx2 && self.fma) || self.neon
    }

    /// Names of the features present, in a fixed order, for reports.
    pub fn names(&self) -> Vec<&'static str> {
        [
            (self.avx, "avx"),
            (self.avx2, "avx2"),
            (self.fma, "fma"),
            (self.f16c, "f16c"),
            (self.avx512f, "avx512f"),
            (self.avx512vnni, "avx512vnni"),
            (self.avxvnni, "avxvnni"),
            (self.amx_int8, "amx-int8"),
            (self.neon, "neon"),
            (self.dotprod, "dotprod"),
        ]
        .into_iter()
        .filter_map(|(present, name)| present.then_some(name))
        .collect()
    }
}

/// AMX-TILE and AMX-INT8, read from CPUID as candle does (`is_x86_feature_detected!("amx-int8")`
/// is not stable).
#[cfg(target_arch = "x86_64")]
fn amx_int8() -> bool {
    // SAFETY: CPUID leaf 7 exists on every x86_64 CPU that has AVX2, and reading an
    // unsupported leaf returns zeros rather than faulting.
    #[allow(unused_unsafe)]
    let info = unsafe { std::arch::x86_64::__cpuid_count(7, 0) };
    info.edx & (1 << 24) != 0 && info.edx & (1 << 25) != 0
}

#[cfg(target_arch = "x86")]
fn amx_int8() -> bool {
    false
}

/// The CPU as the plan needs it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuInfo {
    /// Marketing name, e.g. "AMD Ryzen 9 7950X 16-Core Processor" or "Apple M2".
    pub brand: String,
    /// Architecture this binary runs as: "x86_64", "aarch64", ...
    pub arch: String,
    /// Physical cores this process may use; the plan's default thread count (hyper-threads
    /// share the FPU and only add contention in matmul-bound decoding).
    pub physical_cores: usize,
    /// Logical cores (hardware threads) this process may use.
    pub logical_cores: usize,
    pub features: CpuFeatures,
}

impl CpuInfo {
    /// Reads the CPU through `sysinfo`. A core count sysinfo cannot read falls back to the
    /// other count, then to `std::thread::available_parallelism`, then to 1, so it is never 0.
    pub fn detect() -> Self {
        let mut system = sysinfo::System::new();
        system.refresh_cpu_list(sysinfo::CpuRefreshKind::nothing());
        let brand = system
            .cpus()
            .first()
            .map(|cpu| cpu.brand().trim().to_owned())
            .filter(|brand| !brand.is_empty())
            .unwrap_or_else(|| "unknown CPU".to_owned());
        let std_parallelism = std::thread::available_parallelism().ok().map(|n| n.get());
        let logical = match system.cpus().len() {
            0 => std_parallelism.unwrap_or(1),
            n => n,
        };
        let physical = sysinfo::System::physical_core_count()
            .filter(|&n| n > 0)
            .unwrap_or(logical);
        // Where the usable count cannot be read, the machine's counts stand (a cap of 1 would
        // run a 16-core machine on one thread).
        let (physical, logical) = usable_cores(
            physical,
            logical,
            std_parallelism.unwrap_or(logical.max(physical)),
        );
        Self {
            brand,
            arch: std::env::consts::ARCH.to_owned(),
            physical_cores: physical,
            logical_cores: logical,
            features: CpuFeatures::detect(),
        }
    }
}

/// The machine's core counts capped at what this process may run on at once: sysinfo counts
/// the host's cores, while `std::thread::available_parallelism` honours the CPU affinity
/// (`taskset`) and the cgroup's CPU quota (`docker --cpus=4`, systemd's `CPUQuota=`). Thirty-two
/// threads on four CPUs' worth of quota are throttled every period, and decoding slows several
/// times over. Never 0; logical is at least physical.
fn usable_cores(physical: usize, logical: usize, parallelism: usize) -> (usize, usize) {
    let cap = parallelism.max(1);
    let physical = physical.clamp(1, cap);
    let logical = logical.clamp(physical, cap.max(physical));
    (physical, logical)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_counts_are_capped_at_what_the_process_may_use() {
        // (physical, logical, available_parallelism) → (physical, logical)
        let cases = [
            ((16, 32, 32), (16, 32)), // the whole machine
            ((16, 32, 4), (4, 4)),    // docker --cpus=4, taskset -c 0-3
            ((2, 2, 1), (1, 1)),      // one CPU's quota
            ((8, 16, 12), (8, 12)),   // a quota between the two counts
            ((0, 0, 0), (1, 1)),      // nothing readable: still one thread
        ];
        for ((p, l, n), want) in cases {
            assert_eq!(usable_cores(p, l, n), want, "{p} {l} {n}");
        }
    }

    #[test]
    fn fast_kernels_need_avx2_and_fma_or_neon() {
        let cases = [
            (CpuFeatures::default(), false),
            (
                CpuFeatures {
                    avx: true,
                    ..Default::default()
                },
                false,
            ),
            (
                CpuFeatures {
                    avx2: true,
                    ..Default::default()
                },
                false,
            ),
            (
                CpuFeatures {
                    avx2: true,
                    fma: true,
                    ..Default::default()
                },
                true,
            ),
            (
                CpuFeatures {
                    neon: true,
                    ..Default::default()
                },
                true,
            ),
        ];
        for (features, want) in cases {
            assert_eq!(features.has_fast_quantized_kernels(), want, "{features:?}");
        }
    }

    #[test]
    fn names_lists_present_features_in_order() {
        let features = CpuFeatures {
            avx: true,
            fma: true,
            avx512f: true,
            ..Default::default()
        };
        assert_eq!(features.names(), vec!["avx", "fma", "avx512f"]);
        assert!(CpuFeatures::default().names().is_empty());
    }

    #[test]
    fn detect_is_sane_here() {
        let cpu = CpuInfo::detect();
        assert!(cpu.physical_cores >= 1);
        assert!(cpu.logical_cores >= cpu.physical_cores);
        assert!(!cpu.brand.is_empty());
        #[cfg(target_arch = "x86_64")]
        assert!(!cpu.features.neon);
    }
}
