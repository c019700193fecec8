//! The HTTP surface: `GET /v1/models`, `GET /v1/models/{model}`, `POST /v1/completions`,
//! `POST /v1/chat/completions`, and the guard every request passes first.
//!
//! Order of checks, so a request learns the first thing wrong with it: Host header (on a
//! loopback bind only loopback names, see [`loopback_host`]: a web page that rebinds its own
//! name to 127.0.0.1 cannot reach the server) → API key (401) → JSON content type (415: a
//! browser cannot send one cross-origin without a CORS preflight, which is refused unless
//! origins were named) → body size (413) → fields (400) → model name (404) → prompt length
//! against the context (400; tokenized on a blocking thread) → a place in the queue (429 with
//! `Retry-After`). Only then does the request wait for the engine.

use crate::chat;
use crate::config::ServerConfig;
use crate::error::ApiError;
use crate::gate::QueueFull;
use crate::generation::{self, Job, Piece, Running};
use crate::model::ServedModel;
use crate::request::{self, rename_field, OpenAiRequest};
use crate::response::{Header, Route};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use jslm_core::ErrorCode;
use std::convert::Infallible;
use std::sync::Arc;

#[derive(Clone)]
struct AppState {
    model: ServedModel,
    config: Arc<ServerConfig>,
}

/// The server's routes over `model`, guarded as `config` says.
pub fn router(model: ServedModel, config: &ServerConfig) -> Router {
    let state = AppState {
        model,
        config: Arc::new(config.clone()),
    };
    let router = Router::new()
        .route("/v1/models", get(models))
        // A wildcard: served names may hold `/` (`stabilityai/japanese-stablelm-…`), which
        // clients send as they are or as `%2F`; both arrive decoded.
        .route("/v1/models/{*id}", get(one_model))
        .route("/v1/completions", post(completions))
        .route("/v1/chat/completions", post(chat_completions))
        .fallback(fallback)
        .method_not_allowed_fallback(wrong_method)
        .layer(middleware::from_fn_with_state(state.clone(), guard))
        .layer(DefaultBodyLimit::max(config.body_limit))
        .with_state(state);
    if config.cors_origins.is_empty() {
        return router;
    }
    let origins: Vec<header::HeaderValue> = config
        .cors_origins
        .iter()
        .filter_map(|o| header::HeaderValue::from_str(o).ok())
        .collect();
    router.layer(
        tower_http::cors::CorsLayer::new()
            .allow_origin(origins)
            .allow_methods([Method::GET, Method::POST])
            // Whatever headers the page asks for, for the origins the user allowed: the
            // OpenAI JS SDK sends its own (`x-stainless-os`, `x-stainless-retry-count`, ...),
            // and a list of ours would make the browser refuse each of its requests.
            .allow_headers(tower_http::cors::AllowHeaders::mirror_request()),
    )
}

async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let config = &state.config;
    if !host_allowed(config.host, request.headers()) {
        return ApiError::forbidden_host().into_response();
    }
    if let Some(key) = &config.api_key {
        let given = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(bearer_token)
            .unwrap_or("");
        if !key.matches(given) {
            return ApiError::unauthorized().into_response();
        }
    }
    if request.method() == Method::POST && !is_json(request.headers()) {
        return ApiError::unsupported_media_type().into_response();
    }
    next.run(request).await
}

/// The token of an `Authorization: Bearer TOKEN` header. The scheme is matched without
/// regard to case (RFC 7235: `bearer`, `BEARER`), and one or more spaces may follow it (its
/// grammar is `auth-scheme 1*SP token68`); `None` for another scheme.
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim_start_matches(' '))
}

/// Whether a request with these headers may reach a server bound to `bound`. On a loopback
/// bind, only requests addressed to a loopback name (the DNS-rebinding guard). On any other
/// bind the Host is whatever name the network knows this machine by, so it is not checked:
/// such a server requires an API key, which a web page does not have.
fn host_allowed(bound: std::net::IpAddr, headers: &HeaderMap) -> bool {
    !bound.is_loopback() || loopback_host(headers)
}

