//! The one model a server serves: the engine (shared, e.g. with the window that loaded it),
//! the name clients call it by, its queue ([`Gate`]) and counters of what it did.
//!
//! A front end that shares the engine (the window) [`ServedModel::close`]s it before it
//! releases or replaces the model: a running generation stops within one token (or, in its
//! prompt, one block of one pass) and waiting or new requests get 503, so nothing of the
//! server keeps the old engine busy.
//!
//! Closing is a [`watch`] value rather than a flag alone: a request waiting in the queue is
//! asleep on its turn and would learn of the close only when the engine came free (the
//! generation holding it may run for minutes, or the window may hold it); it waits on
//! [`ServedModel::closed`] too and answers 503 at once.

use crate::gate::Gate;
use jslm_engine::{CancelFlag, Engine};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// A loaded engine under a name, behind a queue.
#[derive(Clone)]
pub struct ServedModel {
    engine: Arc<dyn AsRef<Engine> + Send + Sync>,
    id: String,
    gate: Arc<Gate>,
    stats: Arc<Counters>,
    /// Unix seconds when serving began (`/v1/models`' `created`).
    created: u64,
    /// `true` once [`ServedModel::close`] was called; its receivers wake the waiting requests.
    closed: Arc<watch::Sender<bool>>,
    /// The cancel flag of the generation on the engine, which `close` sets too (the engine
    /// asks it during the prompt, where no token comes to look at `closed`).
    running: Arc<Mutex<Option<CancelFlag>>>,
}

impl std::fmt::Debug for ServedModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServedModel").field("id", &self.id).finish()
    }
}

/// What the server did, since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Generations that ran to their end (EOS, a stop string or max_tokens).
    pub finished: u64,
    /// Generations stopped because their client went away.
    pub cancelled: u64,
    /// Generations the engine failed.
    pub failed: u64,
    /// Requests answered 429.
    pub refused: u64,
    /// Tokens generated, by every generation.
    pub completion_tokens: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    finished: AtomicU64,
    cancelled: AtomicU64,
    failed: AtomicU64,
    refused: AtomicU64,
    completion_tokens: AtomicU64,
}

/// How one generation ended, for the counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ended {
    Finished,
    Cancelled,
    Failed,
}

impl Counters {
    pub(crate) fn record(&self, ended: Ended, tokens: usize) {
        let counter = match ended {
            Ended::Finished => &self.finished,
            Ended::Cancelled => &self.cancelled,
            Ended::Failed => &self.failed,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        self.completion_tokens
            .fetch_add(tokens as u64, Ordering::Relaxed);
    }

    pub(crate) fn refused(&self) {
        self.refused.fetch_add(1, Ordering::Relaxed);
    }
}

impl ServedModel {
    /// Serves `engine` as `id` (what `/v1/models` lists and requests' `model` must name, if
    /// they name one) behind `gate`.
    pub fn new(
        engine: Arc<dyn AsRef<Engine> + Send + Sync>,
        id: impl Into<String>,
        gate: Arc<Gate>,
    ) -> Self {
        let created = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Self {
            engine,
            id: id.into(),
            gate,
            stats: Arc::default(),
            created,
            closed: Arc::new(watch::Sender::new(false)),
            running: Arc::default(),
        }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn engine(&self) -> &Engine {
        (*self.engine).as_ref()
    }

    pub fn gate(&self) -> &Arc<Gate> {
        &self.gate
    }

    /// Stops serving this engine: the running generation of the server ends within one
    /// token or one block of its prompt (its client gets a 503 error), and waiting and new
    /// requests get 503.
    pub fn close(&self) {
        self.closed.send_replace(true);
        if let Some(cancel) = &*self.running.lock().unwrap_or_else(|e| e.into_inner()) {
            cancel.cancel();
        }
    }

    /// Runs `f`, the generation of `cancel`, with `cancel` set by a [`Self::close`] meanwhile;
    /// `None` without running it when the model is closed already.
    pub(crate) fn running<R>(&self, cancel: &CancelFlag, f: impl FnOnce() -> R) -> Option<R> {
        let slot = || self.running.lock().unwrap_or_else(|e| e.into_inner());
        *slot() = Some(cancel.clone());
        // After the flag is in its slot: a close from now on reaches it.
        let out = (!self.is_closed()).then(f);
        *slot() = None;
        out
    }

    pub fn is_closed(&self) -> bool {
        *self.closed.borrow()
    }

    /// Completes once the model is closed (at once if it is already).
    pub async fn closed(&self) {
        let mut closed = self.closed.subscribe();
        // The sender lives as long as `self`, so this ends only with a close.
        let _ = closed.wait_for(|&c| c).await;
    }

    pub fn created(&self) -> u64 {
        self.created
    }

    pub(crate) fn counters(&self) -> &Arc<Counters> {
        &self.stats
    }

    pub fn stats(&self) -> Stats {
        let s = &self.stats;
        Stats {
            finished: s.finished.load(Ordering::Relaxed),
            cancelled: s.cancelled.load(Ordering::Relaxed),
            failed: s.failed.load(Ordering::Relaxed),
            refused: s.refused.load(Ordering::Relaxed),
            completion_tokens: s.completion_tokens.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> ServedModel {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/tiny-mistral");
        let engine = Engine::load(&path, &Default::default(), |_| {}).unwrap();
        ServedModel::new(Arc::new(engine), "tiny", Gate::new(1))
    }

    /// A close reaches the generation on the engine through its own flag, which the engine
    /// asks during the prompt too; after it nothing runs.
    #[test]
    fn close_sets_the_flag_of_the_generation_on_the_engine() {
        let model = tiny();
        let cancel = CancelFlag::new();
        let seen = model.running(&cancel, || {
            model.close();
            cancel.is_cancelled()
        });
        assert_eq!(seen, Some(true));
        let next = CancelFlag::new();
        assert_eq!(model.running(&next, || "ran"), None);
    }

    /// Those waiting on `closed` wake when it happens; after it, `closed` is ready at once.
    #[tokio::test]
    async fn closed_wakes_its_waiters() {
        let model = tiny();
        let waiter = tokio::spawn({
            let model = model.clone();
            async move { model.closed().await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert!(!waiter.is_finished());
        model.close();
        tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .expect("woken by the close")
            .unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(5), model.closed())
            .await
            .expect("closed already");
    }
}
