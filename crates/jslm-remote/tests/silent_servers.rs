//! Servers that stop sending (fakes on a free loopback port): an error answer whose body
//! stalls or never ends, a stream that goes silent. Each ends the run within its limit
//! (short ones here) or at Stop, keeping what arrived.

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use futures_util::StreamExt;
use jslm_engine::{CancelFlag, GenerationRequest, GenerationSettings, StopReason};
use jslm_remote::{Remote, RemoteConfig, RemoteError, Timeouts};
use std::time::Duration;

/// Longer than any limit below, far shorter than the defaults (30 s, 120 s).
const PROMPTLY: Duration = Duration::from_secs(5);

const SHORT: Timeouts = Timeouts {
    error_body: Duration::from_millis(200),
    idle: Duration::from_millis(200),
};

async fn fake(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/v1")
}

/// `first`, then nothing, ever (the connection stays open).
fn stalls_after(first: &'static str) -> Body {
    let first = futures_util::stream::once(async move { Ok::<_, std::io::Error>(first) });
    Body::from_stream(first.chain(futures_util::stream::pending()))
}

/// Answers `POST /v1/completions` with `status`, `content_type` and `body`.
fn completions(status: StatusCode, content_type: &'static str, body: fn() -> Body) -> axum::Router {
    axum::Router::new().route(
        "/v1/completions",
        post(move || async move { (status, [("content-type", content_type)], body()).into_response() }),
    )
}

async fn connect(url: &str, timeouts: Timeouts) -> Remote {
    Remote::connect(RemoteConfig {
        url: url.to_string(),
        model: Some("m".into()),
        timeouts,
        ..Default::default()
    })
    .await
    .unwrap()
}

/// A run against `app` with the short limits: it must fail, and within [`PROMPTLY`].
async fn fails_promptly(app: axum::Router, limit: &str) -> RemoteError {
    let remote = connect(&fake(app).await, SHORT).await;
    tokio::time::timeout(
        PROMPTLY,
        remote.generate(&request(), &CancelFlag::new(), |_| {}),
    )
    .await
    .expect(limit)
    .unwrap_err()
}

fn request() -> GenerationRequest {
    GenerationRequest {
        instruction: "日本の首都はどこですか？".into(),
        input: String::new(),
        settings: GenerationSettings::greedy(8),
    }
}

/// Sets `cancel` after `after`, as the Stop button does.
fn stop_after(cancel: &CancelFlag, after: Duration) {
    let cancel = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(after).await;
        cancel.cancel();
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_ends_an_error_answer_whose_body_stalls() {
    let app = completions(
        StatusCode::INTERNAL_SERVER_ERROR,
        "application/json",
        || stalls_after("{\"error\": "),
    );
    // The default limits: only Stop can end it this soon.
    let remote = connect(&fake(app).await, Timeouts::default()).await;
    let cancel = CancelFlag::new();
    stop_after(&cancel, Duration::from_millis(100));
    let out = tokio::time::timeout(PROMPTLY, remote.generate(&request(), &cancel, |_| {}))
        .await
        .expect("Stop ends the wait for the error's body")
        .unwrap();
    assert_eq!(out.stop_reason, StopReason::Cancelled);
    assert_eq!(out.raw, "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_body_is_read_for_a_limited_time_and_size() {
    // Stalls: what came within the limit is the message.
    let app = completions(
        StatusCode::INTERNAL_SERVER_ERROR,
        "application/json",
        || stalls_after("{\"error\": "),
    );
    let e = fails_promptly(app, "the error body's time limit").await;
    assert_eq!(e.code().as_str(), "remote_failed");
    assert!(e.to_string().contains("HTTP 500"), "{e}");
    // Sends nothing after the headers: said so.
    let app = completions(StatusCode::BAD_GATEWAY, "text/plain", || {
        Body::from_stream(futures_util::stream::pending::<
            Result<&'static str, std::io::Error>,
        >())
    });
    let e = fails_promptly(app, "the error body's time limit").await;
    assert!(e.to_string().contains("HTTP 502"), "{e}");
    // Never ends: read up to the size limit only (the time limit is the default 30 s).
    let app = completions(StatusCode::BAD_REQUEST, "text/plain", || {
        let chunk = "x".repeat(8192);
        Body::from_stream(futures_util::stream::repeat_with(move || {
            Ok::<_, std::io::Error>(chunk.clone())
        }))
    });
    let remote = connect(&fake(app).await, Timeouts::default()).await;
    let e = tokio::time::timeout(
        PROMPTLY,
        remote.generate(&request(), &CancelFlag::new(), |_| {}),
    )
    .await
    .expect("the error body's size limit")
    .unwrap_err();
    assert!(matches!(e, RemoteError::Refused { status: 400, .. }), "{e}");
    assert!(
        e.to_string().len() < 1000,
        "the message is the body's start"
    );
    // Finding the model: the same limit.
    let app = axum::Router::new().route(
        "/v1/models",
        get(|| async { (StatusCode::UNAUTHORIZED, stalls_after("{\"error\": ")) }),
    );
    let url = fake(app).await;
    let config = RemoteConfig {
        url,
        timeouts: SHORT,
        ..Default::default()
    };
    let e = tokio::time::timeout(PROMPTLY, Remote::connect(config))
        .await
        .expect("the error body's time limit")
        .err()
        .unwrap();
    assert_eq!(e.code().as_str(), "unauthorized");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_that_goes_silent_ends_keeping_the_partial_answer() {
    let app = completions(StatusCode::OK, "text/event-stream", || {
        stalls_after("data: {\"choices\":[{\"text\":\"東京\",\"finish_reason\":null}]}\n\n")
    });
    let remote = connect(&fake(app).await, SHORT).await;
    let mut seen = String::new();
    let e = tokio::time::timeout(
        PROMPTLY,
        remote.generate(&request(), &CancelFlag::new(), |t| seen.push_str(t)),
    )
    .await
    .expect("the idle limit")
    .unwrap_err();
    assert_eq!(e.code().as_str(), "remote_failed");
    assert_eq!(e.partial(), Some("東京"));
    assert_eq!(seen, "東京");
    assert!(e.to_string().contains("nothing came"), "{e}");
    // A keep-alive comment is a sign of life, and starts the clock too.
    let app = completions(StatusCode::OK, "text/event-stream", || {
        stalls_after(": keep-alive\n\n")
    });
    let e = fails_promptly(app, "the idle limit").await;
    assert_eq!(e.code().as_str(), "remote_failed");
    assert_eq!(e.partial(), None);
}

/// Before its first byte a server may be keeping the request in its queue without a word
/// (vLLM, llama.cpp's server): no idle limit then, Stop ends the wait.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn before_the_first_byte_only_stop_ends_the_wait() {
    let app = completions(StatusCode::OK, "text/event-stream", || {
        Body::from_stream(futures_util::stream::pending::<
            Result<&'static str, std::io::Error>,
        >())
    });
    let remote = connect(&fake(app).await, SHORT).await;
    let cancel = CancelFlag::new();
    stop_after(&cancel, Duration::from_millis(400));
    let out = tokio::time::timeout(PROMPTLY, remote.generate(&request(), &cancel, |_| {}))
        .await
        .expect("Stop ends the wait")
        .unwrap();
    assert_eq!(out.stop_reason, StopReason::Cancelled);
}
