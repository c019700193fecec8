//! The device plan for a model in the app: what `jslm_hardware::plan` decides (precision,
//! threads, context, memory fit) for the model's shape and files on this machine, with the
//! user's precision override.
//!
//! `model_spec` mirrors the CLI's `plan_load.rs` so that the app and `jslm generate` load a
//! model the same way (and give the same text for the same seed).

use crate::error::{AppError, AppResult};
use jslm_engine::model::{read_gguf_header, read_mistral_config};
use jslm_engine::{ModelFiles, Quantization, WeightsFormat};
use jslm_hardware::{
    plan, DevicePlan, HardwareProfile, ModelShape, ModelSpec, PlanSettings, Precision, WeightFile,
    WeightFormat,
};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The user's precision override for safetensors models (a GGUF runs as it is).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrecisionChoice {
    /// The plan decides (on a CPU: quantize to Q4_K_M, or Q8_0 when asked for quality).
    #[default]
    Auto,
    F32,
    Bf16,
    #[serde(rename = "q8_0")]
    Q80,
    #[serde(rename = "q4_k_m")]
    Q4KM,
}

impl PrecisionChoice {
    fn precision(self) -> Option<Precision> {
        match self {
            Self::Auto => None,
            Self::F32 => Some(Precision::F32),
            Self::Bf16 => Some(Precision::Bf16),
            Self::Q80 => Some(Precision::Q8_0),
            Self::Q4KM => Some(Precision::Q4KM),
        }
    }
}

/// The model as the planner sees it: its shape, the weight files it can be loaded from, and
/// its context.
pub fn model_spec(path: &Path) -> AppResult<ModelSpec> {
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
            let size = shards
                .iter()
                .map(|s| std::fs::metadata(s).map(|m| m.len()).unwrap_or(0))
                .sum();
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
            let h = read_gguf_header(file)?;
            let get = |k: &str| h.metadata.get(k).and_then(|v| v.to_u32().ok()).unwrap_or(0) as u64;
            let heads = get("llama.attention.head_count").max(1);
            let hidden = get("llama.embedding_length");
            let vocab = h
                .tensor_infos
                .get("token_embd.weight")
                .and_then(|t| t.shape.dims().first().copied())
                .unwrap_or(0) as u64;
            let shape = ModelShape {
                hidden_size: hidden,
                intermediate_size: get("llama.feed_forward_length"),
                num_hidden_layers: get("llama.block_count"),
                num_attention_heads: heads,
                num_key_value_heads: get("llama.attention.head_count_kv").max(1),
                head_dim: hidden / heads,
                vocab_size: vocab,
            };
            let q8 = h
                .tensor_infos
                .get("blk.0.attn_q.weight")
                .is_some_and(|t| format!("{:?}", t.ggml_dtype) == "Q8_0");
            let format = if q8 {
                WeightFormat::GgufQ8_0
            } else {
                WeightFormat::GgufQ4KM
            };
            let size = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
            let context = (get("llama.context_length") as usize).clamp(1, 4096);
            (
                shape,
                vec![WeightFile {
                    format,
                    size_bytes: size,
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

/// The plan for `spec` on `profile` with the user's choice. A GGUF's precision is its own.
/// An explicit precision is followed even where the plan would prefer another (as the CLI
/// does with `--dtype`/`--quantize`); whether it fits is still checked by [`check_fit`].
pub fn plan_model(
    profile: &HardwareProfile,
    spec: &ModelSpec,
    choice: PrecisionChoice,
    force: bool,
) -> DevicePlan {
    let is_gguf = spec.files.iter().all(|f| f.format.is_gguf());
    let precision = if is_gguf {
        spec.files.first().map(|f| match f.format {
            WeightFormat::GgufQ8_0 => Precision::Q8_0,
            _ => Precision::Q4KM,
        })
    } else {
        choice.precision()
    };
    let settings = PlanSettings {
        precision,
        force: force || is_gguf || choice != PrecisionChoice::Auto,
        ..PlanSettings::default()
    };
    plan(profile, spec, &settings)
}

/// The in-app quantization a plan asks for.
pub fn quantization(plan: &DevicePlan) -> Option<Quantization> {
    match plan.precision {
        Precision::Q4KM => Some(Quantization::Q4KM),
        Precision::Q8_0 => Some(Quantization::Q8_0),
        _ => None,
    }
}

/// Refuses a plan whose estimate does not fit, unless the user forced it.
pub fn check_fit(plan: &DevicePlan, force: bool) -> AppResult<()> {
    if plan.fit.level == jslm_hardware::FitLevel::WillNotFit && !force {
        return Err(AppError::WillNotFit {
            message: plan.fit.message.clone(),
            needed_bytes: plan.fit.needed_bytes,
            available_bytes: plan.fit.available_bytes,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> std::path::PathBuf {
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/tiny-mistral")
    }

    #[test]
    fn spec_of_the_tiny_fixture() {
        let spec = model_spec(&tiny()).unwrap();
        assert_eq!(spec.shape.hidden_size, 64);
        assert_eq!(spec.shape.num_hidden_layers, 2);
        assert_eq!(spec.max_context_tokens, 4096);
        assert!(spec.files[0].size_bytes > 1_000_000);
    }

    #[test]
    fn missing_model_is_an_engine_error() {
        let err = model_spec(Path::new("/no/such/model")).unwrap_err();
        assert_eq!(err.code(), "missing_file");
    }

    #[test]
    fn choices_become_plan_precisions() {
        let cases = [
            (PrecisionChoice::Auto, None),
            (PrecisionChoice::F32, Some(Precision::F32)),
            (PrecisionChoice::Bf16, Some(Precision::Bf16)),
            (PrecisionChoice::Q80, Some(Precision::Q8_0)),
            (PrecisionChoice::Q4KM, Some(Precision::Q4KM)),
        ];
        for (choice, expected) in cases {
            assert_eq!(choice.precision(), expected, "{choice:?}");
        }
    }

    #[test]
    fn the_tiny_model_fits_here_and_a_huge_need_is_refused() {
        let profile = HardwareProfile::detect(&Default::default());
        let spec = model_spec(&tiny()).unwrap();
        let p = plan_model(&profile, &spec, PrecisionChoice::Auto, false);
        check_fit(&p, false).unwrap();

        let mut huge = p.clone();
        huge.fit.level = jslm_hardware::FitLevel::WillNotFit;
        let err = check_fit(&huge, false).unwrap_err();
        assert_eq!(err.code(), "will_not_fit");
        check_fit(&huge, true).unwrap();
    }
}
