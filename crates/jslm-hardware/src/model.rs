//! `ModelSpec`: a model's shape and the size of each weight file, which is all the memory
//! estimate needs to know about a model.

use serde::{Deserialize, Serialize};

/// Transformer dimensions, named as in Hugging Face `config.json`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelShape {
    pub hidden_size: u64,
    pub intermediate_size: u64,
    pub num_hidden_layers: u64,
    pub num_attention_heads: u64,
    pub num_key_value_heads: u64,
    /// Per-head dimension; `hidden_size / num_attention_heads` for Mistral.
    pub head_dim: u64,
    pub vocab_size: u64,
}

impl ModelShape {
    /// Parameter count of a Llama/Mistral decoder with untied embeddings: embeddings and
    /// LM head, q/k/v/o and gate/up/down projections, two RMS norms per layer and the final one.
    pub fn parameter_count(&self) -> u64 {
        let h = self.hidden_size;
        let kv = self.num_key_value_heads.saturating_mul(self.head_dim);
        let q = self.num_attention_heads.saturating_mul(self.head_dim);
        let attention = h
            .saturating_mul(q)
            .saturating_mul(2)
            .saturating_add(h.saturating_mul(kv).saturating_mul(2));
        let mlp = h.saturating_mul(self.intermediate_size).saturating_mul(3);
        let per_layer = attention
            .saturating_add(mlp)
            .saturating_add(h.saturating_mul(2));
        let embeddings = self.vocab_size.saturating_mul(h).saturating_mul(2);
        per_layer
            .saturating_mul(self.num_hidden_layers)
            .saturating_add(embeddings)
            .saturating_add(h)
    }
}

/// Weights of the matrices a GGUF model multiplies with (every 2-D tensor but the token
/// embedding), counted by ggml type.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatmulWeights {
    pub q4k: u64,
    pub q6k: u64,
    pub q8_0: u64,
}

/// llama.cpp's `use_more_bits(i_layer, n_layers)`: the layers whose `attn_v` and `ffn_down`
/// Q4_K_M stores as Q6_K (the first and last eighth, and every third layer between).
fn use_more_bits(layer: u64, n_layers: u64) -> bool {
    let eighth = n_layers / 8;
    // `layer >= eighth` is implied once the first clause is false.
    layer < eighth || layer >= 7 * n_layers / 8 || (layer - eighth) % 3 == 2
}

impl ModelShape {
    /// The matmul weights of a GGUF file in `format`, following llama.cpp's recipes (and the
    /// engine's own quantizer, which copies them): Q4_K_M is Q4_K except `output` and the
    /// `use_more_bits` layers' `attn_v`/`ffn_down`, which are Q6_K; Q8_0 is Q8_0 throughout.
    pub fn gguf_matmul_weights(&self, format: WeightFormat) -> MatmulWeights {
        let h = self.hidden_size;
        let q = self.num_attention_heads.saturating_mul(self.head_dim);
        let kv = self.num_key_value_heads.saturating_mul(self.head_dim);
        let attn_v = h.saturating_mul(kv);
        let ffn_down = h.saturating_mul(self.intermediate_size);
        let per_layer = h
            .saturating_mul(q)
            .saturating_mul(2)
            .saturating_add(attn_v.saturating_mul(2))
            .saturating_add(ffn_down.saturating_mul(3));
        let output = self.vocab_size.saturating_mul(h);
        let total = per_layer
            .saturating_mul(self.num_hidden_layers)
            .saturating_add(output);
        match format {
            WeightFormat::SafetensorsBf16 => MatmulWeights::default(),
            WeightFormat::GgufQ8_0 => MatmulWeights {
                q8_0: total,
                ..MatmulWeights::default()
            },
            WeightFormat::GgufQ4KM => {
                // Counting layers rather than looping keeps absurd layer counts cheap.
                let more_bits_layers = if self.num_hidden_layers > 1 << 20 {
                    self.num_hidden_layers / 2
                } else {
                    (0..self.num_hidden_layers)
                        .filter(|&layer| use_more_bits(layer, self.num_hidden_layers))
                        .count() as u64
                };
                let q6k = attn_v
                    .saturating_add(ffn_down)
                    .saturating_mul(more_bits_layers)
                    .saturating_add(output);
                MatmulWeights {
                    q4k: total.saturating_sub(q6k),
                    q6k,
                    q8_0: 0,
                }
            }
        }
    }

