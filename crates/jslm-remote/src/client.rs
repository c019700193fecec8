//! A remote OpenAI-compatible server as a generation backend: the model card's prompt, built by
//! the engine's own `PromptTemplate`, goes to `/v1/completions` as the raw `prompt` (not to
//! the chat route, whose template is the server's and may differ from the card), streamed; the
//! text comes back piece by piece, with the server's usage and finish reason.
//!
//! The settings map one to one: `max_tokens`, `temperature` (0 for greedy), `top_p`, `top_k`
//! (-1 for off) and the repetition penalty (extensions: vLLM's `repetition_penalty`,
//! llama.cpp's `repeat_penalty`; both are sent), `seed` (drawn here when none is given, so
//! the run reports the seed that repeats it); and `add_special_tokens: false` (vLLM's
//! extension), as the card encodes the prompt without BOS.
//!
//! A server that stops sending does not hold a run forever: an error answer's body is read for
//! at most [`Timeouts::error_body`] (and [`ERROR_BODY_LIMIT`] bytes), a streamed answer that
//! has begun may be silent for at most [`Timeouts::idle`]; Stop ends any wait at once.

use crate::error::RemoteError;
use crate::sse::SseReader;
use futures_util::StreamExt;
use jslm_engine::stream::python_strip;
use jslm_engine::{CancelFlag, GenerationRequest, GenerationStats, PromptTemplate, StopReason};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// Where the remote server is and what to ask it for.
#[derive(Clone, Default)]
pub struct RemoteConfig {
    /// Base URL: `http://host:8642/v1` (`/v1` is added when missing).
    pub url: String,
    /// The model name to request; `None`: the first the server lists.
    pub model: Option<String>,
    /// Sent as `Authorization: Bearer KEY`.
    pub api_key: Option<String>,
    pub timeouts: Timeouts,
}

/// How long a server may keep the client waiting without sending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// To send the body of an error answer (its headers came): 30 s. It is one short JSON
    /// object; a server that sends the headers and stalls must not hang the run.
    pub error_body: Duration,
    /// Of silence in a streamed answer, once the server has sent its first byte: 120 s. `jslm
    /// serve` sends a keep-alive comment every 15 s, even while the request waits in its
    /// queue, so that much silence means the server or the network is gone. Before the first
    /// byte there is no limit (only Stop): vLLM and llama.cpp's server send nothing while a
    /// request waits for its turn, which may be long on a busy server.
    pub idle: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            error_body: Duration::from_secs(30),
            idle: Duration::from_secs(120),
        }
    }
}

impl std::fmt::Debug for RemoteConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteConfig")
            .field("url", &self.url)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "***"))
            .field("timeouts", &self.timeouts)
            .finish()
    }
}

/// A connected remote backend.
pub struct Remote {
    http: reqwest::Client,
    base: String,
    model: String,
    api_key: Option<String>,
    timeouts: Timeouts,
}

/// One remote generation's result, shaped like the engine's.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteOutput {
    pub prompt: String,
    /// The answer as received (not stripped).
    pub raw: String,
    /// `raw.strip()`, the card's `out`.
    pub text: String,
    pub stop_reason: StopReason,
    /// Token counts from the server's `usage` (0 when it sent none); times measured here;
    /// the seed sent (the request's, or the one drawn for it).
    pub stats: GenerationStats,
    /// The endpoint and model that answered (for history).
    pub endpoint: String,
    pub model: String,
}

impl RemoteOutput {
    /// A run stopped before any server was reached (Stop while connecting): nothing came back.
    pub fn not_started(prompt: String, endpoint: String, seed: Option<u64>) -> Self {
        Self {
            prompt,
            raw: String::new(),
            text: String::new(),
            stop_reason: StopReason::Cancelled,
            stats: GenerationStats {
                seed: seed.unwrap_or(0),
                ..Default::default()
            },
            endpoint,
            model: String::new(),
        }
    }
}

