//! `ModelSpec`: a model as the plan sees it — its shape, context and weight files — which is
//! all the memory estimate needs. Built by the runtime from the engine's validated model
//! description (a folder or GGUF on disk) or from a catalog entry (before download).

use jslm_core::{Container, ModelShape, Precision};
use serde::{Deserialize, Serialize};

/// A weight file (all shards together) of a model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WeightFile {
    pub container: Container,
    /// The precision stored in the file.
    pub precision: Precision,
    /// Size on disk, in bytes.
    pub size_bytes: u64,
}

impl WeightFile {
    /// "safetensors (BF16)", "GGUF Q4_K_M".
    pub fn label(&self) -> String {
        match self.container {
            Container::Safetensors => format!("safetensors ({})", self.precision),
            Container::Gguf => format!("GGUF {}", self.precision),
        }
    }
}

/// Precisions the engine's in-app quantizer writes from safetensors.
pub const IN_APP_QUANTIZATIONS: [Precision; 2] = [Precision::Q4KM, Precision::Q8_0];

/// A model as the plan sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelSpec {
    /// Display name, e.g. "Japanese StableLM Instruct Gamma 7B" or a file name.
    pub name: String,
    pub shape: ModelShape,
    /// Longest context the engine computes exactly for this model, in tokens (Mistral: its
    /// 4,096-token sliding window).
    pub max_context_tokens: u32,
    /// The weight files there are (or, for a catalog model, that can be downloaded).
    pub files: Vec<WeightFile>,
}

impl ModelSpec {
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

    /// The file a run at `precision` is loaded from: a file stored at that precision, else
    /// safetensors converted (floats) or quantized in the app. `None` when no file can give it
    /// (a GGUF runs only at its own precision).
    pub fn source_for(&self, precision: Precision) -> Option<WeightFile> {
        if let Some(file) = self.files.iter().find(|f| f.precision == precision) {
            return Some(*file);
        }
        let convertible = !precision.is_quantized() || IN_APP_QUANTIZATIONS.contains(&precision);
        self.files
            .iter()
            .find(|f| f.container == Container::Safetensors && convertible)
            .copied()
    }

    /// Precisions this model can run at, widest first.
    pub fn available_precisions(&self) -> Vec<Precision> {
        Precision::ALL
            .iter()
            .copied()
            .filter(|&p| self.source_for(p).is_some())
            .collect()
    }

    /// Bytes of the weights at `precision`: the size of a file stored so, else the source
    /// file's size scaled by bits per weight, else an estimate from the parameter count.
    pub fn weight_bytes(&self, precision: Precision) -> u64 {
        if let Some(file) = self.files.iter().find(|f| f.precision == precision) {
            return file.size_bytes;
        }
        match self
            .source_for(precision)
            .or_else(|| self.files.first().copied())
        {
            Some(source) => crate::units::scale(
                source.size_bytes,
                precision.bits_per_weight_x100(),
                source.precision.bits_per_weight_x100(),
            ),
            None => precision.bytes_for(self.shape.parameter_count()),
        }
    }

    /// Bytes of the quantized token embedding (candle's GPU runner replaces it with an f32
    /// copy): vocab × hidden at `precision`'s average bits per weight.
    pub fn embedding_bytes(&self, precision: Precision) -> u64 {
        if !precision.is_quantized() {
            return 0;
        }
        precision.bytes_for(self.shape.vocab_size.saturating_mul(self.shape.hidden_size))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// stabilityai/japanese-stablelm-instruct-gamma-7b with the three files the catalog
    /// offers: the official bf16 shards (14.48 GB) and TheBloke's Q4_K_M (4.37 GB) and Q8_0
    /// (7.70 GB) GGUFs. The shape of Mistral-7B-v0.1's `config.json`.
    pub(crate) fn seven_b() -> ModelSpec {
        let file = |container, precision, size_bytes| WeightFile {
            container,
            precision,
            size_bytes,
        };
        ModelSpec::new(
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
                file(Container::Safetensors, Precision::Bf16, 14_480_000_000),
                file(Container::Gguf, Precision::Q4KM, 4_370_000_000),
                file(Container::Gguf, Precision::Q8_0, 7_700_000_000),
            ],
        )
    }

    #[test]
    fn sources_and_sizes() {
        let spec = seven_b();
        assert_eq!(spec.weight_bytes(Precision::Q4KM), 4_370_000_000);
        assert_eq!(spec.weight_bytes(Precision::F32), 28_960_000_000);
        assert_eq!(
            spec.source_for(Precision::F16).map(|f| f.container),
            Some(Container::Safetensors)
        );
        // Q5_K_M is neither listed nor made in the app.
        assert_eq!(spec.source_for(Precision::Q5KM), None);

        let gguf_only = ModelSpec::new(
            "q5",
            spec.shape,
            4096,
            vec![WeightFile {
                container: Container::Gguf,
                precision: Precision::Q5KM,
                size_bytes: 5_130_000_000,
            }],
        );
        assert_eq!(gguf_only.available_precisions(), vec![Precision::Q5KM]);
        assert_eq!(gguf_only.source_for(Precision::Q4KM), None);
        assert_eq!(
            spec.available_precisions(),
            vec![
                Precision::F32,
                Precision::Bf16,
                Precision::F16,
                Precision::Q8_0,
                Precision::Q4KM
            ]
        );
        // Without files, the size comes from the parameter count.
        let bare = ModelSpec::new("bare", spec.shape, 4096, vec![]);
        let estimate = bare.weight_bytes(Precision::Q4KM);
        assert!(estimate.abs_diff(4_370_000_000) * 100 < 4_370_000_000 * 2);
    }
}
