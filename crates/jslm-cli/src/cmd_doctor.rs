//! `jslm doctor`: what this machine has and how each model would run on it, as text or JSON.

use anyhow::Context as _;
use jslm_hardware::{doctor_report, DetectOptions, DeviceKind, HardwareProfile, Precision};
use jslm_runtime::RunChoices;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct DoctorArgs {
    /// Print JSON (profile and plans) instead of text.
    #[arg(long)]
    json: bool,
    /// Model cache directory whose disk space to check [default: the Hugging Face hub cache].
    #[arg(long, value_name = "DIR", value_parser = crate::paths::user_path())]
    cache_dir: Option<PathBuf>,
    /// Plan as if this device were requested: cpu, cuda or metal.
    #[arg(long)]
    device: Option<DeviceKind>,
    /// Plan as if this precision were requested (f32, bf16, f16, q8_0, q4_k_m, ...).
    #[arg(long)]
    precision: Option<Precision>,
    /// Plan as if this many CPU threads were requested.
    #[arg(long)]
    threads: Option<u32>,
    /// Plan for exactly this many tokens of context.
    #[arg(long, value_name = "TOKENS")]
    context: Option<u32>,
    /// Prefer Q8_0 over Q4_K_M on the CPU when it fits comfortably.
    #[arg(long)]
    prefer_quality: bool,
    /// Plan as if refused overrides were forced.
    #[arg(long)]
    force: bool,
    /// Plan as if this many blocks were asked for on the NVIDIA GPU (the rest on the CPU).
    #[arg(long, value_name = "BLOCKS")]
    gpu_layers: Option<u32>,
    /// Skip creating a CUDA/Metal device to prove the backend works (cuda/metal builds).
    #[arg(long)]
    no_probe: bool,
}

pub fn run(args: DoctorArgs) -> anyhow::Result<()> {
    let profile = HardwareProfile::detect(&DetectOptions {
        model_cache_dir: Some(args.cache_dir.clone().unwrap_or_else(default_cache_dir)),
        probe_backends: !args.no_probe,
        ..Default::default()
    });
    let choices = RunChoices {
        device: args.device,
        precision: args.precision,
        threads: args.threads,
        context_tokens: args.context,
        prefer_quality: args.prefer_quality,
        force: args.force,
        gpu_layers: args.gpu_layers,
    };
    // Every catalog model with every file it offers, planned as `generate` would plan it.
    let models = jslm_hub::catalog()
        .models
        .iter()
        .map(|entry| jslm_runtime::catalog::spec(entry, Some("*")))
        .collect::<Result<Vec<_>, _>>()?;
    let report = doctor_report(&profile, &models, &choices.plan_settings());
    let mut output = if args.json {
        serde_json::to_string_pretty(&report).context("serialising the report")?
    } else {
        report.render_text()
    };
    if !output.ends_with('\n') {
        output.push('\n');
    }
    out!("{output}")
}

/// The Hugging Face hub cache, resolved as `huggingface_hub` (and the jslm-hub crate) do:
/// `HF_HUB_CACHE`, `HUGGINGFACE_HUB_CACHE`, `HF_HOME/hub`, `XDG_CACHE_HOME/huggingface/hub`,
/// then `~/.cache/huggingface/hub`.
fn default_cache_dir() -> PathBuf {
    let var = |key: &str| {
        std::env::var_os(key)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    var("HF_HUB_CACHE")
        .or_else(|| var("HUGGINGFACE_HUB_CACHE"))
        .or_else(|| var("HF_HOME").map(|home| home.join("hub")))
        .unwrap_or_else(|| {
            let cache = var("XDG_CACHE_HOME").unwrap_or_else(|| {
                var("HOME")
                    .or_else(|| var("USERPROFILE"))
                    .unwrap_or_else(|| PathBuf::from("."))
                    .join(".cache")
            });
            cache.join("huggingface").join("hub")
        })
}
