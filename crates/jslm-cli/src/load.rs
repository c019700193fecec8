//! How every command that runs the model gets it: the model and load flags (`LoadArgs`),
//! turned into the runtime's `ModelRef` and `RunChoices`, resolved (downloaded on demand with
//! progress bars), planned (the plan printed to stderr) and loaded — all decisions the
//! runtime's, none the CLI's.

use crate::error::CliError;
use crate::progress::LoadBar;
use jslm_core::Precision;
use jslm_hardware::units::format_gb;
use jslm_hardware::{
    DetectOptions, DeviceKind, DevicePlan, HardwareProfile, OverrideSetting, RefusedOverride,
};
use jslm_runtime::{LoadPlaces, LoadedModel, ModelRef, Planned, RunChoices};
use std::path::PathBuf;
use std::sync::Arc;

/// The model and how to run it; shared by `generate` and `bench`.
#[derive(clap::Args, Debug, Clone, Default, PartialEq)]
pub struct LoadArgs {
    /// Precision to run at (f32, bf16, f16, q8_0, q4_k_m, ...; a GGUF runs at its own).
    /// Default: the plan's (`jslm doctor`).
    #[arg(long, alias = "dtype", alias = "quantize")]
    pub precision: Option<Precision>,
    /// Device: cpu, cuda or metal (default: the plan's).
    #[arg(long)]
    pub device: Option<DeviceKind>,
    /// CPU threads (default: the plan's, the physical core count).
    #[arg(long)]
    pub threads: Option<u32>,
    /// Tokens of context to reserve memory for (default: as much as fits, up to 4,096).
    #[arg(long, value_name = "TOKENS")]
    pub context: Option<u32>,
    /// On the CPU, prefer Q8_0 over Q4_K_M when it fits comfortably.
    #[arg(long)]
    pub prefer_quality: bool,
    /// Load even where the memory plan says the model will not fit.
    #[arg(long)]
    pub force: bool,
    /// Blocks of a quantized model to run on the NVIDIA GPU, the others on the CPU (like
    /// llama.cpp's -ngl; 0: the CPU only). Default: the plan's (all of them where the model
    /// fits the GPU, as many as fit where it does not).
    #[arg(long, value_name = "BLOCKS")]
    pub gpu_layers: Option<u32>,
}

impl LoadArgs {
    pub fn choices(&self) -> RunChoices {
        RunChoices {
            device: self.device,
            precision: self.precision,
            threads: self.threads,
            context_tokens: self.context,
            prefer_quality: self.prefer_quality,
            force: self.force,
            gpu_layers: self.gpu_layers,
        }
    }

    /// These flags as command-line arguments, for a child `jslm` (bench's one process per
    /// model) to load exactly as this one would. Every field is named, so a new flag does not
    /// compile until it is passed on too.
    pub fn to_args(&self) -> Vec<String> {
        let Self {
            precision,
            device,
            threads,
            context,
            prefer_quality,
            force,
            gpu_layers,
        } = self;
        let mut args = Vec::new();
        let mut value = |flag: &str, v: Option<String>| {
            if let Some(v) = v {
                args.extend([flag.to_string(), v]);
            }
        };
        value("--precision", precision.map(|p| p.as_str().to_string()));
        value("--device", device.map(|d| d.to_string()));
        value("--threads", threads.map(|t| t.to_string()));
        value("--context", context.map(|c| c.to_string()));
        value("--gpu-layers", gpu_layers.map(|n| n.to_string()));
        if *prefer_quality {
            args.push("--prefer-quality".into());
        }
        if *force {
            args.push("--force".into());
        }
        args
    }
}

