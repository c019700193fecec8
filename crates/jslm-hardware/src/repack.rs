//! candle's repacked copies of quantized weights on the CPU.
//!
//! candle-core 0.11.1 speeds up quantized matmuls on the CPU by re-laying the weights out for
//! its SIMD kernels the first time each matrix is used, and *keeps the original as well*
//! (`QTensor::repacked_qs`, a `OnceLock` cache; `quantized/repack.rs`, `repack_x86.rs`). So a
//! GGUF model on the CPU holds its weights up to three times. Measured on this project's CI
//! machine (Sapphire Rapids, AMX): a 4.37 GB Q4_K_M 7B peaks at 18.3 GB RSS after a 512-token
//! prompt. Which copies exist depends on the CPU and on the prompt:
//!
//! | CPU (candle's dispatch)             | Q4_K                       | Q6_K         | Q8_0  |
//! |-------------------------------------|----------------------------|--------------|-------|
//! | x86 AVX2+FMA                        | +192 B / 256 weights       | +320 B / 256 once a prompt has 2+ tokens | —     |
//! | x86 AVX-VNNI or AVX-512 VNNI        | same                       | same         | +34 B / 32 |
//! | x86 with AMX (Linux), prompts of 32+ tokens | another +320 B / 256 | same       | same  |
//! | aarch64 with dotprod (Apple Silicon) | +144 B / 256 (same size)   | +210 B / 256 | +34 B / 32 |
//! | anything else (no AVX2)             | —                          | —            | —     |
//!
//! Tile sizes: `TileQ4K` 3072 B and `TileQ6K` 5120 B per 16 rows × 256 weights, `TileQ8_0` 544 B
//! per 16 rows × 32, `TileQ4KAmx` 5120 B per 16 × 256; aarch64's `BlockQ4Kx8`, `BlockQ6Kx8` and
//! `BlockQ8_0x4` are exactly 8 or 4 original blocks.

use crate::cpu::CpuInfo;
use serde::{Deserialize, Serialize};

/// Which repacked weight copies candle makes on this CPU.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WeightRepack {
    /// No AVX2+FMA (or another architecture): weights used as stored.
    #[default]
    None,
    /// x86 with AVX2 and FMA only.
    X86Avx2,
    /// x86 with AVX-VNNI or AVX-512 VNNI.
    X86Vnni,
    /// x86 with AVX-512 VNNI and AMX-INT8 on Linux (candle asks the kernel for AMX there only).
    X86VnniAmx,
    /// aarch64 with the dot-product extension.
    ArmDotprod,
}

impl WeightRepack {
    /// candle's choice for `cpu`, mirroring `repack_x86::level()` / `amx_available()` and the
    /// aarch64 `PackedKind::select`.
    pub fn for_cpu(cpu: &CpuInfo, os: &str) -> Self {
        let f = &cpu.features;
        match cpu.arch.as_str() {
            "x86_64" if f.avx512f && f.avx512vnni && f.amx_int8 && os == "linux" => {
                Self::X86VnniAmx
            }
            "x86_64" if (f.avx512f && f.avx512vnni) || (f.avxvnni && f.avx2) => Self::X86Vnni,
            "x86_64" if f.avx2 && f.fma => Self::X86Avx2,
            "aarch64" if f.dotprod => Self::ArmDotprod,
            _ => Self::None,
        }
    }

    /// candle's choice for `cpu` in this process, honouring the environment variables candle
    /// itself reads in `repack_x86::level()`: `MISTRALRS_FORCE_AVX2=1` drops to the AVX2 kernels
    /// (no Q8_0 copies, no AMX copies: the way to save memory on VNNI/AMX CPUs), and
    /// `MISTRALRS_FORCE_AVXVNNI=1` selects the 256-bit VNNI kernels.
    pub fn detect(cpu: &CpuInfo, os: &str) -> Self {
        let forced = |name: &str| std::env::var(name).is_ok_and(|value| value == "1");
        Self::with_overrides(
            cpu,
            os,
            forced("MISTRALRS_FORCE_AVX2"),
            forced("MISTRALRS_FORCE_AVXVNNI"),
        )
    }

    /// [`for_cpu`](Self::for_cpu) with candle's two forcing variables applied.
    pub fn with_overrides(cpu: &CpuInfo, os: &str, force_avx2: bool, force_vnni: bool) -> Self {
        let f = &cpu.features;
        match cpu.arch.as_str() {
            "x86_64" if force_avx2 && f.avx2 && f.fma => Self::X86Avx2,
            "x86_64" if force_avx2 => Self::None,
            "x86_64" if force_vnni && f.avx2 => Self::X86Vnni,
            _ => Self::for_cpu(cpu, os),
        }
    }