impl Remote {
    /// Checks the URL and, without a model name, asks `/v1/models` for one.
    pub async fn connect(config: RemoteConfig) -> Result<Self, RemoteError> {
        let base = base_url(&config.url)?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| RemoteError::transport(&base, &e, ""))?;
        let mut remote = Self {
            http,
            base,
            model: config.model.unwrap_or_default(),
            api_key: config.api_key,
            timeouts: config.timeouts,
        };
        if remote.model.is_empty() {
            remote.model = remote.first_model().await?;
        }
        Ok(remote)
    }

    pub fn endpoint(&self) -> &str {
        &self.base
    }

    pub fn model(&self) -> &str {
        &self.model
    }

    fn authorized(&self, builder: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.api_key {
            Some(key) => builder.bearer_auth(key),
            None => builder,
        }
    }

    async fn first_model(&self) -> Result<String, RemoteError> {
        let url = format!("{}/models", self.base);
        // A server that takes the connection and never answers must not hold the run forever.
        let resp = self
            .authorized(self.http.get(&url))
            .timeout(MODELS_TIMEOUT)
            .send()
            .await
            .map_err(|e| RemoteError::transport(&self.base, &e, ""))?;
        let resp = self.check_status(resp, "").await?;
        let body: Value = resp
            .json()
            .await
            .map_err(|e| RemoteError::transport(&self.base, &e, ""))?;
        body["data"][0]["id"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| RemoteError::Failed {
                endpoint: self.base.clone(),
                message: "GET /models listed no model; pass --remote-model NAME".into(),
                partial: String::new(),
            })
    }

    /// Sends the card's prompt for `request` and streams the answer into `on_text`.
    /// `cancel` stops it within [`CANCEL_POLL`], even while the server sends nothing (it
    /// disconnects, which cancels the generation on a `jslm serve`).
    pub async fn generate(
        &self,
        request: &GenerationRequest,
        cancel: &CancelFlag,
        mut on_text: impl FnMut(&str),
    ) -> Result<RemoteOutput, RemoteError> {
        let prompt = PromptTemplate.build(&request.instruction, &request.input);
        let s = &request.settings;
        // Drawn here, not left to the server, which would not say which it drew: the run
        // reports the seed that repeats it.
        let seed = s.seed_or_draw();
        let body = json!({
            "model": self.model,
            "prompt": prompt,
            "max_tokens": s.max_new_tokens,
            "temperature": if s.samples() { s.temperature } else { 0.0 },
            "top_p": s.top_p,
            "top_k": top_k(s.top_k),
            "repetition_penalty": s.repetition_penalty,
            // llama.cpp's server reads its own name and ignores the one above.
            "repeat_penalty": s.repetition_penalty,
            "stream": true,
            "stream_options": {"include_usage": true},
            // The card encodes with `add_special_tokens=False` (no BOS). vLLM honours this
            // extension; `jslm serve` adds no BOS anyway; llama.cpp's server ignores it and
            // adds one (see tests/against_llama_server.rs).
            "add_special_tokens": false,
            "seed": seed,
        });
        let start = Instant::now();
        let sent = self
            .authorized(self.http.post(format!("{}/completions", self.base)))
            .json(&body)
            .send();
        let Some(resp) = unless_cancelled(cancel, sent).await else {
            return Ok(self.cancelled(prompt, String::new(), start, seed));
        };
        let resp = resp.map_err(|e| RemoteError::transport(&self.base, &e, ""))?;
        // An error's body is read under Stop too: a server may send the headers and stall.
        let Some(resp) = unless_cancelled(cancel, self.check_status(resp, &self.model)).await
        else {
            return Ok(self.cancelled(prompt, String::new(), start, seed));
        };
        let resp = resp?;
        let mut reader = SseReader::default();
        let mut bytes = resp.bytes_stream();
        let mut raw = String::new();
        let mut finish: Option<String> = None;
        let mut usage = Value::Null;
        let mut first_at: Option<Instant> = None;
        let mut done = false;
        let fail = |message: String, partial: &str| RemoteError::Failed {
            endpoint: self.base.clone(),
            message,
            partial: partial.to_string(),
        };
        let idle = self.timeouts.idle;
        // Whether any byte came (a keep-alive comment counts): from then on silence is timed.
        let mut heard = false;
        'read: loop {
            let next = async {
                if heard {
                    tokio::time::timeout(idle, bytes.next()).await
                } else {
                    Ok(bytes.next().await)
                }
            };
            let chunk = match unless_cancelled(cancel, next).await {
                None | Some(Ok(None)) => break,
                Some(Ok(Some(chunk))) => chunk,
                Some(Err(_)) => {
                    let message = format!(
                        "nothing came for {} s in the middle of the answer: the server or the \
                         network is gone",
                        idle.as_secs_f64()
                    );
                    return Err(fail(message, &raw));
                }
            };
            heard = true;
            let chunk = chunk.map_err(|e| RemoteError::transport(&self.base, &e, &raw))?;
            for data in reader.push(&chunk) {
                if data == "[DONE]" {
                    done = true;
                    break 'read;
                }
                let event: Value = serde_json::from_str(&data).map_err(|e| {
                    fail(
                        format!("a streamed event is not JSON ({e}): {data:.200}"),
                        &raw,
                    )
                })?;
                if let Some(error) = event.get("error") {
                    let message = error["message"].as_str().unwrap_or("an error event");
                    return Err(fail(message.to_string(), &raw));
                }
                if !event["usage"].is_null() {
                    usage = event["usage"].clone();
                }
                let choice = &event["choices"][0];
                if let Some(text) = choice["text"].as_str().filter(|t| !t.is_empty()) {
                    first_at.get_or_insert_with(Instant::now);
                    raw.push_str(text);
                    on_text(text);
                }
                if let Some(reason) = choice["finish_reason"].as_str() {
                    finish = Some(reason.to_string());
                }
            }
            if cancel.is_cancelled() {
                break;
            }
        }
        let stop_reason = if cancel.is_cancelled() && !done {
            StopReason::Cancelled
        } else if !done && finish.is_none() {
            return Err(fail("the stream ended before `data: [DONE]`".into(), &raw));
        } else if finish.as_deref() == Some("length") {
            StopReason::MaxTokens
        } else {
            StopReason::Eos
        };
        let end = Instant::now();
        // The server's counts (a JSON pointer into `usage`), 0 when absent or not a usize.
        let count = |at: &str| {
            usage
                .pointer(at)
                .and_then(Value::as_u64)
                .and_then(|n| usize::try_from(n).ok())
                .unwrap_or(0)
        };
        let generated = count("/completion_tokens");
        let mut stats = GenerationStats {
            prompt_tokens: count("/prompt_tokens"),
            // OpenAI's prompt caching field, as jslm's own server reports its reuse.
            reused_prompt_tokens: count("/prompt_tokens_details/cached_tokens"),
            generated_tokens: generated,
            total_ms: (end - start).as_secs_f64() * 1e3,
            seed,
            ..Default::default()
        };
        if let Some(t0) = first_at {
            stats.ttft_ms = (t0 - start).as_secs_f64() * 1e3;
            let decode = (end - t0).as_secs_f64();
            if generated > 1 && decode > 0.0 {
                stats.decode_tokens_per_s = (generated - 1) as f64 / decode;
            }
        }
        Ok(RemoteOutput {
            prompt,
            text: python_strip(&raw).to_string(),
            raw,
            stop_reason,
            stats,
            endpoint: self.base.clone(),
            model: self.model.clone(),
        })
    }

    /// The result of a run stopped before the server answered.
    fn cancelled(&self, prompt: String, raw: String, start: Instant, seed: u64) -> RemoteOutput {
        RemoteOutput {
            prompt,
            text: python_strip(&raw).to_string(),
            raw,
            stop_reason: StopReason::Cancelled,
            stats: GenerationStats {
                total_ms: start.elapsed().as_secs_f64() * 1e3,
                seed,
                ..Default::default()
            },
            endpoint: self.base.clone(),
            model: self.model.clone(),
        }
    }

    /// A non-2xx answer as the error it means.
    async fn check_status(
        &self,
        resp: reqwest::Response,
        model: &str,
    ) -> Result<reqwest::Response, RemoteError> {
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok());
        let wait = self.timeouts.error_body;
        let text = match error_body(resp, wait).await {
            Some(text) => text,
            None => format!("(no error message came within {} s)", wait.as_secs_f64()),
        };
        Err(status_error(
            &self.base,
            status.as_u16(),
            retry_after,
            &text,
            model,
        ))
    }
}

