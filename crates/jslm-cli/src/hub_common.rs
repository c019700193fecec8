//! What the hub subcommands share: configuration from the environment, the token, a tokio
//! runtime and logging to stderr (`JSLM_LOG`, default `warn`). (Ctrl-C: `crate::interrupt`.)

use anyhow::Context;
use jslm_hub::{DownloadManager, HubClient, HubConfig, TokenStore};

/// Configuration from the environment (`HF_ENDPOINT`, `HF_HOME`, `HF_HUB_CACHE`, ...).
pub fn config() -> HubConfig {
    HubConfig::from_env()
}

/// The token store for this environment.
pub fn token_store(config: &HubConfig) -> TokenStore {
    TokenStore::from_env(config)
}

/// A download manager with the stored token (if any).
pub fn manager() -> anyhow::Result<DownloadManager> {
    let config = config();
    let token = token_store(&config).find()?;
    Ok(DownloadManager::new(HubClient::new(config, token)?))
}

/// Logs to stderr, filtered by `JSLM_LOG` (e.g. `debug`, `jslm_hub=trace`). Default: warnings.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("JSLM_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // No color codes in a log redirected to a file or read by another program.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

/// A multi-threaded runtime for one command.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}
