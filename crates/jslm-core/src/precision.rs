//! `Precision`: how a model's weights are stored or run — the one vocabulary from the catalog's
//! file list through the planner and the engine to the CLI's report and the window's label.
//!
//! Float formats (F32, BF16, F16) and the llama.cpp GGUF types community files of this model
//! use. A GGUF's precision is its `general.file_type` (llama.cpp's `llama_ftype`), which names
//! the mix (Q4_K_M is mostly Q4_K with some Q6_K tensors), not just one tensor's type.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Declares the enum with its text, label, GGUF file type and size from one table.
macro_rules! precisions {
    ($($(#[doc = $doc:literal])* $variant:ident = $text:literal, $label:literal,
        ftype $ftype:literal, bits_x100 $bits:literal;)*) => {
        /// The storage or compute precision of a model's weights.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Precision {
            $($(#[doc = $doc])* $variant,)*
        }

        impl Precision {
            /// Every precision, widest first.
            pub const ALL: &'static [Precision] = &[$(Precision::$variant,)*];

            /// The snake_case name used in settings, JSON and on the command line ("q4_k_m").
            pub const fn as_str(self) -> &'static str {
                match self { $(Precision::$variant => $text,)* }
            }

            /// The name people know from llama.cpp and Hugging Face file names ("Q4_K_M").
            pub const fn label(self) -> &'static str {
                match self { $(Precision::$variant => $label,)* }
            }

            /// llama.cpp's `general.file_type` (`llama_ftype`) for this precision.
            pub const fn gguf_file_type(self) -> u32 {
                match self { $(Precision::$variant => $ftype,)* }
            }

            /// Average bits per weight × 100 over a Mistral-7B file of this precision
            /// (file bytes × 8 ÷ 7.24 B parameters, from TheBloke's files of this model), for
            /// estimating a file that is not on disk.
            pub const fn bits_per_weight_x100(self) -> u64 {
                match self { $(Precision::$variant => $bits,)* }
            }
        }
    };
}

precisions! {
    /// 32-bit floats: twice the official file; for small models and debugging.
    F32 = "f32", "F32", ftype 0, bits_x100 3200;
    /// bfloat16, as the official safetensors store the model.
    Bf16 = "bf16", "BF16", ftype 32, bits_x100 1600;
    /// float16 (GPUs without bf16).
    F16 = "f16", "F16", ftype 1, bits_x100 1600;
    /// 8-bit blocks of 32 with an f16 scale: near-lossless (7.70 GB for 7B).
    Q8_0 = "q8_0", "Q8_0", ftype 7, bits_x100 851;
    /// 6-bit k-quant (5.94 GB).
    Q6K = "q6_k", "Q6_K", ftype 18, bits_x100 656;
    /// 5-bit k-quant mix, medium (5.13 GB).
    Q5KM = "q5_k_m", "Q5_K_M", ftype 17, bits_x100 567;
    /// 5-bit k-quant, small (5.00 GB).
    Q5KS = "q5_k_s", "Q5_K_S", ftype 16, bits_x100 552;
    /// 5-bit legacy blocks (5.00 GB).
    Q5_0 = "q5_0", "Q5_0", ftype 8, bits_x100 552;
    /// 4-bit k-quant mix, medium: the usual choice (4.37 GB).
    Q4KM = "q4_k_m", "Q4_K_M", ftype 15, bits_x100 483;
    /// 4-bit k-quant, small (4.14 GB).
    Q4KS = "q4_k_s", "Q4_K_S", ftype 14, bits_x100 457;
    /// 4-bit legacy blocks (4.11 GB).
    Q4_0 = "q4_0", "Q4_0", ftype 2, bits_x100 454;
    /// 3-bit k-quant mix, large (3.82 GB).
    Q3KL = "q3_k_l", "Q3_K_L", ftype 13, bits_x100 422;
    /// 3-bit k-quant mix, medium (3.52 GB).
    Q3KM = "q3_k_m", "Q3_K_M", ftype 12, bits_x100 389;
    /// 3-bit k-quant, small (3.16 GB).
    Q3KS = "q3_k_s", "Q3_K_S", ftype 11, bits_x100 349;
    /// 2-bit k-quant mix (3.08 GB): noticeably worse text.
    Q2K = "q2_k", "Q2_K", ftype 10, bits_x100 340;
}