/// The most of an error answer's body that is read: its message is at the start, and a server
/// that sends without end must not fill the memory.
pub const ERROR_BODY_LIMIT: usize = 64 * 1024;

/// The start of an error answer's body (up to [`ERROR_BODY_LIMIT`] bytes, what came within
/// `wait`); `None` when nothing came.
async fn error_body(resp: reqwest::Response, wait: Duration) -> Option<String> {
    let mut body = Vec::new();
    let mut bytes = resp.bytes_stream();
    let read = async {
        while let Some(Ok(chunk)) = bytes.next().await {
            let room = ERROR_BODY_LIMIT - body.len();
            body.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if body.len() == ERROR_BODY_LIMIT {
                break;
            }
        }
    };
    let finished = tokio::time::timeout(wait, read).await.is_ok();
    (finished || !body.is_empty()).then(|| String::from_utf8_lossy(&body).into_owned())
}

/// The error an HTTP `status` with body `text` means, for a request for `model` (empty: the
/// model list). The body's `error.code`, when it is a string, decides first (`jslm serve`
/// and OpenAI send one; vLLM and llama.cpp send the status number there); the message's
/// words are a guess only without one.
fn status_error(
    endpoint: &str,
    status: u16,
    retry_after: Option<u64>,
    text: &str,
    model: &str,
) -> RemoteError {
    let body: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    let error = &body["error"];
    // OpenAI's shape, or vLLM's/llama.cpp's variants; else the start of the body.
    let message = error["message"]
        .as_str()
        .or(error.as_str())
        .or(body["message"].as_str())
        .map(str::to_string)
        .unwrap_or_else(|| format!("{:.300}", text.trim()));
    let code = error["code"].as_str().filter(|c| !c.is_empty());
    let endpoint = endpoint.to_string();
    let lower = message.to_lowercase();
    let unknown_model = match code {
        Some(code) => code == "model_not_found",
        // Without a code: "the model `x` does not exist" (vLLM) is about the model; a 404
        // for a wrong URL ("no route …", "Not Found") is not, even when it lists
        // `/v1/models`.
        None => lower.contains("model") && !lower.contains("route"),
    };
    match (status, code) {
        (401, _) | (403, None | Some("invalid_api_key" | "unauthorized")) => {
            RemoteError::Unauthorized {
                endpoint,
                status,
                message,
            }
        }
        // `jslm serve`'s guard on a loopback address: the request's Host is not a loopback
        // name. No key would help.
        (403, Some("forbidden")) => RemoteError::HostRefused { endpoint, message },
        (404, _) if unknown_model && !model.is_empty() => RemoteError::UnknownModel {
            endpoint,
            model: model.to_string(),
            message,
        },
        (400 | 413, Some("context_length_exceeded")) => {
            RemoteError::ContextTooLong { endpoint, message }
        }
        (400 | 413, None) if lower.contains("context") => {
            RemoteError::ContextTooLong { endpoint, message }
        }
        (429, _) => RemoteError::Busy {
            endpoint,
            retry_after,
            message,
        },
        (400..=499, _) => RemoteError::Refused {
            endpoint,
            status,
            message,
        },
        _ => RemoteError::Failed {
            endpoint,
            message: format!("HTTP {status}: {message}"),
            partial: String::new(),
        },
    }
}

