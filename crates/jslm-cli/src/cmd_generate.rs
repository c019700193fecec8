//! `jslm generate`: the model card's generation from the command line, streamed to stdout.

use crate::progress::LoadBar;
use anyhow::Context;
use jslm_engine::{CancelFlag, Engine, GenerationEvent, GenerationRequest, GenerationSettings};
use std::io::Write;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct GenerateArgs {
    /// Model: a Hugging Face folder (config.json + safetensors), a .gguf file, or a catalog
    /// id / Hugging Face repo id (`org/name`), taken from the cache or downloaded on demand.
    #[arg(long)]
    pub model: PathBuf,
    /// Revision for a repo id (branch, tag or commit; default main).
    #[arg(long)]
    pub revision: Option<String>,
    /// tokenizer.json to use (default: the one beside the weights).
    #[arg(long)]
    pub tokenizer: Option<PathBuf>,
    /// 指示: what the model should do.
    #[arg(long, conflicts_with = "instruction_file")]
    pub instruction: Option<String>,
    /// Read the instruction from a file (UTF-8).
    #[arg(long)]
    pub instruction_file: Option<PathBuf>,
    /// 入力: optional context for the instruction.
    #[arg(long, conflicts_with = "input_file")]
    pub input: Option<String>,
    /// Read the input from a file (UTF-8).
    #[arg(long)]
    pub input_file: Option<PathBuf>,
    /// Maximum number of new tokens (model card: 256).
    #[arg(long, default_value_t = 256)]
    pub max_new_tokens: usize,
    /// Sampling temperature (model card: 1.0).
    #[arg(long, default_value_t = 1.0)]
    pub temperature: f64,
    /// Nucleus sampling mass (model card: 0.95).
    #[arg(long, default_value_t = 0.95)]
    pub top_p: f64,
    /// Top-k filter (transformers' default 50; 0 disables).
    #[arg(long, default_value_t = 50)]
    pub top_k: usize,
    /// Repetition penalty (1.0 = off).
    #[arg(long, default_value_t = 1.0)]
    pub repetition_penalty: f64,
    /// Seed for reproducible sampling.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Greedy decoding (do_sample=False).
    #[arg(long)]
    pub greedy: bool,
    /// One JSON object per line: token events, then the result.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub load: LoadArgs,
}

#[derive(clap::Args, Debug)]
pub struct LoadArgs {
    /// Quantize safetensors weights in the app first (q4_k_m or q8_0); the GGUF is cached.
    #[arg(long)]
    pub quantize: Option<String>,
    /// Element type for safetensors weights: f32, bf16 or f16 (default f32 on CPU).
    #[arg(long)]
    pub dtype: Option<String>,
    /// CPU threads (default: the plan's, the physical core count).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Load even where the memory plan says the model will not fit.
    #[arg(long)]
    pub force: bool,
}

fn read_text(inline: Option<String>, file: Option<PathBuf>, what: &str) -> anyhow::Result<String> {
    match (inline, file) {
        (Some(t), _) => Ok(t),
        (None, Some(path)) => std::fs::read_to_string(&path)
            .with_context(|| format!("reading the {what} file {}", path.display())),
        (None, None) => Ok(String::new()),
    }
}

pub fn run(args: GenerateArgs) -> anyhow::Result<()> {
    let instruction = read_text(args.instruction, args.instruction_file, "instruction")?;
    let input = read_text(args.input, args.input_file, "input")?;
    let settings = GenerationSettings {
        max_new_tokens: args.max_new_tokens,
        do_sample: !args.greedy,
        temperature: args.temperature,
        top_p: args.top_p,
        top_k: Some(args.top_k),
        repetition_penalty: args.repetition_penalty,
        seed: args.seed,
    };
    let request = GenerationRequest {
        instruction,
        input,
        settings,
    };
    // Check the request before a possibly long load.
    request.settings.validate()?;
    if request.instruction.trim().is_empty() {
        anyhow::bail!(jslm_engine::EngineError::InvalidSetting {
            field: "instruction",
            message: "must not be empty: pass --instruction TEXT or --instruction-file FILE".into(),
        });
    }
    let (model, tokenizer) = resolve_model(&args.model, args.revision.as_deref(), args.tokenizer)?;
    let options = crate::plan_load::planned_load_options(&model, &args.load, tokenizer)?;
    let mut bar = LoadBar::new();
    let engine = Engine::load(&model, &options, |p| bar.update(p))?;
    bar.finish();

    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let json = args.json;
    let mut leading = true;
    let mut io_error: Option<std::io::Error> = None;
    let cancel = CancelFlag::new();
    let result = engine.generate(&request, &cancel, |event| {
        let written = if json {
            serde_json::to_writer(&mut out, event)
                .map_err(std::io::Error::other)
                .and_then(|_| writeln!(out))
        } else if let GenerationEvent::Token { text, .. } = event {
            // The card strips the answer: hold back leading whitespace only.
            let shown = if leading {
                text.trim_start()
            } else {
                text.as_str()
            };
            if !shown.is_empty() {
                leading = false;
            }
            write!(out, "{shown}").and_then(|_| out.flush())
        } else {
            Ok(())
        };
        if let Err(e) = written {
            // A closed pipe (e.g. `| head`) stops the generation instead of panicking.
            io_error.get_or_insert(e);
            cancel.cancel();
        }
    })?;
    if let Some(e) = io_error {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            return Ok(());
        }
        return Err(e).context("writing to stdout");
    }
    if json {
        let last = serde_json::json!({
            "prompt": result.prompt,
            "prompt_token_ids": result.prompt_token_ids,
            "generated_token_ids": result.generated_token_ids,
            "text": result.text,
            "stop_reason": result.stop_reason,
            "stats": result.stats,
            "model": engine.info(),
        });
        writeln!(out, "{last}")?;
    } else {
        writeln!(out)?;
        let s = &result.stats;
        eprintln!(
            "[{} tokens, stop: {:?}, TTFT {:.0} ms, prompt {:.1} tok/s, decode {:.2} tok/s, seed {}]",
            s.generated_tokens, result.stop_reason, s.ttft_ms, s.prompt_tokens_per_s, s.decode_tokens_per_s, s.seed
        );
    }
    Ok(())
}

/// A path is used as it is; anything else that looks like a model id (`org/name` or a catalog
/// id) comes from the Hugging Face cache, downloaded first when missing. For a GGUF repo the
/// tokenizer comes from the companion download (the official repo).
fn resolve_model(
    model: &std::path::Path,
    revision: Option<&str>,
    tokenizer: Option<PathBuf>,
) -> anyhow::Result<(PathBuf, Option<PathBuf>)> {
    let text = model.to_string_lossy();
    let looks_like_id = !model.exists()
        && !text.starts_with('/')
        && !text.starts_with('.')
        && !text.ends_with(".gguf")
        && text.split('/').count() <= 2;
    if !looks_like_id {
        return Ok((model.to_path_buf(), tokenizer));
    }
    let downloaded = crate::cmd_download::ensure_model(&text, revision)?;
    let gguf = downloaded
        .files
        .iter()
        .map(|f| downloaded.snapshot_dir.join(&f.path))
        .find(|p| p.extension().is_some_and(|e| e == "gguf"));
    let weights = gguf.unwrap_or_else(|| downloaded.snapshot_dir.clone());
    let tokenizer = tokenizer.or_else(|| {
        std::iter::once(&downloaded.snapshot_dir)
            .chain(downloaded.companions.iter().map(|c| &c.snapshot_dir))
            .map(|d| d.join("tokenizer.json"))
            .find(|p| p.is_file())
    });
    Ok((weights, tokenizer))
}