impl Precision {
    /// Quantized (a GGUF block type) rather than plain floats.
    pub const fn is_quantized(self) -> bool {
        !matches!(self, Self::F32 | Self::Bf16 | Self::F16)
    }

    /// The precision a GGUF's `general.file_type` names, if it is one of ours.
    pub fn from_gguf_file_type(file_type: u32) -> Option<Self> {
        Self::ALL
            .iter()
            .copied()
            .find(|p| p.gguf_file_type() == file_type)
    }

    /// Bytes of `parameters` weights at this precision (estimate; saturating).
    pub fn bytes_for(self, parameters: u64) -> u64 {
        let bits = parameters.saturating_mul(self.bits_per_weight_x100());
        bits / 800
    }
}

impl fmt::Display for Precision {
    /// The label people know ("Q4_K_M", "BF16").
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// A precision name that is not one of [`Precision::ALL`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownPrecision(pub String);

impl fmt::Display for UnknownPrecision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = Precision::ALL.iter().map(|p| p.as_str()).collect();
        write!(
            f,
            "unknown precision {:?}; expected one of {}",
            self.0,
            names.join(", ")
        )
    }
}

impl std::error::Error for UnknownPrecision {}

impl FromStr for Precision {
    type Err = UnknownPrecision;

    /// Parses the name or label in any case, with `-` for `_` ("Q4_K_M", "q4-k-m"), and the
    /// short forms "q4_k"/"q4k" (Q4_K_M), "q8" (Q8_0), "fp16", "fp32".
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let key = s.trim().to_ascii_lowercase().replace('-', "_");
        let alias = match key.as_str() {
            "q4_k" | "q4k" | "q4km" => Some(Self::Q4KM),
            "q8" => Some(Self::Q8_0),
            "fp16" => Some(Self::F16),
            "fp32" => Some(Self::F32),
            _ => None,
        };
        alias
            .or_else(|| Self::ALL.iter().copied().find(|p| p.as_str() == key))
            .ok_or_else(|| UnknownPrecision(s.trim().to_string()))
    }
}

impl Serialize for Precision {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Precision {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_labels_and_file_types_round_trip() {
        let mut ftypes = std::collections::BTreeSet::new();
        for &p in Precision::ALL {
            assert_eq!(p.as_str().parse::<Precision>(), Ok(p));
            assert_eq!(p.label().parse::<Precision>(), Ok(p));
            assert_eq!(p.as_str(), p.label().to_ascii_lowercase());
            assert!(ftypes.insert(p.gguf_file_type()), "{p} file type twice");
            assert_eq!(Precision::from_gguf_file_type(p.gguf_file_type()), Some(p));
            let json = serde_json::to_string(&p).unwrap();
            assert_eq!(serde_json::from_str::<Precision>(&json).unwrap(), p);
        }
        let aliases = [
            ("Q4_K", Precision::Q4KM),
            ("q4-k-m", Precision::Q4KM),
            ("fp16", Precision::F16),
            ("Q8", Precision::Q8_0),
        ];
        for (text, want) in aliases {
            assert_eq!(text.parse::<Precision>(), Ok(want), "{text}");
        }
        let err = "int4".parse::<Precision>().unwrap_err();
        assert!(err.to_string().contains("q4_k_m"), "{err}");
        assert_eq!(Precision::from_gguf_file_type(19), None);
    }

    #[test]
    fn sizes_match_the_published_7b_files() {
        // TheBloke's japanese-stablelm-instruct-gamma-7B-GGUF and the official bf16 shards.
        let params = 7_241_732_096u64;
        let published = [
            (Precision::Bf16, 14_480_000_000u64),
            (Precision::Q8_0, 7_700_000_000),
            (Precision::Q6K, 5_940_000_000),
            (Precision::Q5KM, 5_130_000_000),
            (Precision::Q4KM, 4_370_000_000),
            (Precision::Q3KM, 3_520_000_000),
            (Precision::Q2K, 3_080_000_000),
        ];
        for (p, size) in published {
            let estimate = p.bytes_for(params);
            assert!(estimate.abs_diff(size) * 100 < size, "{p}: {estimate}");
        }
        assert!(Precision::Q4KM.is_quantized());
        assert!(!Precision::Bf16.is_quantized());
        assert_eq!(Precision::F32.bytes_for(u64::MAX), u64::MAX / 800);
    }
}
