//! The app's side of `jslm-hub`: the hub configuration, the token store, and the downloads
//! running now (at most one per catalog model), each with its cancellation token.
//!
//! The token never leaves the backend: the webview learns whether one is set, where it comes
//! from, and the account name.

use crate::error::{AppError, AppResult};
use jslm_hub::{
    CancellationToken, CatalogEntry, DownloadManager, DownloadRequest, HfCache, HfToken, HubClient,
    HubConfig, TokenSource, TokenStore,
};
use serde::Serialize;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

/// What the webview may know about the token.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TokenStatus {
    pub set: bool,
    pub source: Option<TokenSource>,
    /// The account name, when the hub was asked (`set_token`).
    pub account: Option<String>,
}

/// A running download.
#[derive(Debug, Clone)]
struct Running {
    cancel: CancellationToken,
    /// Cancel was meant to discard the partial files, not to pause.
    discard: bool,
}

#[derive(Debug)]
pub struct HubState {
    config: HubConfig,
    tokens: TokenStore,
    running: Arc<Mutex<HashMap<String, Running>>>,
}

/// Held while a download runs; dropping it frees the model for another download.
#[derive(Debug)]
pub struct DownloadTicket {
    running: Arc<Mutex<HashMap<String, Running>>>,
    pub id: String,
    pub cancel: CancellationToken,
}

impl Drop for DownloadTicket {
    fn drop(&mut self) {
        lock(&self.running).remove(&self.id);
    }
}

impl DownloadTicket {
    /// Whether the download was cancelled to discard its files (not paused).
    pub fn discard(&self) -> bool {
        lock(&self.running).get(&self.id).is_some_and(|r| r.discard)
    }
}

impl HubState {
    /// Configuration and token store from the environment (`HF_ENDPOINT`, `HF_HOME`,
    /// `HF_TOKEN`, `JSLM_KEYCHAIN`, ...), as the CLI uses them.
    pub fn from_env() -> Self {
        let config = HubConfig::from_env();
        let tokens = TokenStore::from_env(&config);
        Self::new(config, tokens)
    }

    pub fn new(config: HubConfig, tokens: TokenStore) -> Self {
        Self {
            config,
            tokens,
            running: Arc::default(),
        }
    }

    pub fn cache(&self) -> HfCache {
        HfCache::new(self.config.cache_dir.clone())
    }

    /// Whether secrets go to the OS keychain (`JSLM_KEYCHAIN=off`: only 0600 files).
    pub fn uses_keychain(&self) -> bool {
        self.tokens.uses_keychain()
    }

    pub fn cache_dir(&self) -> PathBuf {
        self.config.cache_dir.clone()
    }

    /// A download manager with the stored token.
    pub fn manager(&self) -> AppResult<DownloadManager> {
        let token = self.tokens.find()?;
        Ok(DownloadManager::new(HubClient::new(
            self.config.clone(),
            token,
        )?))
    }

    /// `https://huggingface.co/<repo>` (or the configured endpoint's), for a catalog model.
    pub fn model_page(&self, entry: &CatalogEntry) -> String {
        self.config.model_url(&entry.repo)
    }

    pub fn is_downloading(&self, id: &str) -> bool {
        lock(&self.running).contains_key(id)
    }

    /// Registers a download of `id`; refused while one runs.
    pub fn begin_download(&self, id: &str) -> AppResult<DownloadTicket> {
        let mut running = lock(&self.running);
        if running.contains_key(id) {
            return Err(AppError::Downloading(id.to_string()));
        }
        let cancel = CancellationToken::new();
        running.insert(
            id.to_string(),
            Running {
                cancel: cancel.clone(),
                discard: false,
            },
        );
        Ok(DownloadTicket {
            running: self.running.clone(),
            id: id.to_string(),
            cancel,
        })
    }

    /// Stops the download of `id`, keeping (`discard` false: pause) or deleting its partial
    /// files. False when none runs.
    pub fn stop_download(&self, id: &str, discard: bool) -> bool {
        match lock(&self.running).get_mut(id) {
            Some(r) => {
                r.discard |= discard;
                r.cancel.cancel();
                true
            }
            None => false,
        }
    }

    /// Stops every download (the app is closing); partial files are kept for the next start.
    pub fn stop_all(&self) {
        for r in lock(&self.running).values() {
            r.cancel.cancel();
        }
    }

