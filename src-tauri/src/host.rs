//! Which model is loaded and whether it is busy: one small state machine under one lock, so a
//! generation and a model load can never overlap (two 7B models in memory, or a generation on
//! a model being replaced).
//!
//! | state \ request | generate            | load            | stop             |
//! |-----------------|---------------------|-----------------|------------------|
//! | empty           | `no_model`          | → loading       | nothing to stop  |
//! | loading         | `model_loading`     | `model_loading` | nothing to stop  |
//! | ready, idle     | → ready, generating | → loading       | nothing to stop  |
//! | ready, running  | `busy`              | `busy`          | cancels          |
//!
//! A run on a remote server (`begin_remote`) needs no model but is a run all the same: one at
//! a time, and a load waits for it (`busy`). The local server's requests are not runs of the
//! host: they queue with the window's runs on the serving [`Gate`](jslm_server::Gate).

use crate::error::{AppError, AppResult};
use crate::model_summary::ModelSummary;
use jslm_engine::{CancelFlag, Engine};
use serde::Serialize;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

/// A loaded engine and what the UI and the history say about it.
#[derive(Debug)]
pub struct LoadedModel {
    pub engine: Engine,
    pub summary: ModelSummary,
}

impl AsRef<ModelSummary> for LoadedModel {
    fn as_ref(&self) -> &ModelSummary {
        &self.summary
    }
}

/// The local server shares the window's engine through this.
impl AsRef<Engine> for LoadedModel {
    fn as_ref(&self) -> &Engine {
        &self.engine
    }
}

#[derive(Debug)]
enum Slot<M> {
    Empty,
    Loading { path: PathBuf },
    Ready(Arc<M>),
}

#[derive(Debug)]
struct Inner<M> {
    slot: Slot<M>,
    /// Set while a generation runs; its id guards against a late ticket clearing a newer run.
    running: Option<(u64, CancelFlag)>,
    next_id: u64,
}

/// What the UI shows about the model.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ModelStatus {
    Empty,
    Loading {
        path: PathBuf,
    },
    /// Boxed: a summary is large beside the other states (serialized the same).
    Ready {
        model: Box<ModelSummary>,
    },
}

/// Generic over the model so the state table is tested without loading one.
#[derive(Debug)]
pub struct ModelHost<M = LoadedModel> {
    inner: Arc<Mutex<Inner<M>>>,
}

/// Held for the duration of one generation; dropping it (normally, on error, or on a panic)
/// marks the engine idle again.
#[derive(Debug)]
pub struct GenerationTicket<M = LoadedModel> {
    inner: Arc<Mutex<Inner<M>>>,
    id: u64,
    pub cancel: CancelFlag,
    pub model: Arc<M>,
}

/// Held for the duration of one run on a remote server; like [`GenerationTicket`] without
/// a model.
#[derive(Debug)]
pub struct RemoteTicket<M = LoadedModel> {
    inner: Arc<Mutex<Inner<M>>>,
    id: u64,
    pub cancel: CancelFlag,
}

/// Held while a model loads; `finish` installs the result. Dropped unfinished (an error or
/// a panic while loading), it leaves the host empty rather than stuck in "loading".
#[derive(Debug)]
pub struct LoadTicket<M = LoadedModel> {
    inner: Arc<Mutex<Inner<M>>>,
    finished: bool,
}

impl<M> Default for ModelHost<M> {
    fn default() -> Self {
        Self {
            inner: Arc::new(Mutex::new(Inner {
                slot: Slot::Empty,
                running: None,
                next_id: 0,
            })),
        }
    }
}