/// The files of `model` (a path, catalog id or repo id), downloaded when missing.
pub fn resolve(
    model: &str,
    revision: Option<String>,
    tokenizer: Option<PathBuf>,
) -> anyhow::Result<jslm_runtime::ModelSource> {
    // Before a possibly long download, and in the flag's words.
    if let Some(path) = tokenizer.as_ref().filter(|t| !t.is_file()) {
        return Err(CliError::TokenizerNotFound { path: path.clone() }.into());
    }
    let model_ref = ModelRef::parse(model).with_revision(revision);
    let mut source = if let ModelRef::Path(path) = &model_ref {
        jslm_runtime::ModelSource::from_path(path, None)
    } else {
        crate::hub_common::init_logging();
        let manager = crate::hub_common::manager()?;
        let bars = Arc::new(crate::progress_bars::Bars::new());
        let for_events = bars.clone();
        let runtime = crate::hub_common::runtime()?;
        let (cancel, _ctrl_c) = crate::interrupt::cancellation_token();
        let result = runtime.block_on(async {
            jslm_runtime::resolve(
                &manager,
                &model_ref,
                move |e| for_events.on_event(&e),
                cancel,
            )
            .await
        });
        bars.clear();
        result?
    };
    if tokenizer.is_some() {
        source.tokenizer = tokenizer;
    }
    Ok(source)
}

/// Plans the model on this machine and prints the plan to stderr.
pub fn plan(source: jslm_runtime::ModelSource, args: &LoadArgs) -> anyhow::Result<Planned> {
    let profile = HardwareProfile::detect(&DetectOptions::default());
    // What detection could not read (an NVIDIA GPU whose driver is not running, NVML errors):
    // without it a plan on the CPU beside a GPU the user can see says nothing of why.
    for n in &profile.notes {
        eprintln!("note: {}", n.message);
    }
    let planned = jslm_runtime::plan(&profile, source, &args.choices())?;
    let p = &planned.plan;
    eprintln!(
        "plan: {} ({}), {} ({}), {} threads, context {} tokens — {}",
        p.device,
        planned.device_name,
        p.precision,
        p.reason,
        p.threads,
        p.context_tokens,
        p.fit.message
    );
    if let Some(split) = &p.split {
        eprintln!("split: {split}");
    }
    for w in &p.warnings {
        eprintln!("note: {w}");
    }
    // A thread count or context the plan would not take stays a refusal in the plan (device,
    // precision and GPU blocks are refused with an error before this): say which value runs.
    for r in &p.refused {
        eprintln!("note: {}", refusal_note(r, p));
    }
    Ok(planned)
}

/// `threads = 0 refused: must be at least 1; running with 4 threads`.
fn refusal_note(refused: &RefusedOverride, plan: &DevicePlan) -> String {
    let used = match refused.setting {
        OverrideSetting::Threads => format!("; running with {} threads", plan.threads),
        OverrideSetting::Context => format!("; reserving {} tokens", plan.context_tokens),
        _ => String::new(),
    };
    format!("{refused}{used}")
}

/// Loads a planned model with a progress bar on stderr.
pub fn load(planned: Planned) -> anyhow::Result<LoadedModel> {
    let places = LoadPlaces {
        quantized_dir: crate::paths::jslm_cache_dir().join("quantized"),
    };
    let mut bar = LoadBar::new();
    let loaded = planned.load(&places, |e| bar.update(e))?;
    bar.finish();
    if let Some(f) = &loaded.report.fallback {
        eprintln!(
            "note: running on the CPU: {} ({}) did not start: {}",
            f.device_name, f.device, f.message
        );
    }
    if let Some(vram) = &loaded.report.vram {
        eprintln!(
            "loaded: {} of VRAM in use on {} ({} in all)",
            format_gb(vram.used_bytes),
            loaded.report.device_name,
            format_gb(vram.total_bytes)
        );
    }
    Ok(loaded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Flags {
        #[command(flatten)]
        load: LoadArgs,
    }

    fn parse(args: &[String]) -> LoadArgs {
        Flags::try_parse_from(std::iter::once("jslm".to_string()).chain(args.iter().cloned()))
            .unwrap_or_else(|e| panic!("{args:?}: {e}"))
            .load
    }

    #[test]
    fn load_flags_survive_the_trip_to_a_child_process() {
        let every = LoadArgs {
            precision: Some(Precision::Q8_0),
            device: Some(DeviceKind::Cuda),
            threads: Some(3),
            context: Some(512),
            prefer_quality: true,
            force: true,
            gpu_layers: Some(7),
        };
        for args in [every.clone(), LoadArgs::default()] {
            assert_eq!(parse(&args.to_args()), args);
        }
        let precision = LoadArgs {
            precision: Some(Precision::Q4KM),
            ..Default::default()
        };
        assert_eq!(parse(&precision.to_args()), precision);
    }
}
