//! Turns the hardware plan into engine load options: the model's shape and files go to
//! `jslm_hardware::plan`, and its choices (quantization, threads, kernels, context) come back as
//! `LoadOptions`. Explicit `--dtype` / `--quantize` / `--threads` win over the plan.

use crate::cmd_generate::LoadArgs;
use crate::paths::jslm_cache_dir;
use jslm_engine::{DType, Device, LoadOptions, Quantization};
use jslm_hardware::{
    plan, DetectOptions, DevicePlan, FitLevel, HardwareProfile, PlanSettings, Precision,
    WeightFormat,
};
use std::path::{Path, PathBuf};

/// The plan for `path` on this machine, honouring the user's explicit choices.
pub fn plan_for(path: &Path, args: &LoadArgs) -> anyhow::Result<(DevicePlan, bool)> {
    let spec = jslm_engine::planner_spec::model_spec(path)?;
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
