//! The remote backend against our own server (`jslm-server` over the tiny model, in process):
//! greedy answers equal the local engine's, a sampled one's reported seed repeats it locally;
//! each failure is its own error — unreachable, TLS, 401, the Host refused, unknown model, a
//! wrong URL, context too long, 5xx, and a stream that breaks off (partial kept).

use jslm_engine::{CancelFlag, Engine, GenerationRequest, GenerationSettings, LoadOptions};
use jslm_remote::{Remote, RemoteConfig, RemoteError};
use jslm_server::{ApiKey, Gate, ServedModel, Server, ServerConfig};
use std::path::PathBuf;
use std::sync::Arc;

fn engine() -> Arc<Engine> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/tiny-mistral");
    Arc::new(Engine::load(&path, &LoadOptions::default(), |_| {}).unwrap())
}

/// Serves `engine` on a free loopback port; returns the base URL.
async fn serve(engine: Arc<Engine>, api_key: Option<&str>) -> String {
    let config = ServerConfig {
        port: 0,
        api_key: api_key.map(|k| ApiKey::new(k).unwrap()),
        ..Default::default()
    };
    let model = ServedModel::new(engine, "tiny", Gate::new(4));
    let server = Server::bind(model, &config).await.unwrap();
    let url = server.base_url();
    tokio::spawn(server.run(std::future::pending()));
    url
}

/// A plain axum app on a free port (for failures our server never makes).
async fn fake(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/v1")
}

fn request(max_new_tokens: usize) -> GenerationRequest {
    GenerationRequest {
        instruction: "日本の首都はどこですか？".into(),
        input: String::new(),
        settings: GenerationSettings::greedy(max_new_tokens),
    }
}

