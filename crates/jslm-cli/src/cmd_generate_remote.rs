//! `jslm generate --remote URL`: the same request, sent to a remote OpenAI-compatible server
//! (`jslm-remote`) instead of the local engine, streamed to stdout the same way. The key comes
//! from `JSLM_REMOTE_API_KEY`; a stream that breaks off keeps what arrived and says so.

use jslm_engine::{CancelFlag, GenerationRequest};
use jslm_remote::{Remote, RemoteConfig, API_KEY_ENV};
use std::io::Write;

pub struct RemoteArgs {
    pub url: String,
    pub model: Option<String>,
    pub json: bool,
}

pub fn run(args: RemoteArgs, request: &GenerationRequest) -> anyhow::Result<()> {
    let config = RemoteConfig {
        url: args.url,
        model: args.model,
        api_key: std::env::var(API_KEY_ENV).ok().filter(|k| !k.is_empty()),
        ..Default::default()
    };
    let runtime = crate::hub_common::runtime()?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let json = args.json;
    let cancel = CancelFlag::new();
    let mut ctrl_c = None;
    let mut io_error: Option<std::io::Error> = None;
    let mut leading = true;
    let result = runtime.block_on(async {
        let remote = Remote::connect(config).await?;
        eprintln!("remote: {} at {}", remote.model(), remote.endpoint());
        // From here the first Ctrl-C stops the stream, keeping what came (while connecting
        // there is nothing to keep: it exits at once).
        ctrl_c = Some(crate::interrupt::on_ctrl_c({
            let cancel = cancel.clone();
            move || cancel.cancel()
        }));
        remote
            .generate(request, &cancel, |text| {
                let written = if json {
                    let event = serde_json::json!({"event": "token", "data": {"text": text}});
                    writeln!(out, "{event}")
                } else {
                    // The card strips the answer: hold back leading whitespace only.
                    let shown = if leading { text.trim_start() } else { text };
                    if !shown.is_empty() {
                        leading = false;
                    }
                    write!(out, "{shown}").and_then(|_| out.flush())
                };
                if let Err(e) = written {
                    io_error.get_or_insert(e);
                    cancel.cancel();
                }
            })
            .await
    });
    let result = match result {
        Ok(r) => r,
        Err(e) => {
            // A partial answer stays on stdout; end its line before the error.
            if e.partial().is_some() && !json {
                let _ = writeln!(out);
            }
            return Err(e.into());
        }
    };
    if let Some(e) = io_error {
        // A closed pipe (`| head`) ends quietly with exit 0 (crate::stdout).
        return Err(crate::stdout::error(e));
    }
    // The seed the client sent (the one given, or the one it drew): `--seed` with it repeats
    // the run.
    if json {
        let last = serde_json::json!({
            "prompt": result.prompt,
            "text": result.text,
            "stop_reason": result.stop_reason,
            "stats": result.stats,
            "remote": {"endpoint": result.endpoint, "model": result.model},
        });
        writeln!(out, "{last}").map_err(crate::stdout::error)?;
    } else {
        writeln!(out).map_err(crate::stdout::error)?;
        let s = &result.stats;
        eprintln!(
            "[{} tokens, stop: {:?}, TTFT {:.0} ms, decode {:.2} tok/s, seed {}, remote {} at {}]",
            s.generated_tokens,
            result.stop_reason,
            s.ttft_ms,
            s.decode_tokens_per_s,
            s.seed,
            result.model,
            result.endpoint
        );
    }
    // Stopped by Ctrl-C: the partial answer and its stats are out; the exit code says so.
    if ctrl_c.as_ref().is_some_and(|c| c.fired()) {
        return Err(crate::error::CliError::Interrupted.into());
    }
    Ok(())
}
