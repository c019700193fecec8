//! One generation for the app: runs the engine on the calling (blocking) thread, forwards every
//! event to the window, stops when the window is gone, and records the run in the history.

use crate::error::{AppError, AppResult};
use crate::history::{HistoryEntry, HistoryStore};
use crate::host::{GenerationTicket, LoadedModel};
use jslm_engine::{EngineError, GenerationEvent, GenerationOutput, GenerationRequest};
use serde::Serialize;
use std::time::{SystemTime, UNIX_EPOCH};

/// What the `generate` command returns once the run has ended (the text itself streamed).
#[derive(Debug, Serialize)]
pub struct GenerationResult {
    pub entry: HistoryEntry,
    /// False when the run was not kept: nothing was generated, or saving failed
    /// (`save_error` says why; the answer on screen is still complete).
    pub saved: bool,
    pub save_error: Option<AppError>,
}

/// Largest seed the webview holds exactly: JavaScript numbers are doubles (2^53 − 1).
pub use jslm_engine::settings::MAX_SEED;

/// Gives the request a seed the webview can represent: a fresh one when it has none; one
/// beyond [`MAX_SEED`] is refused (it was rounded before it got here).
pub fn fix_seed(request: &mut GenerationRequest) -> AppResult<()> {
    match request.settings.seed {
        None => request.settings.seed = Some(jslm_engine::settings::draw_seed()),
        Some(seed) if seed > MAX_SEED => {
            return Err(EngineError::InvalidSetting {
                field: "seed",
                message: format!("must be between 0 and {MAX_SEED}. Given: {seed}"),
            }
            .into())
        }
        Some(_) => {}
    }
    Ok(())
}

/// Runs `request` on the ticket's model. `send` forwards an event and returns false when
/// nobody listens any more (window closed): the generation is then cancelled before the next
/// token instead of computing for nobody.
pub fn run(
    ticket: &GenerationTicket<LoadedModel>,
    request: &GenerationRequest,
    mut send: impl FnMut(&GenerationEvent) -> bool,
) -> AppResult<GenerationOutput> {
    let cancel = ticket.cancel.clone();
    let output = ticket
        .model
        .engine
        .generate(request, &ticket.cancel, |event| {
            if !send(event) {
                cancel.cancel();
            }
        })?;
    Ok(output)
}

/// The history entry of a finished run.
pub fn entry_for(
    request: &GenerationRequest,
    output: &GenerationOutput,
    model: &LoadedModel,
) -> HistoryEntry {
    let mut settings = request.settings.clone();
    // The seed actually used, so that "regenerate" repeats this exact text.
    settings.seed = Some(output.stats.seed);
    HistoryEntry {
        id: String::new(),
        created_at_ms: now_ms(),
        instruction: request.instruction.clone(),
        input: request.input.clone(),
        settings,
        model: Some(model.summary.clone()),
        remote: None,
        output: output.text.clone(),
        stop_reason: output.stop_reason,
        stats: output.stats.clone(),
    }
}

/// The result of a run stopped while it waited for its turn: nothing generated, not kept.
pub fn not_run(request: &GenerationRequest, model: &LoadedModel) -> GenerationResult {
    let output = GenerationOutput {
        prompt: String::new(),
        prompt_token_ids: Vec::new(),
        generated_token_ids: Vec::new(),
        text: String::new(),
        stop_reason: jslm_engine::StopReason::Cancelled,
        stats: jslm_engine::GenerationStats {
            seed: request.settings.seed.unwrap_or(0),
            ..Default::default()
        },
    };
    GenerationResult {
        entry: entry_for(request, &output, model),
        saved: false,
        save_error: None,
    }
}

/// Saves `entry` unless the run produced nothing.
pub fn record(history: &HistoryStore, entry: HistoryEntry) -> GenerationResult {
    if entry.stats.generated_tokens == 0 {
        return GenerationResult {
            entry,
            saved: false,
            save_error: None,
        };
    }
    match history.append(entry.clone()) {
        Ok(saved) => GenerationResult {
            entry: saved,
            saved: true,
            save_error: None,
        },
        Err(e) => GenerationResult {
            entry,
            saved: false,
            save_error: Some(e),
        },
    }
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::tests::entry;

    #[test]
    fn seeds_fit_in_a_javascript_number() {
        for _ in 0..64 {
            let mut r = GenerationRequest::default();
            fix_seed(&mut r).unwrap();
            assert!(r.settings.seed.unwrap() <= MAX_SEED);
        }
        let mut fixed = GenerationRequest::default();
        fixed.settings.seed = Some(MAX_SEED);
        fix_seed(&mut fixed).unwrap();
        assert_eq!(fixed.settings.seed, Some(MAX_SEED));
        fixed.settings.seed = Some(MAX_SEED + 1);
        let err = fix_seed(&mut fixed).unwrap_err();
        assert_eq!(err.code(), "invalid_setting");
        assert!(err.to_string().contains("seed"));
    }

    #[test]
    fn empty_runs_are_not_kept_and_save_errors_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let store = HistoryStore::open(&dir.path().join("h.jsonl")).unwrap();
        let mut empty = entry("x", 1);
        empty.stats.generated_tokens = 0;
        let r = record(&store, empty);
        assert!(!r.saved && r.save_error.is_none());
        assert!(store.list().is_empty());

        let r = record(&store, entry("y", 2));
        assert!(r.saved);
        assert!(!r.entry.id.is_empty());

        // A folder where the history file should be: appending fails.
        let path = dir.path().join("broken.jsonl");
        let broken = HistoryStore::open(&path).unwrap();
        std::fs::create_dir(&path).unwrap();
        let r = record(&broken, entry("z", 3));
        assert!(!r.saved);
        assert_eq!(r.save_error.unwrap().code(), "storage");
    }
}
