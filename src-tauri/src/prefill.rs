//! The window's prompt work ahead of Generate (`jslm_runtime::BackgroundPrefill`): the card's
//! header right after each load, then the prompt as the user writes it (`prefill_prompt`,
//! called by the page a moment after typing stops). Generate then finds its prompt in the
//! cache, whole or for the most part.
//!
//! Each job holds the model on its thread. A newer prompt stops the older jobs after their
//! current pass, and the next load stops and joins all of them first, so that two models are
//! never held in memory at once.

use crate::error::AppResult;
use crate::host::{LoadTicket, LoadedModel, ModelHost};
use crate::model_summary::ModelSummary;
use jslm_engine::{EngineError, GenerationRequest};
use jslm_runtime::{BackgroundPrefill, Prefilled};
use std::sync::{Mutex, MutexGuard};

/// The jobs that may still hold the loaded model.
#[derive(Debug, Default)]
pub struct PrefillSlot(Mutex<Vec<BackgroundPrefill>>);

/// A job's failure costs only the speed-up: it is logged, never shown. A prompt too long for
/// the context is not a failure: Generate will say so.
fn log(done: &jslm_engine::Result<Prefilled>) {
    match done {
        Ok(_) | Err(EngineError::ContextOverflow { .. }) => {}
        Err(e) => eprintln!("jslm-desktop: prompt prefill failed: {e}"),
    }
}

impl PrefillSlot {
    /// Installs the outcome of a load (`LoadTicket::finish`) and starts warming the model it
    /// loaded. Both happen under the slot's lock, so a load that begins in between finds this
    /// job in [`Self::stop_all`].
    pub fn install(
        &self,
        host: &ModelHost,
        ticket: LoadTicket,
        result: AppResult<LoadedModel>,
    ) -> AppResult<ModelSummary> {
        let mut jobs = self.lock();
        let summary = ticket.finish(result)?;
        if let Some(model) = host.ready_model() {
            push(&mut jobs, BackgroundPrefill::warm_up(model, log));
        }
        Ok(summary)
    }

    /// Starts running `request`'s prompt into the loaded model's cache, stopping older jobs.
    /// False when there is nothing to do it on: no model ready, or a generation running.
    pub fn prompt(&self, host: &ModelHost, request: GenerationRequest) -> bool {
        let mut jobs = self.lock();
        let Some(model) = host.ready_model().filter(|_| !host.is_generating()) else {
            return false;
        };
        for job in jobs.iter() {
            job.stop();
        }
        push(&mut jobs, BackgroundPrefill::prompt(model, request, log));
        true
    }

    /// Stops every job and hands them over, for a load to join before it starts.
    pub fn stop_all(&self) -> Vec<BackgroundPrefill> {
        let jobs = std::mem::take(&mut *self.lock());
        for job in &jobs {
            job.stop();
        }
        jobs
    }

    /// Waits for every job to end by itself; what each did, oldest first.
    #[cfg(test)]
    pub fn join_all(&self) -> Vec<jslm_engine::Result<Prefilled>> {
        let jobs = std::mem::take(&mut *self.lock());
        jobs.into_iter().map(BackgroundPrefill::finish).collect()
    }

    fn lock(&self) -> MutexGuard<'_, Vec<BackgroundPrefill>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn push(jobs: &mut Vec<BackgroundPrefill>, started: std::io::Result<BackgroundPrefill>) {
    jobs.retain(|job| !job.is_finished());
    match started {
        Ok(job) => jobs.push(job),
        Err(e) => eprintln!("jslm-desktop: could not start a prompt prefill: {e}"),
    }
}