/// The `top_k` sent for the engine's `top_k` (0 = off). Off is sent as -1: vLLM (before 0.8:
/// "top_k must be -1 (disable), or at least 1") and SGLang refuse 0, and -1 is off for them,
/// for llama.cpp's server (any value <= 0) and for `jslm serve`. Leaving the field out would
/// not be off: the server's default applies (vLLM: the model's generation_config, llama.cpp:
/// 40, `jslm serve`: the card's 50).
fn top_k(k: usize) -> i64 {
    if k == 0 {
        -1
    } else {
        i64::try_from(k).unwrap_or(i64::MAX)
    }
}

/// The longest wait for `/v1/models` (a list, answered at once by any working server).
pub const MODELS_TIMEOUT: Duration = Duration::from_secs(30);

/// How often a waiting request looks at its cancel flag.
pub const CANCEL_POLL: Duration = Duration::from_millis(50);

/// `fut`'s output, or `None` once `cancel` is set (checked every [`CANCEL_POLL`]).
async fn unless_cancelled<T>(
    cancel: &CancelFlag,
    fut: impl std::future::Future<Output = T>,
) -> Option<T> {
    let mut fut = std::pin::pin!(fut);
    loop {
        if cancel.is_cancelled() {
            return None;
        }
        tokio::select! {
            out = &mut fut => return Some(out),
            () = tokio::time::sleep(CANCEL_POLL) => {}
        }
    }
}

/// `url` as a base ending in `/v1`, without a trailing slash.
pub fn base_url(url: &str) -> Result<String, RemoteError> {
    let trimmed = url.trim().trim_end_matches('/');
    let invalid = |reason| RemoteError::InvalidUrl {
        url: url.to_string(),
        reason,
    };
    let rest = trimmed
        .strip_prefix("http://")
        .or_else(|| trimmed.strip_prefix("https://"))
        .ok_or_else(|| invalid("must start with http:// or https://"))?;
    if rest.is_empty() || rest.starts_with('/') {
        return Err(invalid("has no host"));
    }
    if rest.contains('@') {
        return Err(invalid(
            "must not carry credentials; set JSLM_REMOTE_API_KEY instead",
        ));
    }
    if trimmed.ends_with("/v1") {
        Ok(trimmed.to_string())
    } else {
        Ok(format!("{trimmed}/v1"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls() {
        for (given, expected) in [
            ("http://127.0.0.1:8642/v1", Some("http://127.0.0.1:8642/v1")),
            (
                "http://127.0.0.1:8642/v1/",
                Some("http://127.0.0.1:8642/v1"),
            ),
            ("http://gpu-box:8000", Some("http://gpu-box:8000/v1")),
            (
                "https://example.org/proxy/v1",
                Some("https://example.org/proxy/v1"),
            ),
            ("gpu-box:8000", None),
            ("ftp://x", None),
            ("http://", None),
            ("http://user:pw@host/v1", None),
        ] {
            assert_eq!(base_url(given).ok().as_deref(), expected, "{given}");
        }
    }

    #[test]
    fn the_key_is_not_in_debug() {
        let config = RemoteConfig {
            url: "http://h".into(),
            model: None,
            api_key: Some("sk-secret".into()),
            ..Default::default()
        };
        assert!(!format!("{config:?}").contains("sk-secret"));
    }
}
