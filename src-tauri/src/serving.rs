//! The window's "serve the loaded model" switch: `jslm-server` over the engine the window has
//! loaded — the same `Arc`, never a second copy — behind the one [`Gate`] that the window's
//! own generations also wait at, so a Generate pressed while a client streams waits its turn
//! (and a client waits for the window's run) instead of failing or running concurrently.
//!
//! Decisions (README, "The window's serve switch"):
//! - The switch is off at every start: a listening socket only opens when the user turns it on
//!   in this session. Host and port are remembered (`settings.serve`), the key is in the
//!   keychain ([`crate::keys`]).
//! - Loading another model stops serving *before* the old model is released (running server
//!   generations end within one token with a 503, so two models are never held at once), and
//!   serving starts again on the new model with the same address and key once it has loaded.
//!   A path that is not a model is refused before any of this (the model keeps serving). If
//!   the load fails midway, or the address cannot be bound again, the switch is off and
//!   [`ServeStatus::error`] says why.
//! - Changing the server's key while serving restarts the server with the new key.

use crate::error::{AppError, AppResult};
use crate::host::LoadedModel;
use crate::model_summary::ModelSummary;
use jslm_engine::CancelFlag;
use jslm_server::{Gate, ServedModel, Server, ServerConfig, DEFAULT_MAX_WAITING};
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{oneshot, Mutex};

/// How long stopping waits for connections to close before it lets them go.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// What the serve panel shows.
#[derive(Debug, Serialize)]
pub struct ServeStatus {
    pub serving: bool,
    /// `http://127.0.0.1:8642/v1` while serving.
    pub url: Option<String>,
    /// The name clients use for the model (never a path).
    pub model: Option<String>,
    /// What the server did since it was turned on.
    pub requests: Requests,
    /// Why serving stopped by itself (it could not start again after a model change), as
    /// commands report errors (`{ code, message, ... }`).
    pub error: Option<serde_json::Value>,
}

/// Counters of the current server.
#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct Requests {
    pub finished: u64,
    pub cancelled: u64,
    pub failed: u64,
    /// Answered 429 (the queue was full).
    pub refused: u64,
    pub completion_tokens: u64,
}

#[derive(Debug)]
struct Running {
    model: ServedModel,
    url: String,
    config: ServerConfig,
    shutdown: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Debug, Default)]
struct Inner {
    running: Option<Running>,
    /// Serving paused for a model change: set by [`Serving::suspend`], taken by
    /// [`Serving::resume`]; a stop or start meanwhile clears it, so the user's later choice
    /// wins over the server that ran before the load.
    suspended: Option<ServerConfig>,
    error: Option<AppError>,
}

#[derive(Debug)]
pub struct Serving {
    gate: Arc<Gate>,
    inner: Mutex<Inner>,
}

impl Default for Serving {
    fn default() -> Self {
        Self {
            gate: Gate::new(DEFAULT_MAX_WAITING),
            inner: Mutex::default(),
        }
    }
}

impl Serving {
    pub fn new() -> Self {
        Self::default()
    }

    /// The queue in front of the loaded engine: the window's generations take a turn here.
    pub fn gate(&self) -> Arc<Gate> {
        self.gate.clone()
    }

    pub async fn status(&self) -> ServeStatus {
        let inner = self.inner.lock().await;
        let running = inner.running.as_ref();
        let requests = running.map_or_else(Requests::default, |r| {
            let s = r.model.stats();
            Requests {
                finished: s.finished,
                cancelled: s.cancelled,
                failed: s.failed,
                refused: s.refused,
                completion_tokens: s.completion_tokens,
            }
        });
        ServeStatus {
            serving: running.is_some(),
            url: running.map(|r| r.url.clone()),
            model: running.map(|r| r.model.id().to_string()),
            requests,
            error: inner
                .error
                .as_ref()
                .and_then(|e| serde_json::to_value(e).ok()),
        }
    }

    /// Serves `model` as `config` says, replacing a server already running. Refused (with
    /// nothing listening) for a non-loopback address without a key, or a port that is taken.
    pub async fn start(&self, model: Arc<LoadedModel>, config: ServerConfig) -> AppResult<()> {
        let mut inner = self.inner.lock().await;
        inner.error = None;
        inner.suspended = None;
        if let Some(old) = inner.running.take() {
            stop(old).await;
        }
        inner.running = Some(self.bind(model, config).await?);
        Ok(())
    }