    /// Bytes of the quantized token embedding in a GGUF file: Q4_K (144 B per 256 weights) in
    /// Q4_K_M, Q8_0 (34 B per 32) in Q8_0. candle dequantizes it and drops this copy when the
    /// file has a separate `output` matrix, as Mistral's does.
    pub fn gguf_embedding_bytes(&self, format: WeightFormat) -> u64 {
        let weights = self.vocab_size.saturating_mul(self.hidden_size);
        match format {
            WeightFormat::SafetensorsBf16 => 0,
            WeightFormat::GgufQ4KM => weights / 256 * 144,
            WeightFormat::GgufQ8_0 => weights / 32 * 34,
        }
    }
}

/// A weight file kind the engine can load.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WeightFormat {
    /// The official bf16 safetensors shards; loaded as bf16, f16 or f32.
    SafetensorsBf16,
    /// llama.cpp GGUF, Q4_K_M mix (mostly Q4_K, some Q6_K).
    GgufQ4KM,
    /// llama.cpp GGUF, Q8_0.
    GgufQ8_0,
}

impl WeightFormat {
    pub fn is_gguf(self) -> bool {
        matches!(self, Self::GgufQ4KM | Self::GgufQ8_0)
    }

    /// Average bits per weight, for estimating a file size that is not known: Q8_0 stores 32
    /// int8 plus one f16 scale per block (8.5 bits); Q4_K_M averages 4.83 bits over the 7B
    /// (measured: 4.37 GB / 7.24 B parameters).
    fn bits_per_weight_x100(self) -> u64 {
        match self {
            Self::SafetensorsBf16 => 1600,
            Self::GgufQ8_0 => 850,
            Self::GgufQ4KM => 483,
        }
    }

    /// Short label for people.
    pub fn label(self) -> &'static str {
        match self {
            Self::SafetensorsBf16 => "safetensors (bf16)",
            Self::GgufQ4KM => "GGUF Q4_K_M",
            Self::GgufQ8_0 => "GGUF Q8_0",
        }
    }
}

/// A weight file and its size on disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WeightFile {
    pub format: WeightFormat,
    /// Total size of the file (all shards), in bytes.
    pub size_bytes: u64,
}

/// A model as the plan sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelSpec {
    /// Display name, e.g. "Japanese StableLM Instruct Gamma 7B".
    pub name: String,
    pub shape: ModelShape,
    /// Longest context the model and candle's implementation support, in tokens.
    pub max_context_tokens: u32,
    /// Known weight files. A format not listed can still be planned (the engine can quantize
    /// locally); its size is then estimated from the parameter count.
    pub files: Vec<WeightFile>,
}

impl ModelSpec {
    /// A model from its numbers (e.g. the engine's parsed `config.json` and the file sizes
    /// it sees on disk).
    pub fn new(
        name: impl Into<String>,
        shape: ModelShape,
        max_context_tokens: u32,
        files: Vec<WeightFile>,
    ) -> Self {
        Self {
            name: name.into(),
            shape,
            max_context_tokens,
            files,
        }
    }

    /// stabilityai/japanese-stablelm-instruct-gamma-7b: Mistral-7B-v0.1 shape (its
    /// `config.json`: hidden 4096, intermediate 14336, 32 layers, 32 heads, 8 KV heads,
    /// vocab 32000). Context 4096: the Mistral sliding window, and candle 0.11's
    /// `quantized_llama::MAX_SEQ_LEN` (its RoPE table ends there). File sizes: the official
    /// bf16 shards 14.48 GB; community GGUFs Q4_K_M 4.37 GB and Q8_0 7.70 GB.
    pub fn japanese_stablelm_instruct_gamma_7b() -> Self {
        Self::new(
            "Japanese StableLM Instruct Gamma 7B",
            ModelShape {
                hidden_size: 4096,
                intermediate_size: 14336,
                num_hidden_layers: 32,
                num_attention_heads: 32,
                num_key_value_heads: 8,
                head_dim: 128,
                vocab_size: 32000,
            },
            4096,
            vec![
                WeightFile {
                    format: WeightFormat::SafetensorsBf16,
                    size_bytes: 14_480_000_000,
                },
                WeightFile {
                    format: WeightFormat::GgufQ4KM,
                    size_bytes: 4_370_000_000,
                },
                WeightFile {
                    format: WeightFormat::GgufQ8_0,
                    size_bytes: 7_700_000_000,
                },
            ],
        )
    }

