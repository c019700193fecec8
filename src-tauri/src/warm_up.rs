//! The loaded model's prompt warm-up (`jslm_runtime::PromptWarmUp`): started after each load,
//! so that the first Generate runs only from its instruction on, and waited for before the
//! next load, so that two models are never held in memory at once (its thread holds the old
//! model until its pass ends).

use crate::error::AppResult;
use crate::host::{LoadTicket, LoadedModel, ModelHost};
use crate::model_summary::ModelSummary;
use jslm_runtime::PromptWarmUp;
use std::sync::Mutex;

#[derive(Debug, Default)]
pub struct WarmUpSlot(Mutex<Option<PromptWarmUp>>);

impl WarmUpSlot {
    /// Installs the outcome of a load (`LoadTicket::finish`) and starts warming the model it
    /// loaded. Both happen under the slot's lock, so a load that begins in between waits in
    /// [`Self::take`] for this warm-up. A failure to start or to warm costs only the speed-up,
    /// so it is logged, not shown.
    pub fn install(
        &self,
        host: &ModelHost,
        ticket: LoadTicket,
        result: AppResult<LoadedModel>,
    ) -> AppResult<ModelSummary> {
        let mut slot = self.lock();
        let finished = ticket.finish(result)?;
        let Some(model) = host.ready_model() else {
            return Ok(finished);
        };
        let started = PromptWarmUp::start(model, |warmed| {
            if let Err(e) = warmed {
                eprintln!("jslm-desktop: the prompt warm-up failed: {e}");
            }
        });
        match started {
            Ok(w) => *slot = Some(w),
            Err(e) => eprintln!("jslm-desktop: could not start the prompt warm-up: {e}"),
        }
        Ok(finished)
    }

    /// The running warm-up, if any, for the next load to wait for.
    pub fn take(&self) -> Option<PromptWarmUp> {
        self.lock().take()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<PromptWarmUp>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}
