//! What a generation reports while it runs, and what it returns.

use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Why generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The model produced `</s>` (id 2).
    Eos,
    /// `max_new_tokens` were generated.
    MaxTokens,
    /// Stopped by the user (or a closed window).
    Cancelled,
}

/// Timings of one generation. Times in milliseconds, rates in tokens per second.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GenerationStats {
    pub prompt_tokens: usize,
    pub generated_tokens: usize,
    /// From the request to the first generated token (tokenizing + prefill + first sample).
    pub ttft_ms: f64,
    /// Leading prompt tokens whose keys and values the cache already held instead of being
    /// computed again: from the previous generation (the card's system sentence, a
    /// regenerated prompt), the warm-up after the load, or the window's run of the prompt
    /// while it was written. GGUF files on the CPU only.
    #[serde(default)]
    pub reused_prompt_tokens: usize,
    /// Prompt tokens computed ÷ prefill time (the reused ones not counted).
    pub prompt_tokens_per_s: f64,
    /// Generated tokens after the first ÷ their time (0 when fewer than 2 tokens).
    pub decode_tokens_per_s: f64,
    pub total_ms: f64,
    /// The sampler's seed, drawn when the request had none; reuse it to repeat the run.
    pub seed: u64,
}

/// Streamed events, in order: one `Started`, zero or more `Token`, one `Finished`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", content = "data", rename_all = "snake_case")]
pub enum GenerationEvent {
    Started {
        prompt_tokens: usize,
        seed: u64,
    },
    /// `text` is what this token makes final: empty inside a run of byte tokens, which comes
    /// out whole when it ends (the last token of a run carries the end of the text). The
    /// texts add up to `decode(generated, skip_special_tokens=True)` (for a raw completion,
    /// `AnswerStart::Continuation`, with the first token's leading space kept).
    Token {
        id: u32,
        text: String,
    },
    Finished {
        reason: StopReason,
        stats: GenerationStats,
    },
}

/// The result of one generation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GenerationOutput {
    pub prompt: String,
    pub prompt_token_ids: Vec<u32>,
    /// As `generate` returns them after the prompt, including a final `</s>`.
    pub generated_token_ids: Vec<u32>,
    /// `decode(generated, skip_special_tokens=True).strip()`, the card's `out`.
    pub text: String,
    pub stop_reason: StopReason,
    pub stats: GenerationStats,
}

/// Cancels a running generation from any thread; takes effect before the next token, or while
/// the prompt runs, before its next pass (on the mapped CPU runner, its next block).
#[derive(Debug, Clone, Default)]
pub struct CancelFlag(Arc<AtomicBool>);

impl CancelFlag {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_serialise_as_tagged_json() {
        let e = GenerationEvent::Token {
            id: 5,
            text: "あ".into(),
        };
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"event":"token","data":{"id":5,"text":"あ"}}"#
        );
        let f = GenerationEvent::Finished {
            reason: StopReason::MaxTokens,
            stats: GenerationStats::default(),
        };
        assert!(serde_json::to_string(&f)
            .unwrap()
            .contains(r#""reason":"max_tokens""#));
    }
}