/// Whether the Host header names this machine's loopback (any port); a request without one
/// (HTTP/1.0) is not from a browser. Loopback names: `localhost`, `127.0.0.1`, `[::1]`, any
/// `*.localhost` (RFC 6761: always loopback, never sent to DNS, so an attacker cannot point
/// one at a page of theirs), and `host.docker.internal`, Docker Desktop's name for the host
/// in its containers (a web page cannot be served from that name either; and what a
/// cross-origin page could still send without a preflight is not JSON, refused with 415).
fn loopback_host(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST) else {
        return true;
    };
    let Ok(host) = host.to_str() else {
        return false;
    };
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().map(|h| format!("[{h}]")),
        None => host.split(':').next().map(str::to_string),
    };
    let Some(name) = name.map(|n| n.to_ascii_lowercase()) else {
        return false;
    };
    let is_label = |label: &str| {
        !label.is_empty()
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    match name.as_str() {
        "localhost" | "127.0.0.1" | "[::1]" | "host.docker.internal" => true,
        other => other
            .strip_suffix(".localhost")
            .is_some_and(|sub| sub.split('.').all(is_label)),
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"))
}

async fn fallback(request: Request) -> ApiError {
    ApiError::not_found(request.uri().path())
}

async fn wrong_method(request: Request) -> ApiError {
    ApiError::method_not_allowed(request.method(), request.uri().path())
}

async fn models(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "object": "list",
        "data": [model_object(&state.model)],
    }))
}

/// OpenAI's "retrieve model": the list's object, or 404 `model_not_found`.
async fn one_model(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let model = &state.model;
    if id != model.id() {
        return Err(ApiError::model_not_served(&id, model.id()));
    }
    Ok(Json(model_object(model)))
}

fn model_object(model: &ServedModel) -> serde_json::Value {
    serde_json::json!({
        "id": model.id(),
        "object": "model",
        "created": model.created(),
        "owned_by": "jslm",
        "max_model_len": model.engine().info().context_length,
    })
}