    /// Size of the weight file in `format`, in bytes: the listed size, or an estimate from
    /// the parameter count.
    pub fn file_size(&self, format: WeightFormat) -> u64 {
        self.files
            .iter()
            .find(|file| file.format == format)
            .map(|file| file.size_bytes)
            .unwrap_or_else(|| {
                crate::units::scale(
                    self.shape.parameter_count(),
                    format.bits_per_weight_x100(),
                    800,
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seven_b_parameter_count_matches_its_bf16_size() {
        let spec = ModelSpec::japanese_stablelm_instruct_gamma_7b();
        let params = spec.shape.parameter_count();
        // Mistral-7B: 7,241,732,096 parameters.
        assert_eq!(params, 7_241_732_096);
        // 2 bytes each = the official 14.48 GB of shards (within 0.1 %).
        let bf16 = params * 2;
        assert!(bf16.abs_diff(14_480_000_000) * 1000 < 14_480_000_000);
    }

    #[test]
    fn file_size_table() {
        let spec = ModelSpec::japanese_stablelm_instruct_gamma_7b();
        let listed = [
            (WeightFormat::SafetensorsBf16, 14_480_000_000),
            (WeightFormat::GgufQ4KM, 4_370_000_000),
            (WeightFormat::GgufQ8_0, 7_700_000_000),
        ];
        for (format, size) in listed {
            assert_eq!(spec.file_size(format), size, "{format:?}");
        }
        // Without listed files the estimates land within 3 % of the real sizes.
        let bare = ModelSpec::new("bare", spec.shape, 4096, vec![]);
        for (format, size) in listed {
            let estimate = bare.file_size(format);
            assert!(
                estimate.abs_diff(size) * 100 < size * 3,
                "{format:?}: {estimate}"
            );
        }
    }

    #[test]
    fn q4_k_m_mix_matches_the_file() {
        let spec = ModelSpec::japanese_stablelm_instruct_gamma_7b();
        let more: Vec<u64> = (0..32).filter(|&l| use_more_bits(l, 32)).collect();
        assert_eq!(
            more,
            vec![0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31]
        );
        let mix = spec.shape.gguf_matmul_weights(WeightFormat::GgufQ4KM);
        assert_eq!(mix.q6k, 131_072_000 + 16 * (4_194_304 + 58_720_256));
        assert_eq!(
            mix.q4k + mix.q6k + 131_072_000,
            spec.shape.parameter_count() - 4096 * 65
        );
        // Q4_K 144 B and Q6_K 210 B per 256 weights, plus the Q4_K embedding: the 4.37 GB file.
        let bytes = mix.q4k / 256 * 144
            + mix.q6k / 256 * 210
            + spec.shape.gguf_embedding_bytes(WeightFormat::GgufQ4KM);
        assert!(bytes.abs_diff(4_367_722_144) < 2_000_000, "{bytes}");
        let q8 = spec.shape.gguf_matmul_weights(WeightFormat::GgufQ8_0);
        assert_eq!(q8.q8_0, mix.q4k + mix.q6k);
        assert_eq!(
            spec.shape
                .gguf_matmul_weights(WeightFormat::SafetensorsBf16),
            MatmulWeights::default()
        );
    }

    #[test]
    fn absurd_shapes_saturate_instead_of_overflowing() {
        let shape = ModelShape {
            hidden_size: u64::MAX,
            intermediate_size: u64::MAX,
            num_hidden_layers: u64::MAX,
            num_attention_heads: u64::MAX,
            num_key_value_heads: u64::MAX,
            head_dim: u64::MAX,
            vocab_size: u64::MAX,
        };
        assert_eq!(shape.parameter_count(), u64::MAX);
    }
}
