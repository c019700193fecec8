//! Turns the hardware plan into engine load options: the model's shape and files go to
//! `jslm_hardware::plan`, and its choices (quantization, threads, kernels, context) come back as
//! `LoadOptions`. Explicit `--dtype` / `--quantize` / `--threads` win over the plan.

use crate::cmd_generate::LoadArgs;
use crate::paths::jslm_cache_dir;
use jslm_engine::model::{read_gguf_header, read_mistral_config};
use jslm_engine::{DType, Device, LoadOptions, ModelFiles, Quantization, WeightsFormat};
use jslm_hardware::{
    plan, DetectOptions, DevicePlan, FitLevel, HardwareProfile, ModelShape, ModelSpec,
    PlanSettings, Precision, WeightFile, WeightFormat,
};
use std::path::{Path, PathBuf};

/// The model as the planner sees it: its shape and the weight files it can be loaded from
/// (safetensors can also be quantized in the app to either GGUF mix).
fn model_spec(path: &Path) -> anyhow::Result<ModelSpec> {
    let weights = ModelFiles::locate_weights(path)?;
    let (shape, files, context) = match &weights {
        WeightsFormat::Safetensors { config, shards } => {
            let c = read_mistral_config(config)?;
            let head_dim = c.head_dim.unwrap_or(c.hidden_size / c.num_attention_heads);
            let shape = ModelShape {
                hidden_size: c.hidden_size as u64,
                intermediate_size: c.intermediate_size as u64,
                num_hidden_layers: c.num_hidden_layers as u64,
                num_attention_heads: c.num_attention_heads as u64,
                num_key_value_heads: c.num_key_value_heads as u64,
                head_dim: head_dim as u64,
                vocab_size: c.vocab_size as u64,
            };
            let size: u64 = shards
                .iter()
                .map(|s| std::fs::metadata(s).map(|m| m.len()).unwrap_or(0))
                .sum();
            // GGUF sizes are left to the planner's estimate from the parameter count.
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

/// The plan for `path` on this machine, honouring the user's explicit choices.
pub fn plan_for(path: &Path, args: &LoadArgs) -> anyhow::Result<(DevicePlan, bool)> {
    let spec = model_spec(path)?;
    let profile = HardwareProfile::detect(&DetectOptions::default());
    let is_gguf = spec.files.iter().all(|f| f.format.is_gguf());
    let explicit = args.dtype.is_some() || args.quantize.is_some();
    let precision = if is_gguf {
        spec.files.first().map(|f| match f.format {
            WeightFormat::GgufQ8_0 => Precision::Q8_0,
            _ => Precision::Q4KM,
        })
    } else if let Some(q) = &args.quantize {
        Some(match q.parse::<Quantization>()? {
            Quantization::Q4KM => Precision::Q4KM,
            Quantization::Q8_0 => Precision::Q8_0,
        })
    } else {
        match args.dtype.as_deref() {
            Some("bf16") => Some(Precision::Bf16),
            Some("f16") => Some(Precision::F16),
            Some("f32") => Some(Precision::F32),
            _ => None,
        }
    };
    let settings = PlanSettings {
        precision,
        threads: args.threads.map(|t| t as u32),
        // The user's explicit precision is followed even where the plan would refuse it.
        force: args.force || explicit || is_gguf,
        ..PlanSettings::default()
    };
    Ok((plan(&profile, &spec, &settings), explicit))
}

/// Load options that follow the plan; refuses a load that will not fit unless `--force`.
pub fn planned_load_options(
    model: &Path,
    args: &LoadArgs,
    tokenizer: Option<PathBuf>,
) -> anyhow::Result<LoadOptions> {
    let (plan, explicit) = plan_for(model, args)?;
    eprintln!(
        "plan: {} {:?}, {} threads, context {} tokens — {}",
        plan.device, plan.precision, plan.threads, plan.context_tokens, plan.fit.message
    );
    for w in &plan.warnings {
        eprintln!("note: {w}");
    }
    if plan.fit.level == FitLevel::WillNotFit && !args.force {
        anyhow::bail!(
            "the model will not fit in memory: {} (use --force to try anyway)",
            plan.fit.message
        );
    }
    if args.threads.is_none() {
        std::env::set_var("RAYON_NUM_THREADS", plan.threads.to_string());
    }
    let dtype = match args.dtype.as_deref() {
        None => None,
        Some("f32") => Some(DType::F32),
        Some("bf16") => Some(DType::BF16),
        Some("f16") => Some(DType::F16),
        Some(other) => anyhow::bail!("--dtype must be f32, bf16 or f16. Given: {other}"),
    };
    let quantize = match (&args.quantize, explicit) {
        (Some(q), _) => Some(q.parse::<Quantization>()?),
        (None, true) => None,
        (None, false) => match plan.precision {
            Precision::Q4KM => Some(Quantization::Q4KM),
            Precision::Q8_0 => Some(Quantization::Q8_0),
            _ => None,
        },
    };
    Ok(LoadOptions {
        device: Device::Cpu,
        dtype,
        quantize,
        quantized_dir: Some(jslm_cache_dir().join("quantized")),
        tokenizer,
        prefill_chunk_tokens: plan.prefill_chunk_tokens.max(1) as usize,
        context_tokens: Some(plan.context_tokens as usize),
        gguf_runner: jslm_engine::GgufRunner::from_env(),
    })
}