impl<M: AsRef<ModelSummary>> ModelHost<M> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn status(&self) -> ModelStatus {
        match &lock(&self.inner).slot {
            Slot::Empty => ModelStatus::Empty,
            Slot::Loading { path } => ModelStatus::Loading { path: path.clone() },
            Slot::Ready(m) => ModelStatus::Ready {
                model: Box::new((**m).as_ref().clone()),
            },
        }
    }

    pub fn is_generating(&self) -> bool {
        lock(&self.inner).running.is_some()
    }

    /// The loaded model, if one is ready (what the local server serves).
    pub fn ready_model(&self) -> Option<Arc<M>> {
        match &lock(&self.inner).slot {
            Slot::Ready(m) => Some(m.clone()),
            _ => None,
        }
    }

    /// The path of the model that is loaded or being loaded.
    pub fn model_path(&self) -> Option<std::path::PathBuf> {
        match &lock(&self.inner).slot {
            Slot::Ready(m) => Some((**m).as_ref().path.clone()),
            Slot::Loading { path } => Some(path.clone()),
            Slot::Empty => None,
        }
    }

    /// The loaded model's path, if one is ready (to mark it in the model lists).
    pub fn ready_path(&self) -> Option<std::path::PathBuf> {
        match &lock(&self.inner).slot {
            Slot::Ready(m) => Some((**m).as_ref().path.clone()),
            _ => None,
        }
    }

    /// Starts a run on a remote server: refused only while another run is going.
    pub fn begin_remote(&self) -> AppResult<RemoteTicket<M>> {
        let mut inner = lock(&self.inner);
        if inner.running.is_some() {
            return Err(AppError::Busy);
        }
        inner.next_id += 1;
        let id = inner.next_id;
        let cancel = CancelFlag::new();
        inner.running = Some((id, cancel.clone()));
        Ok(RemoteTicket {
            inner: self.inner.clone(),
            id,
            cancel,
        })
    }

    /// Starts a generation on the loaded model, or says why it cannot start.
    pub fn begin_generation(&self) -> AppResult<GenerationTicket<M>> {
        let mut inner = lock(&self.inner);
        if inner.running.is_some() {
            return Err(AppError::Busy);
        }
        let model = match &inner.slot {
            Slot::Empty => return Err(AppError::NoModel),
            Slot::Loading { .. } => return Err(AppError::ModelLoading),
            Slot::Ready(m) => m.clone(),
        };
        inner.next_id += 1;
        let id = inner.next_id;
        let cancel = CancelFlag::new();
        inner.running = Some((id, cancel.clone()));
        Ok(GenerationTicket {
            inner: self.inner.clone(),
            id,
            cancel,
            model,
        })
    }

    /// Starts loading `path`. The current model is released first, so that two models are
    /// never held in memory at once.
    pub fn begin_load(&self, path: PathBuf) -> AppResult<LoadTicket<M>> {
        let mut inner = lock(&self.inner);
        if inner.running.is_some() {
            return Err(AppError::Busy);
        }
        if matches!(inner.slot, Slot::Loading { .. }) {
            return Err(AppError::ModelLoading);
        }
        inner.slot = Slot::Loading { path };
        Ok(LoadTicket {
            inner: self.inner.clone(),
            finished: false,
        })
    }

    /// Cancels the running generation; false when none runs. Takes effect before the next
    /// token (the engine checks the flag after every token).
    pub fn stop(&self) -> bool {
        match &lock(&self.inner).running {
            Some((_, cancel)) => {
                cancel.cancel();
                true
            }
            None => false,
        }
    }
}

impl<M: AsRef<ModelSummary>> LoadTicket<M> {
    /// Installs the loaded model, or leaves the host empty on an error.
    pub fn finish(mut self, result: AppResult<M>) -> AppResult<ModelSummary> {
        self.finished = true;
        let mut inner = lock(&self.inner);
        match result {
            Ok(model) => {
                let summary = model.as_ref().clone();
                inner.slot = Slot::Ready(Arc::new(model));
                Ok(summary)
            }
            Err(e) => {
                inner.slot = Slot::Empty;
                Err(e)
            }
        }
    }
}

impl<M> Drop for LoadTicket<M> {
    fn drop(&mut self) {
        if !self.finished {
            lock(&self.inner).slot = Slot::Empty;
        }
    }
}

impl<M> Drop for GenerationTicket<M> {
    fn drop(&mut self) {
        end_run(&self.inner, self.id);
    }
}

