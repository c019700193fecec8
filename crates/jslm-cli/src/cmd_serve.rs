//! `jslm serve`: the model behind an OpenAI-compatible HTTP API (`jslm-server`), loaded by the
//! same road and flags as `jslm generate`. Loopback only unless an API key is given; the key
//! comes from `--api-key` or, kept out of the process list, the `JSLM_API_KEY` variable.

use crate::load::LoadArgs;
use jslm_runtime::{BackgroundPrefill, ModelRef};
use jslm_server::{ApiKey, Gate, ServedModel, Server, ServerConfig};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Model: a Hugging Face folder, a .gguf file, or a catalog id / repo id (downloaded on
    /// demand), as for `jslm generate`.
    #[arg(long)]
    pub model: String,
    /// Revision for a repo id (branch, tag or commit; default main).
    #[arg(long)]
    pub revision: Option<String>,
    /// tokenizer.json to use (default: the one beside the weights).
    #[arg(long, value_parser = crate::paths::user_path())]
    pub tokenizer: Option<PathBuf>,
    /// Address to listen on. Anything but loopback needs an API key.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: IpAddr,
    /// Port to listen on (0: any free port; the URL is printed).
    #[arg(long, default_value_t = jslm_server::DEFAULT_PORT)]
    pub port: u16,
    /// Key clients must send as `Authorization: Bearer KEY` (default: $JSLM_API_KEY; none on
    /// loopback).
    #[arg(long, value_name = "KEY")]
    pub api_key: Option<String>,
    /// Let web pages from this origin call the server (CORS), e.g. http://localhost:3000.
    /// Repeatable. Default: no CORS.
    #[arg(long = "cors-origin", value_name = "ORIGIN")]
    pub cors_origins: Vec<String>,
    /// Requests that may wait while one generates; more get 429 with Retry-After.
    #[arg(long, default_value_t = jslm_server::DEFAULT_MAX_WAITING)]
    pub max_waiting: usize,
    /// The model's name in the API (default: the --model id, or a path's file/folder name).
    #[arg(long, value_name = "NAME")]
    pub served_name: Option<String>,
    #[command(flatten)]
    pub load: LoadArgs,
}

/// The name clients call the model by: never a path (responses must not reveal files).
pub fn served_name(model: &str) -> String {
    match ModelRef::parse(model) {
        ModelRef::Path(path) => {
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
            name.map(|n| n.strip_suffix(".gguf").map(str::to_string).unwrap_or(n))
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| "local".to_string())
        }
        ModelRef::Hub { id, .. } => id,
    }
}

pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let key = args
        .api_key
        .clone()
        .or_else(|| std::env::var("JSLM_API_KEY").ok().filter(|k| !k.is_empty()));
    let config = ServerConfig {
        host: args.host,
        port: args.port,
        api_key: key.map(ApiKey::new).transpose()?,
        cors_origins: args.cors_origins.clone(),
        ..Default::default()
    };
    // Refuse an unsafe address before a possibly long load.
    config.check()?;
    let name = args
        .served_name
        .clone()
        .unwrap_or_else(|| served_name(&args.model));
    let source = crate::load::resolve(&args.model, args.revision, args.tokenizer)?;
    let loaded = Arc::new(crate::load::load(crate::load::plan(source, &args.load)?)?);
    crate::hub_common::init_logging();
    // The first request then runs only from its instruction on; one that comes sooner waits
    // for the warm-up's pass. Nothing replaces the model, so the handle is not kept.
    BackgroundPrefill::warm_up(loaded.clone(), |warmed| match warmed {
        Ok(w) => tracing::info!(
            tokens = w.tokens,
            seconds = w.seconds,
            "prompt cache warmed"
        ),
        Err(e) => tracing::warn!(code = %e.code(), "the prompt warm-up failed: {e}"),
    })?;
    let model = ServedModel::new(loaded, name, Gate::new(args.max_waiting));
    // Ctrl-C shuts the server down (running and waiting requests get 503); a second one, or
    // one during the load above, exits at once (crate::interrupt).
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let _ctrl_c = crate::interrupt::on_ctrl_c(move || {
        let _ = stop.send(());
    });
    let runtime = crate::hub_common::runtime()?;
    runtime.block_on(async move {
        let server = Server::bind(model.clone(), &config).await?;
        eprintln!(
            "serving {:?} at {} (OpenAI API; Ctrl-C stops){}",
            model.id(),
            server.base_url(),
            if config.api_key.is_some() {
                ", API key required"
            } else {
                ""
            }
        );
        server
            .run(async {
                let _ = stopped.await;
            })
            .await?;
        let s = model.stats();
        eprintln!(
            "stopped: {} generations finished, {} cancelled, {} failed, {} refused (queue full)",
            s.finished, s.cancelled, s.failed, s.refused
        );
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn served_names_are_ids_or_file_names_never_paths() {
        assert_eq!(served_name("jslm-gamma-7b"), "jslm-gamma-7b");
        assert_eq!(served_name("org/name"), "org/name");
        assert_eq!(
            served_name("/models/gamma/model-q4_k_m.gguf"),
            "model-q4_k_m"
        );
        assert_eq!(served_name("./tests/fixtures/tiny-mistral"), "tiny-mistral");
        assert_eq!(served_name("/"), "local");
    }
}