async fn connect(url: &str, model: Option<&str>, key: Option<&str>) -> Result<Remote, RemoteError> {
    Remote::connect(RemoteConfig {
        url: url.to_string(),
        model: model.map(str::to_string),
        api_key: key.map(str::to_string),
        ..Default::default()
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_greedy_answer_is_the_local_one() {
    let engine = engine();
    let local = engine
        .generate(&request(24), &CancelFlag::new(), |_| {})
        .unwrap();
    let url = serve(engine, Some("sk-r")).await;
    // Without a model name, the server's first (only) one.
    let remote = connect(&url, None, Some("sk-r")).await.unwrap();
    assert_eq!(remote.model(), "tiny");
    let mut streamed = String::new();
    let out = remote
        .generate(&request(24), &CancelFlag::new(), |t| streamed.push_str(t))
        .await
        .unwrap();
    assert_eq!(out.prompt, local.prompt);
    assert_eq!(out.text, local.text);
    assert_eq!(streamed, out.raw);
    assert_eq!(out.stop_reason, local.stop_reason);
    assert_eq!(out.stats.prompt_tokens, local.prompt_token_ids.len());
    assert_eq!(out.stats.generated_tokens, local.generated_token_ids.len());
    assert_eq!(
        (out.endpoint.as_str(), out.model.as_str()),
        (url.as_str(), "tiny")
    );
    // A base URL without /v1 works too.
    let bare = connect(url.trim_end_matches("/v1"), Some("tiny"), Some("sk-r"))
        .await
        .unwrap();
    let again = bare
        .generate(&request(24), &CancelFlag::new(), |_| {})
        .await
        .unwrap();
    assert_eq!(again.text, local.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_failure_is_its_own_error() {
    let url = serve(engine(), Some("sk-r")).await;
    let code = |e: RemoteError| e.code().as_str();
    // 401: no key, wrong key; the key never appears in the message.
    let e = connect(&url, None, None).await.err().unwrap();
    assert_eq!(code(e), "unauthorized");
    let e = connect(&url, Some("tiny"), Some("sk-wrong"))
        .await
        .unwrap()
        .generate(&request(4), &CancelFlag::new(), |_| {})
        .await
        .unwrap_err();
    assert!(!e.to_string().contains("sk-wrong"), "{e}");
    assert_eq!(code(e), "unauthorized");
    // Unknown model.
    let e = connect(&url, Some("gpt-4o"), Some("sk-r"))
        .await
        .unwrap()
        .generate(&request(4), &CancelFlag::new(), |_| {})
        .await
        .unwrap_err();
    assert!(matches!(e, RemoteError::UnknownModel { .. }), "{e}");
    // A URL with a wrong path: "no route", not a model the server lacks.
    let wrong = url.replace("/v1", "/api/v1");
    let e = connect(&wrong, Some("tiny"), Some("sk-r"))
        .await
        .unwrap()
        .generate(&request(4), &CancelFlag::new(), |_| {})
        .await
        .unwrap_err();
    assert!(matches!(e, RemoteError::Refused { status: 404, .. }), "{e}");
    assert!(e.to_string().contains("no route"), "{e}");
    // Prompt + max tokens over the server's context.
    let e = connect(&url, Some("tiny"), Some("sk-r"))
        .await
        .unwrap()
        .generate(&request(4096), &CancelFlag::new(), |_| {})
        .await
        .unwrap_err();
    assert_eq!(code(e), "context_overflow");
    // Nobody listens.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let e = connect(&format!("http://{closed}/v1"), Some("m"), None)
        .await
        .unwrap()
        .generate(&request(4), &CancelFlag::new(), |_| {})
        .await
        .unwrap_err();
    assert_eq!(code(e), "remote_unreachable");
    // TLS to a server that speaks plain HTTP: the handshake fails, as TLS.
    let https = url.replacen("http://", "https://", 1);
    let e = connect(&https, None, Some("sk-r")).await.err().unwrap();
    assert_eq!(code(e), "tls");
    let e = connect("gpu-box:8000", None, None).await.err().unwrap();
    assert_eq!(code(e), "invalid_request");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_and_broken_streams_keep_the_partial_answer() {
    use axum::routing::post;
    let app = axum::Router::new().route(
        "/v1/completions",
        post(|| async {
            // Two pieces of text, then the connection ends without [DONE].
            let body = "data: {\"choices\":[{\"text\":\"東京\",\"finish_reason\":null}]}\n\n\
                            data: {\"choices\":[{\"text\":\"です\",\"finish_reason\":null}]}\n\n";
            ([("content-type", "text/event-stream")], body)
        }),
    );
    let url = fake(app).await;
    let remote = connect(&url, Some("m"), None).await.unwrap();
    let mut seen = String::new();
    let e = remote
        .generate(&request(8), &CancelFlag::new(), |t| seen.push_str(t))
        .await
        .unwrap_err();
    assert_eq!(e.code().as_str(), "remote_failed");
    assert_eq!(e.partial(), Some("東京です"));
    assert_eq!(seen, "東京です");
    assert!(e.to_string().contains("kept"), "{e}");

    let error_event = axum::Router::new().route(
        "/v1/completions",
        post(|| async {
            let body = "data: {\"choices\":[{\"text\":\"途中\"}]}\n\n\
                        data: {\"error\":{\"message\":\"CUDA out of memory\"}}\n\n";
            ([("content-type", "text/event-stream")], body)
        }),
    );
    let url = fake(error_event).await;
    let e = connect(&url, Some("m"), None)
        .await
        .unwrap()
        .generate(&request(8), &CancelFlag::new(), |_| {})
        .await
        .unwrap_err();
    assert_eq!(e.partial(), Some("途中"));
    assert!(e.to_string().contains("CUDA out of memory"), "{e}");

    let failing = axum::Router::new().route(
        "/v1/completions",
        post(|| async {
            (
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                "{\"error\":{\"message\":\"boom\"}}",
            )
        }),
    );
    let url = fake(failing).await;
    let e = connect(&url, Some("m"), None)
        .await
        .unwrap()
        .generate(&request(8), &CancelFlag::new(), |_| {})
        .await
        .unwrap_err();
    assert_eq!(e.code().as_str(), "remote_failed");
    assert!(e.to_string().contains("HTTP 500: boom"), "{e}");
    assert_eq!(e.partial(), None);
}

/// `jslm serve`'s Host guard (403 `forbidden`) is not a key problem; a 404 is a model
/// problem when its code says so, or (without a code) its words, but never a "no route".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_are_told_apart_by_their_code_first() {
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    use axum::routing::{get, post};
    use jslm_server::ApiError;
    // The real server's answers, from a fake at an address the guard would let through.
    let host = axum::Router::new()
        .route(
            "/v1/models",
            get(|| async { ApiError::forbidden_host().into_response() }),
        )
        .route(
            "/v1/completions",
            post(|| async { ApiError::forbidden_host().into_response() }),
        );
    let url = fake(host).await;
    for e in [
        connect(&url, None, Some("sk-r")).await.err().unwrap(),
        connect(&url, Some("m"), Some("sk-r"))
            .await
            .unwrap()
            .generate(&request(4), &CancelFlag::new(), |_| {})
            .await
            .unwrap_err(),
    ] {
        assert!(matches!(e, RemoteError::HostRefused { .. }), "{e}");
        assert_eq!(e.code().as_str(), "forbidden");
        let text = e.to_string();
        assert!(!text.contains("JSLM_REMOTE_API_KEY"), "{text}");
        assert!(text.contains("Host: localhost"), "{text}");
    }
    // (status, body, whether it is the model's fault)
    let cases: [(u16, &str, bool); 6] = [
        // jslm serve's own.
        (
            404,
            &ApiError::model_not_served("m", "tiny").body().to_string(),
            true,
        ),
        (
            404,
            &ApiError::not_found("/x/v1/completions").body().to_string(),
            false,
        ),
        // vLLM's: the status number as the code, so the words decide.
        (
            404,
            r#"{"object":"error","message":"The model `m` does not exist.","type":"NotFoundError","param":null,"code":404}"#,
            true,
        ),
        // Without a code, a route's 404 that names /v1/models is still no model error.
        (
            404,
            r#"{"error":{"message":"no route /x: this server has GET /v1/models"}}"#,
            false,
        ),
        (404, "404 page not found", false),
        // A code that is not the model's, with words that mention it.
        (
            404,
            r#"{"error":{"message":"no such model endpoint","code":"not_found"}}"#,
            false,
        ),
    ];
    for (status, body, model_fault) in cases {
        let body = body.to_string();
        let app = axum::Router::new().route(
            "/v1/completions",
            post(move || async move {
                let status = StatusCode::from_u16(status).unwrap();
                (status, [("content-type", "application/json")], body).into_response()
            }),
        );
        let e = connect(&fake(app).await, Some("m"), None)
            .await
            .unwrap()
            .generate(&request(4), &CancelFlag::new(), |_| {})
            .await
            .unwrap_err();
        let is_model = matches!(e, RemoteError::UnknownModel { .. });
        assert_eq!(is_model, model_fault, "{e}");
        if !model_fault {
            assert!(matches!(e, RemoteError::Refused { status: 404, .. }), "{e}");
        }
    }
    // A 403 without a code is still taken for a key problem (proxies in front of servers).
    let app = axum::Router::new().route(
        "/v1/completions",
        post(|| async { (StatusCode::FORBIDDEN, "Forbidden") }),
    );
    let e = connect(&fake(app).await, Some("m"), None)
        .await
        .unwrap()
        .generate(&request(4), &CancelFlag::new(), |_| {})
        .await
        .unwrap_err();
    assert_eq!(e.code().as_str(), "unauthorized", "{e}");
}

/// A run without a seed reports the one it sent, and that seed repeats the run: the same
/// sampled answer from the local engine. `top_k: 0` (off) is accepted by `jslm serve`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sampled_run_reports_the_seed_that_repeats_it() {
    let url = serve(engine(), None).await;
    let mut asked = request(16);
    asked.settings = GenerationSettings {
        max_new_tokens: 16,
        do_sample: true,
        temperature: 1.0,
        top_p: 1.0,
        top_k: 0,
        repetition_penalty: 1.0,
        seed: None,
    };
    let remote = connect(&url, Some("tiny"), None).await.unwrap();
    let out = remote
        .generate(&asked, &CancelFlag::new(), |_| {})
        .await
        .unwrap();
    let seed = out.stats.seed;
    assert!(seed <= jslm_engine::settings::MAX_SEED);
    asked.settings.seed = Some(seed);
    // Another engine, with an empty prompt cache, as a rerun elsewhere would be.
    let local = engine()
        .generate(&asked, &CancelFlag::new(), |_| {})
        .unwrap();
    assert_eq!(local.stats.seed, seed);
    assert_eq!(out.text, local.text);
    // Two runs without a seed draw two seeds.
    asked.settings.seed = None;
    let other = remote
        .generate(&asked, &CancelFlag::new(), |_| {})
        .await
        .unwrap();
    assert_ne!(other.stats.seed, seed);
}

/// Every setting reaches the server under the names vLLM and llama.cpp's server read, with the
/// card's prompt as it is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_request_carries_every_setting() {
    use axum::routing::post;
    use std::sync::Mutex;
    let seen: Arc<Mutex<Option<serde_json::Value>>> = Arc::default();
    let keep = seen.clone();
    let app = axum::Router::new().route(
        "/v1/completions",
        post(
            move |axum::Json(body): axum::Json<serde_json::Value>| async move {
                *keep.lock().unwrap() = Some(body);
                let body =
                    "data: {\"choices\":[{\"text\":\"東京\",\"finish_reason\":\"stop\"}]}\n\n\
                        data: [DONE]\n\n";
                ([("content-type", "text/event-stream")], body)
            },
        ),
    );
    let url = fake(app).await;
    let mut asked = request(33);
    asked.settings = GenerationSettings {
        max_new_tokens: 33,
        do_sample: true,
        temperature: 0.7,
        top_p: 0.9,
        top_k: 40,
        repetition_penalty: 1.1,
        seed: Some(7),
    };
    let remote = connect(&url, Some("m"), None).await.unwrap();
    remote
        .generate(&asked, &CancelFlag::new(), |_| {})
        .await
        .unwrap();
    let body = seen.lock().unwrap().take().unwrap();
    let prompt = jslm_engine::PromptTemplate.build(&asked.instruction, "");
    assert_eq!(body["prompt"], prompt.as_str());
    assert_eq!(body["max_tokens"], 33);
    assert_eq!(body["temperature"], 0.7);
    assert_eq!(body["top_p"], 0.9);
    assert_eq!(body["top_k"], 40);
    assert_eq!(body["repetition_penalty"], 1.1);
    assert_eq!(body["repeat_penalty"], 1.1, "llama.cpp's name");
    assert_eq!(body["seed"], 7);
    // Off is -1 for top_k (0 is refused by vLLM before 0.8 and SGLang); without a seed, one is
    // drawn, sent and reported.
    asked.settings.top_k = 0;
    asked.settings.seed = None;
    let out = remote
        .generate(&asked, &CancelFlag::new(), |_| {})
        .await
        .unwrap();
    let body = seen.lock().unwrap().take().unwrap();
    assert_eq!(body["top_k"], -1);
    let sent = body["seed"].as_u64().expect("a seed is always sent");
    assert_eq!(out.stats.seed, sent);
}