    async fn bind(&self, model: Arc<LoadedModel>, config: ServerConfig) -> AppResult<Running> {
        let name = served_name(&model.summary);
        let served = ServedModel::new(model, name, self.gate.clone());
        let server = Server::bind(served.clone(), &config).await?;
        let url = server.base_url();
        let (shutdown, signal) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let stopped = server
                .run(async {
                    let _ = signal.await;
                })
                .await;
            if let Err(e) = stopped {
                eprintln!("jslm-desktop: the local server stopped: {e}");
            }
        });
        Ok(Running {
            model: served,
            url,
            config,
            shutdown,
            task,
        })
    }

    /// Turns serving off (also one paused for a model change: it does not come back); false
    /// when it was off.
    pub async fn stop(&self) -> bool {
        let mut inner = self.inner.lock().await;
        inner.error = None;
        let was_suspended = inner.suspended.take().is_some();
        match inner.running.take() {
            Some(running) => {
                stop(running).await;
                true
            }
            None => was_suspended,
        }
    }

    /// Stops serving before the model is released, to [`Serving::resume`] once the next model
    /// is loaded; false when it was off.
    pub async fn suspend(&self) -> bool {
        let mut inner = self.inner.lock().await;
        let Some(running) = inner.running.take() else {
            return false;
        };
        inner.suspended = Some(running.config.clone());
        stop(running).await;
        true
    }

    /// Serves again after a model change (`model`: the new one, `None` when the load failed),
    /// unless serving was stopped or started anew meanwhile. `current` brings the paused
    /// configuration up to date (the key and address the user set during the load); a
    /// failure is kept for [`Serving::status`].
    pub async fn resume(
        &self,
        model: Option<Arc<LoadedModel>>,
        current: impl FnOnce(&mut ServerConfig) -> AppResult<()>,
    ) {
        let mut inner = self.inner.lock().await;
        let Some(mut config) = inner.suspended.take() else {
            return;
        };
        let result = match model {
            Some(model) => match current(&mut config) {
                Ok(()) => self.bind(model, config).await,
                Err(e) => Err(e),
            },
            None => Err(AppError::NothingToServe),
        };
        match result {
            Ok(running) => {
                inner.running = Some(running);
                inner.error = None;
            }
            Err(e) => inner.error = Some(e),
        }
    }

    /// The configuration being served (to restart it with another key).
    pub async fn config(&self) -> Option<ServerConfig> {
        let inner = self.inner.lock().await;
        inner.running.as_ref().map(|r| r.config.clone())
    }

    /// The app is closing: stops every server generation now, without waiting.
    pub fn close_now(&self) {
        if let Ok(inner) = self.inner.try_lock() {
            if let Some(r) = &inner.running {
                r.model.close();
            }
        }
    }
}

/// Ends a server: its generations stop within one token (clients get 503), it stops
/// accepting, and its connections get [`STOP_GRACE`] to close.
async fn stop(running: Running) {
    running.model.close();
    let _ = running.shutdown.send(());
    let mut task = running.task;
    if tokio::time::timeout(STOP_GRACE, &mut task).await.is_err() {
        task.abort();
    }
}

/// Resolves once `flag` is set (checked every 20 ms): a window generation waiting for its
/// turn gives up its place when the user presses Stop.
pub async fn cancelled(flag: &CancelFlag) {
    while !flag.is_cancelled() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The name clients call the model by: its Hugging Face repo, else its file or folder name
/// (without `.gguf`) — never a path, as `jslm serve` names it.
pub fn served_name(summary: &ModelSummary) -> String {
    if let Some(repo) = &summary.repo {
        return repo.clone();
    }
    let name = summary
        .path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = name.strip_suffix(".gguf").unwrap_or(&name).to_string();
    if name.is_empty() {
        "local".into()
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn served_names_are_never_paths() {
        let mut s = ModelSummary::for_tests("/home/me/models/tiny-mistral");
        assert_eq!(served_name(&s), "tiny-mistral");
        s.path = "/m/model-q4_k_m.gguf".into();
        assert_eq!(served_name(&s), "model-q4_k_m");
        s.repo = Some("stabilityai/japanese-stablelm-instruct-gamma-7b".into());
        assert_eq!(
            served_name(&s),
            "stabilityai/japanese-stablelm-instruct-gamma-7b"
        );
        s.repo = None;
        s.path = "/".into();
        assert_eq!(served_name(&s), "local");
    }
}
