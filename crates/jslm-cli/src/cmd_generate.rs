//! `jslm generate`: the model card's generation from the command line, streamed to stdout.

use crate::load::LoadArgs;
use jslm_engine::settings::CARD_DEFAULTS;
use jslm_engine::{CancelFlag, GenerationEvent, GenerationRequest, GenerationSettings};
use std::io::Write;
use std::path::PathBuf;

/// The flags (clap ids) that pick or load a local model: meaningless with `--remote`.
const LOCAL_ONLY: [&str; 10] = [
    "model",
    "revision",
    "tokenizer",
    "precision",
    "device",
    "threads",
    "context",
    "prefer_quality",
    "force",
    "gpu_layers",
];

#[derive(clap::Args, Debug)]
pub struct GenerateArgs {
    /// Model: a Hugging Face folder (config.json + safetensors), a .gguf file, or a catalog
    /// id / Hugging Face repo id (`org/name`), taken from the cache or downloaded on demand.
    #[arg(long, required_unless_present = "remote")]
    pub model: Option<String>,
    /// Send the card's prompt to a remote OpenAI-compatible server (its base URL, e.g.
    /// http://gpu-box:8000/v1) instead of loading the model here. API key: $JSLM_REMOTE_API_KEY.
    /// Every flag that picks or loads a local model is refused with it rather than ignored
    /// (a test checks that the list holds each of `LoadArgs`).
    #[arg(long, value_name = "URL", conflicts_with_all = LOCAL_ONLY)]
    pub remote: Option<String>,
    /// The model name to ask the remote server for (default: the first it lists).
    #[arg(long, value_name = "NAME", requires = "remote")]
    pub remote_model: Option<String>,
    /// Revision for a repo id (branch, tag or commit; default main).
    #[arg(long)]
    pub revision: Option<String>,
    /// tokenizer.json to use (default: the one beside the weights).
    #[arg(long, value_parser = crate::paths::user_path())]
    pub tokenizer: Option<PathBuf>,
    /// 指示: what the model should do.
    #[arg(long, conflicts_with = "instruction_file")]
    pub instruction: Option<String>,
    /// Read the instruction from a file (UTF-8), as `$(cat FILE)` gives it: no BOM, LF line
    /// ends, no trailing newline.
    #[arg(long, value_parser = crate::paths::user_path())]
    pub instruction_file: Option<PathBuf>,
    /// 入力: optional context for the instruction.
    #[arg(long, conflicts_with = "input_file")]
    pub input: Option<String>,
    /// Read the input from a file (UTF-8), as --instruction-file does; only whitespace: no
    /// input.
    #[arg(long, value_parser = crate::paths::user_path())]
    pub input_file: Option<PathBuf>,
    /// Maximum number of new tokens (the model card's default).
    #[arg(long, default_value_t = CARD_DEFAULTS.max_new_tokens)]
    pub max_new_tokens: usize,
    /// Sampling temperature (the model card's default; 0 = greedy).
    #[arg(long, default_value_t = CARD_DEFAULTS.temperature)]
    pub temperature: f64,
    /// Nucleus sampling mass (the model card's default).
    #[arg(long, default_value_t = CARD_DEFAULTS.top_p)]
    pub top_p: f64,
    /// Top-k filter (transformers' default; 0 disables).
    #[arg(long, default_value_t = CARD_DEFAULTS.top_k)]
    pub top_k: usize,
    /// Repetition penalty (1.0 = off).
    #[arg(long, default_value_t = CARD_DEFAULTS.repetition_penalty)]
    pub repetition_penalty: f64,
    /// Seed for reproducible sampling.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Greedy decoding (do_sample=False).
    #[arg(long)]
    pub greedy: bool,
    /// One JSON object per line: token events, then the result with what ran (`run`).
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub load: LoadArgs,
}

/// The text of a flag or of its file (as `$(cat FILE)` gives it: `crate::text_file`).
fn read_text(
    inline: Option<String>,
    file: Option<PathBuf>,
    what: &'static str,
) -> anyhow::Result<String> {
    match (inline, file) {
        (Some(t), _) => Ok(t),
        (None, Some(path)) => Ok(crate::text_file::read(&path, what)?),
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
        top_k: args.top_k,
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
    let Some(model) = args.model else {
        let remote = crate::cmd_generate_remote::RemoteArgs {
            url: args.remote.unwrap_or_default(),
            model: args.remote_model,
            json: args.json,
        };
        return crate::cmd_generate_remote::run(remote, &request);
    };
    let source = crate::load::resolve(&model, args.revision, args.tokenizer)?;
    let loaded = crate::load::load(crate::load::plan(source, &args.load)?)?;
    let engine = &loaded.engine;

    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let json = args.json;
    let mut leading = true;
    let mut io_error: Option<std::io::Error> = None;
    let cancel = CancelFlag::new();
    let ctrl_c = crate::interrupt::on_ctrl_c({
        let cancel = cancel.clone();
        move || cancel.cancel()
    });
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
        // A closed pipe (`| head`) ends quietly with exit 0 (crate::stdout).
        return Err(crate::stdout::error(e));
    }
    if json {
        let last = serde_json::json!({
            "prompt": result.prompt,
            "prompt_token_ids": result.prompt_token_ids,
            "generated_token_ids": result.generated_token_ids,
            "text": result.text,
            "stop_reason": result.stop_reason,
            "stats": result.stats,
            "run": loaded.report,
        });
        writeln!(out, "{last}").map_err(crate::stdout::error)?;
    } else {
        writeln!(out).map_err(crate::stdout::error)?;
        let s = &result.stats;
        eprintln!(
            "[{} tokens, stop: {:?}, TTFT {:.0} ms, prompt {:.1} tok/s, decode {:.2} tok/s, seed {}]",
            s.generated_tokens, result.stop_reason, s.ttft_ms, s.prompt_tokens_per_s, s.decode_tokens_per_s, s.seed
        );
    }
    // Stopped by Ctrl-C: the partial answer and its stats are out; the exit code says so.
    if ctrl_c.fired() {
        return Err(crate::error::CliError::Interrupted.into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{Args, Parser};

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        generate: GenerateArgs,
    }

    #[test]
    fn every_local_flag_is_refused_with_remote() {
        let load = LoadArgs::augment_args(clap::Command::new("load"));
        let ids: Vec<&str> = load.get_arguments().map(|a| a.get_id().as_str()).collect();
        for id in ids.iter().chain(&["model", "revision", "tokenizer"]) {
            assert!(LOCAL_ONLY.contains(id), "{id} is not in LOCAL_ONLY");
            let long = format!("--{}", id.replace('_', "-"));
            let mut argv = vec!["jslm", "--remote", "http://h/v1", "--instruction", "x"];
            argv.push(&long);
            let takes_value = load
                .get_arguments()
                .find(|a| a.get_id() == *id)
                .is_none_or(|a| a.get_action().takes_values());
            if takes_value {
                argv.push(match *id {
                    "precision" => "q8_0",
                    "device" => "cpu",
                    _ => "1",
                });
            }
            let err = Cli::try_parse_from(&argv).err();
            assert_eq!(
                err.map(|e| e.kind()),
                Some(clap::error::ErrorKind::ArgumentConflict),
                "{argv:?}"
            );
        }
        assert!(Cli::try_parse_from(["jslm", "--remote", "u", "--seed", "1"]).is_ok());
    }
}