    /// Short description for reports.
    pub fn label(self) -> &'static str {
        match self {
            Self::None => "none (weights used as stored)",
            Self::X86Avx2 => "x86 AVX2 tiles: Q4_K, and Q6_K for prompts",
            Self::X86Vnni => "x86 VNNI tiles: Q4_K, Q8_0, and Q6_K for prompts",
            Self::X86VnniAmx => "x86 VNNI + AMX tiles: Q4_K twice, Q8_0, Q6_K for prompts",
            Self::ArmDotprod => "aarch64 interleaved copies of every quantized matrix",
        }
    }

    /// Extra bytes per 256 Q4_K weights of a matmul weight, for prompts of `chunk` tokens.
    pub(crate) fn extra_q4k_per_256(self, chunk: u64) -> u64 {
        match self {
            Self::None => 0,
            Self::X86Avx2 | Self::X86Vnni => 192,
            Self::X86VnniAmx if chunk >= 32 => 192 + 320,
            Self::X86VnniAmx => 192,
            Self::ArmDotprod => 144,
        }
    }

    /// Extra bytes per 256 Q6_K weights. x86 repacks Q6_K only for multi-token matmuls
    /// ("keep Q6K GEMV on compact weights"), i.e. once any prompt has two or more tokens.
    pub(crate) fn extra_q6k_per_256(self, chunk: u64) -> u64 {
        match self {
            Self::None => 0,
            Self::X86Avx2 | Self::X86Vnni | Self::X86VnniAmx if chunk > 1 => 320,
            Self::X86Avx2 | Self::X86Vnni | Self::X86VnniAmx => 0,
            Self::ArmDotprod => 210,
        }
    }

    /// Extra bytes per 32 Q8_0 weights (AVX2's `maddubs` cannot take the +128 offset, so only
    /// VNNI CPUs repack Q8_0 on x86).
    pub(crate) fn extra_q8_0_per_32(self) -> u64 {
        match self {
            Self::None | Self::X86Avx2 => 0,
            Self::X86Vnni | Self::X86VnniAmx | Self::ArmDotprod => 34,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::CpuFeatures;

    fn cpu(arch: &str, features: CpuFeatures) -> CpuInfo {
        CpuInfo {
            brand: String::new(),
            arch: arch.into(),
            physical_cores: 1,
            logical_cores: 1,
            features,
        }
    }

    #[test]
    fn level_table() {
        let avx2 = CpuFeatures {
            avx: true,
            avx2: true,
            fma: true,
            ..Default::default()
        };
        let avx512vnni = CpuFeatures {
            avx512f: true,
            avx512vnni: true,
            ..avx2
        };
        let amx = CpuFeatures {
            amx_int8: true,
            ..avx512vnni
        };
        let alder_lake = CpuFeatures {
            avxvnni: true,
            ..avx2
        };
        let apple = CpuFeatures {
            neon: true,
            dotprod: true,
            ..Default::default()
        };
        let cases = [
            (
                cpu("x86_64", CpuFeatures::default()),
                "linux",
                WeightRepack::None,
            ),
            (
                cpu(
                    "x86_64",
                    CpuFeatures {
                        avx2: true,
                        ..Default::default()
                    },
                ),
                "linux",
                WeightRepack::None,
            ),
            (cpu("x86_64", avx2), "linux", WeightRepack::X86Avx2),
            (cpu("x86_64", alder_lake), "windows", WeightRepack::X86Vnni),
            (cpu("x86_64", avx512vnni), "linux", WeightRepack::X86Vnni),
            (cpu("x86_64", amx), "linux", WeightRepack::X86VnniAmx),
            (cpu("x86_64", amx), "windows", WeightRepack::X86Vnni),
            (cpu("aarch64", apple), "macos", WeightRepack::ArmDotprod),
            (
                cpu(
                    "aarch64",
                    CpuFeatures {
                        neon: true,
                        ..Default::default()
                    },
                ),
                "linux",
                WeightRepack::None,
            ),
            (
                cpu("riscv64", CpuFeatures::default()),
                "linux",
                WeightRepack::None,
            ),
        ];
        for (cpu, os, want) in cases {
            assert_eq!(
                WeightRepack::for_cpu(&cpu, os),
                want,
                "{:?} {os}",
                cpu.features
            );
        }
    }

    #[test]
    fn forcing_variables_table() {
        let avx2 = CpuFeatures {
            avx: true,
            avx2: true,
            fma: true,
            ..Default::default()
        };
        let amx = CpuFeatures {
            avx512f: true,
            avx512vnni: true,
            amx_int8: true,
            ..avx2
        };
        let cases = [
            (amx, false, false, WeightRepack::X86VnniAmx),
            (amx, true, false, WeightRepack::X86Avx2),
            (amx, false, true, WeightRepack::X86Vnni),
            (avx2, false, true, WeightRepack::X86Vnni),
            (CpuFeatures::default(), true, false, WeightRepack::None),
        ];
        for (features, force_avx2, force_vnni, want) in cases {
            let got = WeightRepack::with_overrides(
                &cpu("x86_64", features),
                "linux",
                force_avx2,
                force_vnni,
            );
            assert_eq!(got, want, "{features:?} {force_avx2} {force_vnni}");
        }
    }

    #[test]
    fn extra_bytes_table() {
        use WeightRepack::*;
        // (level, chunk, q4k/256, q6k/256, q8_0/32)
        let cases = [
            (None, 512, 0, 0, 0),
            (X86Avx2, 1, 192, 0, 0),
            (X86Avx2, 512, 192, 320, 0),
            (X86Vnni, 512, 192, 320, 34),
            (X86VnniAmx, 16, 192, 320, 34),
            (X86VnniAmx, 512, 512, 320, 34),
            (ArmDotprod, 512, 144, 210, 34),
        ];
        for (level, chunk, q4k, q6k, q8) in cases {
            assert_eq!(level.extra_q4k_per_256(chunk), q4k, "{level:?} {chunk}");
            assert_eq!(level.extra_q6k_per_256(chunk), q6k, "{level:?} {chunk}");
            assert_eq!(level.extra_q8_0_per_32(), q8, "{level:?}");
        }
    }
}
