//! How weights and activations are stored in memory.

use crate::model::WeightFormat;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The in-memory precision of the weights.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Precision {
    /// bfloat16 from the safetensors shards as stored.
    Bf16,
    /// float16, converted from the bf16 shards at load (GPUs without bf16).
    F16,
    /// float32, converted at load: twice the memory, only for debugging.
    F32,
    /// GGUF Q4_K_M, quantized weights with f32 activations.
    Q4KM,
    /// GGUF Q8_0, quantized weights with f32 activations.
    Q8_0,
}

impl Precision {
    /// The weight file this precision is loaded from.
    pub fn weight_format(self) -> WeightFormat {
        match self {
            Self::Bf16 | Self::F16 | Self::F32 => WeightFormat::SafetensorsBf16,
            Self::Q4KM => WeightFormat::GgufQ4KM,
            Self::Q8_0 => WeightFormat::GgufQ8_0,
        }
    }

    pub fn is_quantized(self) -> bool {
        self.weight_format().is_gguf()
    }

    /// Bytes per element of activations and KV cache. candle's `quantized_llama` computes in
    /// f32 on every device, so GGUF plans keep an f32 KV cache.
    pub fn activation_bytes(self) -> u64 {
        match self {
            Self::Bf16 | Self::F16 => 2,
            Self::F32 | Self::Q4KM | Self::Q8_0 => 4,
        }
    }

    /// Resident weight bytes for a bf16 file of `bf16_file_bytes`, or a GGUF file of
    /// `gguf_file_bytes`: bf16/f16 equal the file, f32 doubles it, GGUF is read whole into
    /// memory by candle 0.11 (`QTensor` buffers, not mmap), so it equals the file.
    pub(crate) fn weight_bytes(self, file_bytes: u64) -> u64 {
        match self {
            Self::F32 => file_bytes.saturating_mul(2),
            _ => file_bytes,
        }
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Bf16 => "bf16",
            Self::F16 => "f16",
            Self::F32 => "f32",
            Self::Q4KM => "q4_k_m",
            Self::Q8_0 => "q8_0",
        })
    }
}

impl FromStr for Precision {
    type Err = String;

    /// Parses "bf16", "f16", "f32", "q4_k_m" (or "q4k", "q4_k"), "q8_0" (or "q8"), any case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().replace('-', "_").as_str() {
            "bf16" => Ok(Self::Bf16),
            "f16" | "fp16" => Ok(Self::F16),
            "f32" | "fp32" => Ok(Self::F32),
            "q4_k_m" | "q4_k" | "q4k" | "q4km" => Ok(Self::Q4KM),
            "q8_0" | "q8" => Ok(Self::Q8_0),
            other => Err(format!(
                "unknown precision {other:?}; expected bf16, f16, f32, q4_k_m or q8_0"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precision_table() {
        let cases = [
            (Precision::Bf16, WeightFormat::SafetensorsBf16, 2, 100),
            (Precision::F16, WeightFormat::SafetensorsBf16, 2, 100),
            (Precision::F32, WeightFormat::SafetensorsBf16, 4, 200),
            (Precision::Q4KM, WeightFormat::GgufQ4KM, 4, 100),
            (Precision::Q8_0, WeightFormat::GgufQ8_0, 4, 100),
        ];
        for (precision, format, activation, weights_of_100) in cases {
            assert_eq!(precision.weight_format(), format, "{precision}");
            assert_eq!(precision.activation_bytes(), activation, "{precision}");
            assert_eq!(precision.weight_bytes(100), weights_of_100, "{precision}");
            assert_eq!(precision.is_quantized(), format.is_gguf());
            assert_eq!(precision.to_string().parse::<Precision>(), Ok(precision));
        }
        let aliases = [
            ("Q4_K", Precision::Q4KM),
            ("q4-k-m", Precision::Q4KM),
            ("fp16", Precision::F16),
        ];
        for (text, want) in aliases {
            assert_eq!(text.parse::<Precision>(), Ok(want), "{text}");
        }
        assert!("int4".parse::<Precision>().is_err());
    }
}
