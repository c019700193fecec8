//! OpenAI's response shapes for both routes: the whole answer (`text_completion`,
//! `chat.completion`) and the streamed chunks (`data: {...}` per piece, a last chunk with
//! `finish_reason`, an optional usage chunk, then `data: [DONE]`).

use crate::generation::Outcome;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};

/// Which route answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Completions,
    Chat,
}

/// The fields every answer and chunk of one request repeats.
#[derive(Debug, Clone)]
pub struct Header {
    pub route: Route,
    pub id: String,
    pub created: u64,
    pub model: String,
}

impl Header {
    pub fn new(route: Route, model: &str) -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let prefix = match route {
            Route::Completions => "cmpl",
            Route::Chat => "chatcmpl",
        };
        Self {
            route,
            id: format!("{prefix}-{:x}{n:04x}", now.as_micros()),
            created: now.as_secs(),
            model: model.to_string(),
        }
    }

    fn object(&self, chunk: bool) -> &'static str {
        match (self.route, chunk) {
            (Route::Completions, _) => "text_completion",
            (Route::Chat, false) => "chat.completion",
            (Route::Chat, true) => "chat.completion.chunk",
        }
    }

    fn wrap(&self, chunk: bool, choices: Value) -> Value {
        json!({
            "id": self.id,
            "object": self.object(chunk),
            "created": self.created,
            "model": self.model,
            "choices": choices,
        })
    }

    /// The whole answer.
    pub fn whole(&self, text: &str, outcome: &Outcome) -> Value {
        let choice = match self.route {
            Route::Completions => json!({
                "index": 0,
                "text": text,
                "logprobs": null,
                "finish_reason": outcome.finish_reason.as_str(),
            }),
            Route::Chat => json!({
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "logprobs": null,
                "finish_reason": outcome.finish_reason.as_str(),
            }),
        };
        let mut body = self.wrap(false, json!([choice]));
        body["usage"] = usage(outcome);
        body
    }

    /// The chunk that opens a chat stream (the assistant's role, no text yet).
    pub fn opening(&self) -> Option<Value> {
        (self.route == Route::Chat).then(|| {
            self.wrap(
                true,
                json!([{"index": 0, "delta": {"role": "assistant", "content": ""},
                        "logprobs": null, "finish_reason": null}]),
            )
        })
    }

    /// A chunk with the next text.
    pub fn text_chunk(&self, text: &str) -> Value {
        self.chunk(text, None)
    }

    /// The chunk that ends a stream.
    pub fn closing(&self, outcome: &Outcome) -> Value {
        self.chunk("", Some(outcome.finish_reason.as_str()))
    }

    fn chunk(&self, text: &str, finish_reason: Option<&str>) -> Value {
        let choice = match (self.route, finish_reason) {
            (Route::Completions, _) => json!({
                "index": 0, "text": text, "logprobs": null, "finish_reason": finish_reason,
            }),
            (Route::Chat, None) => json!({
                "index": 0, "delta": {"content": text}, "logprobs": null, "finish_reason": null,
            }),
            (Route::Chat, Some(reason)) => json!({
                "index": 0, "delta": {}, "logprobs": null, "finish_reason": reason,
            }),
        };
        self.wrap(true, json!([choice]))
    }

    /// The usage chunk (`stream_options.include_usage`): no choices.
    pub fn usage_chunk(&self, outcome: &Outcome) -> Value {
        let mut body = self.wrap(true, json!([]));
        body["usage"] = usage(outcome);
        body
    }
}

fn usage(outcome: &Outcome) -> Value {
    json!({
        "prompt_tokens": outcome.prompt_tokens,
        "prompt_tokens_details": {"cached_tokens": outcome.cached_tokens},
        "completion_tokens": outcome.completion_tokens,
        "total_tokens": outcome.prompt_tokens + outcome.completion_tokens,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generation::FinishReason;

    #[test]
    fn shapes_are_openais() {
        let outcome = Outcome {
            finish_reason: FinishReason::Length,
            prompt_tokens: 3,
            cached_tokens: 2,
            completion_tokens: 4,
        };
        let chat = Header::new(Route::Chat, "m");
        let whole = chat.whole("答え", &outcome);
        assert_eq!(whole["object"], "chat.completion");
        assert_eq!(whole["choices"][0]["message"]["content"], "答え");
        assert_eq!(whole["choices"][0]["finish_reason"], "length");
        assert_eq!(whole["usage"]["total_tokens"], 7);
        assert_eq!(whole["usage"]["prompt_tokens_details"]["cached_tokens"], 2);
        assert!(chat.id.starts_with("chatcmpl-"));
        assert_eq!(
            chat.opening().unwrap()["choices"][0]["delta"]["role"],
            "assistant"
        );
        assert_eq!(chat.text_chunk("x")["choices"][0]["delta"]["content"], "x");
        assert_eq!(chat.closing(&outcome)["choices"][0]["delta"], json!({}));
        assert_eq!(chat.usage_chunk(&outcome)["choices"], json!([]));
        let raw = Header::new(Route::Completions, "m");
        assert!(raw.opening().is_none());
        assert_eq!(raw.whole("t", &outcome)["choices"][0]["text"], "t");
        assert_eq!(raw.text_chunk("t")["object"], "text_completion");
        assert_eq!(
            raw.closing(&outcome)["choices"][0]["finish_reason"],
            "length"
        );
        assert_ne!(Header::new(Route::Chat, "m").id, chat.id);
    }
}
