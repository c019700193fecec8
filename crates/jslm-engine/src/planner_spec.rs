//! The model as the device planner (`jslm_hardware`) sees it, read from its files: one
//! function for the CLI and the app, so that both plan, and therefore load, a model the same
//! way (and give the same text for the same seed).

use crate::error::Result;
use crate::files::{ModelFiles, WeightsFormat};
use crate::model::read_mistral_config;
use jslm_hardware::{ModelShape, ModelSpec, WeightFile, WeightFormat};
use std::path::Path;

/// The model as the planner sees it: its shape, the weight files it can be loaded from, and
/// its context.
pub fn model_spec(path: &Path) -> Result<ModelSpec> {
    let weights = ModelFiles::locate_weights(path)?;
    let (shape, files, context) = match &weights {
        WeightsFormat::Safetensors { config, shards } => {
            let c = read_mistral_config(config)?;
            let head_dim = c
                .head_dim
                .unwrap_or(c.hidden_size / c.num_attention_heads.max(1));
            let shape = ModelShape {
                hidden_size: c.hidden_size as u64,
                intermediate_size: c.intermediate_size as u64,
                num_hidden_layers: c.num_hidden_layers as u64,
                num_attention_heads: c.num_attention_heads as u64,
                num_key_value_heads: c.num_key_value_heads as u64,
                head_dim: head_dim as u64,
                vocab_size: c.vocab_size as u64,
            };
            let mut size = 0u64;
            for shard in shards {
                let len = std::fs::metadata(shard)
                    .map_err(|e| crate::error::EngineError::io(shard, e))?
                    .len();
                size = size.checked_add(len).ok_or_else(|| {
                    crate::error::EngineError::invalid_file(shard, "shard sizes overflow")
                })?;
            }
            let files = vec![WeightFile {
                format: WeightFormat::SafetensorsBf16,
                size_bytes: size,
            }];
            let context = c
                .sliding_window
                .unwrap_or(c.max_position_embeddings)
                .min(c.max_position_embeddings);
            (shape, files, context)
        }
        WeightsFormat::Gguf { file } => {
            // The same validated description the loader checks: a file whose metadata lies
            // about its shape is refused here, before the memory check, not planned as zeros.
            let h = crate::gguf_header::read_gguf(file)?;
            let d = crate::gguf_header::check_llama_shapes(&h)?;
            let shape = ModelShape {
                hidden_size: d.hidden as u64,
                intermediate_size: d.ffn as u64,
                num_hidden_layers: d.layers as u64,
                num_attention_heads: d.heads as u64,
                num_key_value_heads: d.kv_heads as u64,
                head_dim: d.head_dim as u64,
                vocab_size: d.vocab as u64,
            };
            let format = if d.weight_dtype == candle_core::quantized::GgmlDType::Q8_0 {
                WeightFormat::GgufQ8_0
            } else {
                WeightFormat::GgufQ4KM
            };
            let context = d.context.unwrap_or(4096).clamp(1, 4096);
            (
                shape,
                vec![WeightFile {
                    format,
                    size_bytes: h.file_len,
                }],
                context,
            )
        }
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(ModelSpec::new(name, shape, context.min(4096) as u32, files))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> std::path::PathBuf {
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures")
            .join(name)
    }

    #[test]
    fn safetensors_and_gguf_of_the_tiny_model() {
        let spec = model_spec(&fixture("tiny-mistral")).unwrap();
        assert_eq!(spec.shape.hidden_size, 64);
        assert_eq!(spec.shape.num_hidden_layers, 2);
        assert_eq!(spec.shape.num_key_value_heads, 2);
        assert_eq!(spec.shape.vocab_size, 32000);
        assert_eq!(spec.max_context_tokens, 4096);
        assert_eq!(spec.files[0].format, WeightFormat::SafetensorsBf16);
        assert!(spec.files[0].size_bytes > 1_000_000);

        let gguf = model_spec(&fixture("tiny-mistral-llamacpp/model-q8_0.gguf")).unwrap();
        assert_eq!(gguf.shape, spec.shape);
        assert_eq!(gguf.files[0].format, WeightFormat::GgufQ8_0);
    }

    #[test]
    fn a_missing_model_is_a_missing_file() {
        let err = model_spec(Path::new("/no/such/model")).unwrap_err();
        assert_eq!(err.code(), "missing_file");
    }
}