    /// The token status without asking the hub.
    pub fn token_status(&self) -> AppResult<TokenStatus> {
        let token = self.tokens.find()?;
        Ok(TokenStatus {
            set: token.is_some(),
            source: token.map(|t| t.source()),
            account: None,
        })
    }

    /// Checks `secret` against the hub and saves it only when the hub accepts it.
    pub async fn set_token(&self, secret: &str) -> AppResult<TokenStatus> {
        let Some(token) = HfToken::new(secret.trim(), TokenSource::Explicit) else {
            return Err(jslm_hub::HubError::InvalidRequest {
                message: "the token is empty".into(),
            }
            .into());
        };
        let who = HubClient::new(self.config.clone(), Some(token.clone()))?
            .whoami()
            .await?;
        let saved = self.tokens.save(&token)?;
        // The status tells the token requests use: `HF_TOKEN`, when set, wins over the saved
        // one (then the account checked above is not the one in use).
        let used = self.tokens.find()?.map(|t| t.source());
        Ok(TokenStatus {
            set: true,
            source: used.or(Some(saved)),
            account: (used == Some(saved)).then_some(who.name),
        })
    }

    /// Removes the token from the app's store; `HF_TOKEN` or huggingface_hub's file may still
    /// provide one (the returned status says so).
    pub fn clear_token(&self) -> AppResult<TokenStatus> {
        self.tokens.delete()?;
        self.token_status()
    }
}

/// The catalog entry `id` (a catalog id or its repo id).
pub fn entry(id: &str) -> AppResult<&'static CatalogEntry> {
    Ok(jslm_runtime::catalog::entry(id)?)
}

/// The request for a catalog model, with a GGUF variant when given.
pub fn request(entry: &CatalogEntry, variant: Option<&str>) -> DownloadRequest {
    DownloadRequest {
        model: entry.id.clone(),
        revision: None,
        files: variant.map(|v| vec![v.to_string()]).unwrap_or_default(),
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Plain map updates; a panic elsewhere cannot leave one half-done.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(dir: &std::path::Path) -> HubState {
        let config = HubConfig::with_endpoint_and_cache("http://127.0.0.1:9", dir.join("hub"));
        let tokens = TokenStore::new(None, dir.join("hf-token"), dir.join("app-token"), false);
        HubState::new(config, tokens)
    }

    #[test]
    fn one_download_per_model_and_pause_versus_cancel() {
        let dir = tempfile::tempdir().unwrap();
        let hub = state(dir.path());
        let ticket = hub.begin_download("jslm-gamma-7b").unwrap();
        assert!(hub.is_downloading("jslm-gamma-7b"));
        assert_eq!(
            hub.begin_download("jslm-gamma-7b").unwrap_err().code(),
            "downloading"
        );
        assert!(hub.begin_download("jslm-gamma-7b-gguf").is_ok());
        assert!(hub.stop_download("jslm-gamma-7b", false));
        assert!(ticket.cancel.is_cancelled());
        assert!(!ticket.discard(), "pause keeps the partial files");
        assert!(hub.stop_download("jslm-gamma-7b", true));
        assert!(ticket.discard());
        drop(ticket);
        assert!(!hub.is_downloading("jslm-gamma-7b"));
        assert!(!hub.stop_download("jslm-gamma-7b", false));
    }

    #[test]
    fn token_status_without_a_token_and_an_empty_token_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let hub = state(dir.path());
        assert_eq!(
            hub.token_status().unwrap(),
            TokenStatus {
                set: false,
                source: None,
                account: None
            }
        );
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let err = rt.block_on(hub.set_token("   ")).unwrap_err();
        assert_eq!(err.code(), "invalid_request");
    }

    #[test]
    fn catalog_lookup() {
        assert_eq!(
            entry("jslm-gamma-7b").unwrap().repo,
            "stabilityai/japanese-stablelm-instruct-gamma-7b"
        );
        assert_eq!(
            entry("stabilityai/japanese-stablelm-instruct-gamma-7b")
                .unwrap()
                .id,
            "jslm-gamma-7b"
        );
        assert_eq!(entry("nope").unwrap_err().code(), "unknown_model");
        let r = request(entry("jslm-gamma-7b-gguf").unwrap(), Some("Q8_0"));
        assert_eq!(r.files, vec!["Q8_0".to_string()]);
    }
}
