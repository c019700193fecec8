//! One accepted request from its place in the queue to its last piece of text: waits for the
//! engine's turn, runs the engine on a blocking thread, passes each token's text through the
//! stop strings (and, for chat, the card's strip) and sends it to the response.
//!
//! The response holds a [`Running`]; dropping it (the client went away, the connection closed)
//! sets the engine's [`CancelFlag`], which the engine checks after every token: the generation
//! ends within one token (a few more only to finish a character the next token would cut in
//! half). A request dropped while it waits leaves the queue at once; one waiting when the
//! model is closed gets 503 at once, without waiting for the engine.

use crate::error::ApiError;
use crate::gate::Place;
use crate::model::{Ended, ServedModel};
use crate::request::rename_field;
use crate::stop::{AnswerTrim, StopMatcher};
use jslm_engine::{AnswerStart, CancelFlag, GenerationEvent, GenerationSettings, StopReason};
use tokio::sync::mpsc;

/// What a generation asks of the engine.
#[derive(Debug, Clone)]
pub struct Job {
    /// Sent to the engine as it is (the chat route has already built the card's prompt).
    pub prompt: String,
    pub settings: GenerationSettings,
    pub stops: Vec<String>,
    /// Apply the card's `.strip()` to the answer (chat).
    pub trim: bool,
    /// The request's name for `max_new_tokens`, for error messages.
    pub max_tokens_field: &'static str,
}

/// OpenAI's `finish_reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishReason {
    /// The model's end token or a stop string.
    Stop,
    /// `max_tokens` reached.
    Length,
}

impl FinishReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stop => "stop",
            Self::Length => "length",
        }
    }
}

/// How a generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    pub finish_reason: FinishReason,
    pub prompt_tokens: usize,
    /// Of `prompt_tokens`, those whose keys and values came from the previous request's
    /// prompt (OpenAI's `usage.prompt_tokens_details.cached_tokens`).
    pub cached_tokens: usize,
    pub completion_tokens: usize,
}

/// What the response receives, in order: text pieces, then one `End` or `Failed`.
#[derive(Debug)]
pub enum Piece {
    Text(String),
    End(Outcome),
    Failed(ApiError),
}

/// A generation in progress; dropping it cancels it.
#[derive(Debug)]
pub struct Running {
    pub pieces: mpsc::UnboundedReceiver<Piece>,
    cancel: CancelFlag,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// Starts `job` once `place` gets its turn.
pub fn start(model: &ServedModel, place: Place, job: Job) -> Running {
    let (tx, rx) = mpsc::unbounded_channel();
    let cancel = CancelFlag::new();
    let (model, flag) = (model.clone(), cancel.clone());
    tokio::spawn(async move {
        let turn = tokio::select! {
            turn = place.turn() => turn,
            // The client left while waiting: give the place up now.
            () = tx.closed() => return,
            // Closed while waiting: say so now, not once the engine comes free (the run
            // holding it ends within a token, but the window's own run may hold it longer).
            () = model.closed() => {
                let _ = tx.send(Piece::Failed(ApiError::unavailable()));
                return;
            }
        };
        let blocking = tokio::task::spawn_blocking(move || {
            let last = run(&model, &job, &flag, &tx);
            // The engine is free before the client hears the end: a client that sends its
            // next request on the last piece must find its place (with `--max-waiting 0` it
            // was refused with 429 while this thread still held the turn).
            drop(turn);
            if let Some(last) = last {
                let _ = tx.send(last);
            }
        });
        if let Err(e) = blocking.await {
            tracing::error!("a generation thread died: {e}");
        }
    });
    Running { pieces: rx, cancel }
}

/// Runs the engine on this (blocking) thread, sending the text pieces to `tx`; returns the
/// last piece (`End` or `Failed`) for the caller to send once the engine is released, or
/// `None` when the client is gone or the run was cancelled.
fn run(
    model: &ServedModel,
    job: &Job,
    cancel: &CancelFlag,
    tx: &mpsc::UnboundedSender<Piece>,
) -> Option<Piece> {
    if cancel.is_cancelled() {
        return None;
    }
    let mut stops = StopMatcher::new(job.stops.clone());
    let mut trim = job.trim.then(AnswerTrim::default);
    let send = |text: String| {
        if text.is_empty() {
            return true;
        }
        tx.send(Piece::Text(text)).is_ok()
    };
    // What the stop strings let through, trimmed for the chat route, to the client.
    let mut show = |kept: String| -> bool {
        let shown = match trim.as_mut() {
            Some(t) => t.push(&kept),
            None => kept,
        };
        send(shown)
    };
    // A close of the model sets `cancel` too.
    let generated = model.running(cancel, || {
        model.engine().generate_raw(
            &job.prompt,
            // The chat route answers the card's prompt as the card decodes it; a raw completion
            // continues its prompt.
            if job.trim {
                AnswerStart::Card
            } else {
                AnswerStart::Continuation
            },
            &job.settings,
            cancel,
            |event: &GenerationEvent| {
                if let GenerationEvent::Token { text, .. } = event {
                    let delivered = show(stops.push(text));
                    if !delivered || stops.stopped() {
                        cancel.cancel();
                    }
                }
            },
        )
    });
    let Some(result) = generated else {
        return Some(Piece::Failed(ApiError::unavailable()));
    };
    let counters = model.counters();
    match result {
        Ok(out) => {
            let tokens = out.generated_token_ids.len();
            let finish_reason = match out.stop_reason {
                _ if stops.stopped() => FinishReason::Stop,
                StopReason::Eos => FinishReason::Stop,
                StopReason::MaxTokens => FinishReason::Length,
                StopReason::Cancelled => {
                    counters.record(Ended::Cancelled, tokens);
                    return model
                        .is_closed()
                        .then(|| Piece::Failed(ApiError::unavailable()));
                }
            };
            // Held back as a possible start of a stop string that never came: it is text.
            let ok = show(stops.finish());
            counters.record(Ended::Finished, tokens);
            ok.then_some(Piece::End(Outcome {
                finish_reason,
                prompt_tokens: out.prompt_token_ids.len(),
                cached_tokens: out.stats.reused_prompt_tokens,
                completion_tokens: tokens,
            }))
        }
        Err(e) => {
            counters.record(Ended::Failed, 0);
            let error = ApiError::from_engine(&e, |f| rename_field(f, job.max_tokens_field));
            Some(Piece::Failed(error))
        }
    }
}