async fn completions(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    answer(&state, body, Route::Completions)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn chat_completions(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    answer(&state, body, Route::Chat)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn answer(
    state: &AppState,
    body: Result<Bytes, BytesRejection>,
    route: Route,
) -> Result<Response, ApiError> {
    let body = body.map_err(|rejection| match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::too_large(state.config.body_limit),
        _ => ApiError::malformed(rejection.body_text()),
    })?;
    let request = request::parse(&body)?;
    let sampling = request.sampling()?;
    let prompt = prompt_of(&request, route)?;
    let model = &state.model;
    // Before the tokenizer: a request for another model is answered without that work.
    if let Some(asked) = request.model.as_deref().filter(|m| *m != model.id()) {
        return Err(ApiError::model_not_served(asked, model.id()));
    }
    if model.is_closed() {
        return Err(ApiError::unavailable());
    }
    // Empty prompts and prompts too long for the context are refused before queueing. The
    // tokenizer takes a while on a long prompt (bodies may be 1 MiB): not on the runtime's
    // threads, which answer every other connection. (No cheaper refusal by byte count: no
    // number of bytes is sure to overflow, as a tokenizer's normalizer may shorten text.)
    let (prompt, prepared) = {
        let (model, settings) = (model.clone(), sampling.settings.clone());
        tokio::task::spawn_blocking(move || {
            let prepared = model.engine().prepare_raw(&prompt, &settings);
            (prompt, prepared)
        })
        .await
        .map_err(|e| {
            tracing::error!("the tokenizer's thread died: {e}");
            ApiError::internal(ErrorCode::Internal)
        })?
    };
    let field = sampling.max_tokens_field;
    prepared.map_err(|e| ApiError::from_engine(&e, |f| rename_field(f, field)))?;
    let place = model
        .gate()
        .try_place()
        .map_err(|QueueFull { retry_after_s }| {
            model.counters().refused();
            ApiError::queue_full(retry_after_s)
        })?;
    let header = Header::new(route, model.id());
    let job = Job {
        prompt,
        settings: sampling.settings,
        stops: sampling.stops,
        trim: route == Route::Chat,
        max_tokens_field: field,
    };
    let running = generation::start(model, place, job);
    if sampling.stream {
        Ok(stream(header, running, sampling.include_usage).into_response())
    } else {
        whole(header, running).await
    }
}

fn prompt_of(request: &OpenAiRequest, route: Route) -> Result<String, ApiError> {
    match route {
        Route::Completions => request.raw_prompt(),
        Route::Chat => {
            let messages = request
                .messages
                .as_deref()
                .ok_or_else(|| ApiError::invalid("messages", "is required"))?;
            chat::render(messages, request.input.as_deref())
        }
    }
}

async fn whole(header: Header, mut running: Running) -> Result<Response, ApiError> {
    let mut text = String::new();
    while let Some(piece) = running.pieces.recv().await {
        match piece {
            Piece::Text(t) => text.push_str(&t),
            Piece::End(outcome) => return Ok(Json(header.whole(&text, &outcome)).into_response()),
            Piece::Failed(e) => return Err(e),
        }
    }
    Err(ApiError::internal(ErrorCode::Internal))
}

/// Where a stream is.
enum Phase {
    Opening,
    Text,
    Usage(crate::generation::Outcome),
    Done,
    Over,
}

fn stream(header: Header, running: Running, include_usage: bool) -> impl IntoResponse {
    let events = futures_util::stream::unfold(
        (running, header, Phase::Opening),
        move |(mut running, header, phase)| async move {
            let (event, next) = match phase {
                Phase::Over => return None,
                Phase::Done => (Event::default().data("[DONE]"), Phase::Over),
                Phase::Usage(outcome) => (json_event(&header.usage_chunk(&outcome)), Phase::Done),
                Phase::Opening if header.route == Route::Chat => {
                    let opening = header.opening().unwrap_or_default();
                    (json_event(&opening), Phase::Text)
                }
                Phase::Opening | Phase::Text => match running.pieces.recv().await {
                    Some(Piece::Text(t)) => (json_event(&header.text_chunk(&t)), Phase::Text),
                    Some(Piece::End(outcome)) => {
                        let next = if include_usage {
                            Phase::Usage(outcome)
                        } else {
                            Phase::Done
                        };
                        (json_event(&header.closing(&outcome)), next)
                    }
                    // An error after the stream began: OpenAI's error object, then the end.
                    Some(Piece::Failed(e)) => (json_event(&e.body()), Phase::Over),
                    None => (
                        json_event(&ApiError::internal(ErrorCode::Internal).body()),
                        Phase::Over,
                    ),
                },
            };
            Some((Ok::<_, Infallible>(event), (running, header, next)))
        },
    );
    Sse::new(events).keep_alive(KeepAlive::default())
}

fn json_event(value: &serde_json::Value) -> Event {
    Event::default().data(value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, value.parse().unwrap());
        headers
    }

    #[test]
    fn only_loopback_host_names_pass() {
        for (name, ok) in [
            ("localhost:8642", true),
            ("127.0.0.1:8642", true),
            ("127.0.0.1", true),
            ("[::1]:8642", true),
            ("LOCALHOST", true),
            // RFC 6761: every *.localhost name is loopback.
            ("app.localhost:8642", true),
            ("a.b-c.localhost", true),
            ("My.LocalHost", true),
            // Docker Desktop's name for the host, from a container.
            ("host.docker.internal:8642", true),
            ("HOST.DOCKER.INTERNAL", true),
            ("evil.example:8642", false),
            ("localhost.evil.example", false),
            ("evillocalhost", false),
            (".localhost", false),
            ("a..localhost", false),
            ("a_b.localhost", false),
            ("evil.host.docker.internal", false),
            ("docker.internal", false),
            ("127.0.0.1.nip.io", false),
            ("[::2]:1", false),
        ] {
            assert_eq!(loopback_host(&host(name)), ok, "{name}");
        }
        assert!(loopback_host(&HeaderMap::new()));
    }

    /// On a loopback bind the Host must be a loopback name; on any other bind (which needs an
    /// API key) it is not checked: clients reach it by whatever name the network gives it.
    #[test]
    fn the_host_is_checked_on_loopback_binds_only() {
        let loopback: [std::net::IpAddr; 2] =
            ["127.0.0.1".parse().unwrap(), "::1".parse().unwrap()];
        let open: [std::net::IpAddr; 3] = [
            "0.0.0.0".parse().unwrap(),
            "192.168.1.5".parse().unwrap(),
            "::".parse().unwrap(),
        ];
        for bound in loopback {
            assert!(host_allowed(bound, &host("localhost:8642")), "{bound}");
            assert!(!host_allowed(bound, &host("gpu-box:8642")), "{bound}");
        }
        for bound in open {
            assert!(host_allowed(bound, &host("gpu-box:8642")), "{bound}");
            assert!(host_allowed(bound, &host("192.168.1.5:8642")), "{bound}");
        }
    }

    #[test]
    fn bearer_schemes_in_any_case() {
        for (value, token) in [
            ("Bearer sk-1", Some("sk-1")),
            ("bearer sk-1", Some("sk-1")),
            ("BEARER sk-1", Some("sk-1")),
            // RFC 7235's grammar allows several spaces after the scheme.
            ("Bearer   sk-1", Some("sk-1")),
            (" Bearer sk-1 ", Some("sk-1")),
            ("Bearer ", None),
            ("Basic sk-1", None),
            ("Bearersk-1", None),
            ("sk-1", None),
            ("", None),
        ] {
            assert_eq!(bearer_token(value), token, "{value:?}");
        }
    }

    #[test]
    fn json_content_types() {
        for (value, ok) in [
            ("application/json", true),
            ("application/json; charset=utf-8", true),
            ("Application/JSON", true),
            ("text/plain", false),
            ("application/x-www-form-urlencoded", false),
        ] {
            let mut headers = HeaderMap::new();
            headers.insert(header::CONTENT_TYPE, value.parse().unwrap());
            assert_eq!(is_json(&headers), ok, "{value}");
        }
        assert!(!is_json(&HeaderMap::new()));
    }
}