impl<M> Drop for RemoteTicket<M> {
    fn drop(&mut self) {
        end_run(&self.inner, self.id);
    }
}

fn end_run<M>(inner: &Mutex<Inner<M>>, run: u64) {
    let mut inner = lock(inner);
    if matches!(inner.running, Some((id, _)) if id == run) {
        inner.running = None;
    }
}

fn lock<M>(inner: &Mutex<Inner<M>>) -> MutexGuard<'_, Inner<M>> {
    // Every transition is a single assignment, so the state is consistent even after a panic
    // in another thread; the tickets' `Drop` must still run then.
    inner.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Fake(ModelSummary);
    impl AsRef<ModelSummary> for Fake {
        fn as_ref(&self) -> &ModelSummary {
            &self.0
        }
    }
    fn fake() -> Fake {
        Fake(ModelSummary::for_tests("/m"))
    }

    #[test]
    fn state_table() {
        let host = ModelHost::<Fake>::new();
        assert_eq!(host.status(), ModelStatus::Empty);
        assert_eq!(host.begin_generation().unwrap_err().code(), "no_model");
        assert!(!host.stop());

        let load = host.begin_load("/m".into()).unwrap();
        assert!(matches!(host.status(), ModelStatus::Loading { .. }));
        assert_eq!(host.begin_generation().unwrap_err().code(), "model_loading");
        assert_eq!(
            host.begin_load("/other".into()).unwrap_err().code(),
            "model_loading"
        );
        load.finish(Ok(fake())).unwrap();
        assert!(matches!(host.status(), ModelStatus::Ready { .. }));

        let ticket = host.begin_generation().unwrap();
        assert!(host.is_generating());
        assert_eq!(host.begin_generation().unwrap_err().code(), "busy");
        assert_eq!(host.begin_load("/m".into()).unwrap_err().code(), "busy");
        assert!(host.stop());
        assert!(ticket.cancel.is_cancelled());
        drop(ticket);
        assert!(!host.is_generating());
        assert!(!host.stop());
        let again = host.begin_generation().unwrap();
        assert!(
            !again.cancel.is_cancelled(),
            "each generation has its own flag"
        );
    }

    #[test]
    fn a_remote_run_needs_no_model_but_is_one_run() {
        let host = ModelHost::<Fake>::new();
        assert!(host.ready_model().is_none());
        let remote = host.begin_remote().unwrap();
        assert!(host.is_generating());
        assert_eq!(host.begin_remote().unwrap_err().code(), "busy");
        assert_eq!(host.begin_load("/m".into()).unwrap_err().code(), "busy");
        assert!(host.stop());
        assert!(remote.cancel.is_cancelled());
        drop(remote);
        host.begin_load("/m".into())
            .unwrap()
            .finish(Ok(fake()))
            .unwrap();
        assert!(host.ready_model().is_some());
        let local = host.begin_generation().unwrap();
        assert_eq!(host.begin_remote().unwrap_err().code(), "busy");
        drop(local);
        assert!(host.begin_remote().is_ok());
    }

    #[test]
    fn failed_or_abandoned_load_leaves_the_host_empty() {
        let host = ModelHost::<Fake>::new();
        let load = host.begin_load("/m".into()).unwrap();
        let err = load.finish(Err(AppError::NoModelPath)).unwrap_err();
        assert_eq!(err.code(), "no_model_path");
        assert_eq!(host.status(), ModelStatus::Empty);

        let load = host.begin_load("/m".into()).unwrap();
        drop(load);
        assert_eq!(host.status(), ModelStatus::Empty);
    }

    #[test]
    fn ticket_dropped_by_a_panicking_thread_frees_the_engine() {
        let host = ModelHost::<Fake>::new();
        host.begin_load("/m".into())
            .unwrap()
            .finish(Ok(fake()))
            .unwrap();
        let ticket = host.begin_generation().unwrap();
        let joined = std::thread::spawn(move || {
            let _t = ticket;
            panic!("engine bug");
        })
        .join();
        assert!(joined.is_err());
        assert!(!host.is_generating());
        assert!(host.begin_generation().is_ok());
    }
}
