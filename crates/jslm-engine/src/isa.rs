//! Which instruction set the CPU runner's kernels use: detected once, or forced for a run
//! (`LoadOptions::isa`, `jslm bench --isa`, or the `JSLM_ISA` environment variable) so that
//! AVX2 and generic paths can be measured and tested on an AVX-512 machine.

use crate::error::{EngineError, Result};
use std::sync::OnceLock;

/// A kernel family of the GGUF CPU runner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Isa {
    /// AVX-512 F + BW (with VNNI where the CPU has it), plus AVX2, FMA and F16C.
    Avx512,
    /// AVX2, FMA and F16C with 256-bit VNNI (`vpdpbusd` on `ymm`): Intel's consumer CPUs since
    /// Alder Lake (12th gen), which have no AVX-512. Prompts use VNNI tiles; decode is AVX2's.
    /// Runs on AVX-512 VNNI CPUs too (the EVEX form of the same instruction), so it is tested
    /// and measured here.
    AvxVnni,
    /// AVX2, FMA and F16C: every x86-64 CPU of the last decade.
    Avx2,
    /// No kernels of ours: candle's (NEON on ARM, its own AVX2 or scalar code elsewhere).
    Generic,
}

impl Isa {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Avx512 => "avx512",
            Self::AvxVnni => "avxvnni",
            Self::Avx2 => "avx2",
            Self::Generic => "generic",
        }
    }

    /// Whether this CPU can run the family.
    pub fn supported(self) -> bool {
        let f = detected();
        match self {
            Self::Avx512 => f.avx512,
            Self::AvxVnni => f.avx2 && (f.avxvnni || f.avx512vnni),
            Self::Avx2 => f.avx2,
            Self::Generic => true,
        }
    }

    /// The best family this CPU runs.
    pub fn best() -> Self {
        let f = detected();
        if f.avx512 {
            Self::Avx512
        } else if Self::AvxVnni.supported() && std::env::var_os("JSLM_NO_VNNI").is_none() {
            Self::AvxVnni
        } else if f.avx2 {
            Self::Avx2
        } else {
            Self::Generic
        }
    }

    /// Every family this CPU runs, best first (the tests run each).
    pub fn available() -> Vec<Self> {
        [Self::Avx512, Self::AvxVnni, Self::Avx2, Self::Generic]
            .into_iter()
            .filter(|i| i.supported())
            .collect()
    }

    /// `requested`, else `JSLM_ISA`, else the best; an error where the CPU lacks it.
    pub fn resolve(requested: Option<Self>) -> Result<Self> {
        let isa = match requested {
            Some(isa) => isa,
            None => match std::env::var("JSLM_ISA") {
                Ok(name) if !name.is_empty() => name.parse()?,
                _ => Self::best(),
            },
        };
        if !isa.supported() {
            return Err(EngineError::invalid(
                "isa",
                format!("this CPU cannot run the {} kernels", isa.as_str()),
            ));
        }
        Ok(isa)
    }
}

impl std::fmt::Display for Isa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Isa {
    type Err = EngineError;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "avx512" => Ok(Self::Avx512),
            "avxvnni" => Ok(Self::AvxVnni),
            "avx2" => Ok(Self::Avx2),
            "generic" => Ok(Self::Generic),
            other => Err(EngineError::invalid(
                "isa",
                format!("must be avx512, avxvnni, avx2 or generic. Given: {other}"),
            )),
        }
    }
}

/// What the kernels branch on: the family and, within AVX-512, VNNI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cpu {
    pub isa: Isa,
    /// AVX-512 VNNI (`vpdpbusd`); only with `isa == Avx512`. `JSLM_NO_VNNI=1` turns it off for
    /// A/B runs.
    pub vnni: bool,
}

impl Cpu {
    /// The kernels for `isa`, which must be supported.
    pub fn new(isa: Isa) -> Self {
        assert!(isa.supported(), "{isa} kernels on a CPU without them");
        let vnni = isa == Isa::Avx512
            && detected().avx512vnni
            && std::env::var_os("JSLM_NO_VNNI").is_none();
        Self { isa, vnni }
    }

    /// Every kernel set this CPU runs, VNNI and not (for tests and `jslm bench --kernels`).
    pub fn all() -> Vec<Self> {
        let mut out = Vec::new();
        for isa in Isa::available() {
            let cpu = Self::new(isa);
            out.push(cpu);
            if cpu.vnni {
                out.push(Self { isa, vnni: false });
            }
        }
        out
    }
}

#[derive(Clone, Copy)]
struct Detected {
    avx512: bool,
    avx512vnni: bool,
    /// AVX-VNNI: `vpdpbusd` on `ymm` in its VEX encoding.
    avxvnni: bool,
    avx2: bool,
}

/// Whether the CPU has the VEX encoding of 256-bit VNNI (AVX-VNNI); without it, the
/// `AvxVnni` kernels use the EVEX encoding of AVX-512 VNNI + VL.
#[cfg(target_arch = "x86_64")]
pub(crate) fn avxvnni_vex() -> bool {
    detected().avxvnni
}

fn detected() -> Detected {
    static DETECTED: OnceLock<Detected> = OnceLock::new();
    *DETECTED.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            let avx2 = is_x86_feature_detected!("avx2")
                && is_x86_feature_detected!("fma")
                && is_x86_feature_detected!("f16c");
            let avx512 = avx2
                && is_x86_feature_detected!("avx512f")
                && is_x86_feature_detected!("avx512bw")
                && is_x86_feature_detected!("avx512vl");
            Detected {
                avx512,
                avx512vnni: avx512 && is_x86_feature_detected!("avx512vnni"),
                avxvnni: avx2 && is_x86_feature_detected!("avxvnni"),
                avx2,
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            Detected {
                avx512: false,
                avx512vnni: false,
                avxvnni: false,
                avx2: false,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_generic_is_always_there() {
        for isa in [Isa::Avx512, Isa::AvxVnni, Isa::Avx2, Isa::Generic] {
            assert_eq!(isa.as_str().parse::<Isa>().unwrap(), isa);
        }
        assert!("sse2".parse::<Isa>().is_err());
        assert!(Isa::available().contains(&Isa::Generic));
        assert_eq!(Isa::available()[0], Isa::best());
        assert_eq!(Isa::resolve(Some(Isa::Generic)).unwrap(), Isa::Generic);
    }
}
