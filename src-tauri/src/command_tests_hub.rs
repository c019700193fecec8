//! The model manager's commands through the mock runtime against the local test hub
//! (`jslm-hubtest`) serving the tiny model as the catalog's gated official repo: 401/403,
//! token handling, download, pause and resume, use, delete.

use crate::command_tests::invoke;
use crate::hub::HubState;
use crate::launch::LaunchOptions;
use jslm_hub::{HubConfig, TokenStore};
use jslm_hubtest::{FakeRepo, Fault, FaultKind, HubTestServer, ServerConfig, TokenGrant};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tauri::test::{mock_builder, MockRuntime};
use tauri::{Manager, WebviewWindow};

const OFFICIAL: &str = "stabilityai/japanese-stablelm-instruct-gamma-7b";
const CHANNEL: &str = "__CHANNEL__:9";

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/tiny-mistral")
}

/// `model.safetensors.index.json` naming every tensor of the one-file fixture.
fn shard_index(safetensors: &[u8]) -> Vec<u8> {
    let len = u64::from_le_bytes(safetensors[..8].try_into().expect("header length")) as usize;
    let header: serde_json::Map<String, Value> =
        serde_json::from_slice(&safetensors[8..8 + len]).expect("safetensors header");
    let weight_map: serde_json::Map<String, Value> = header
        .keys()
        .filter(|k| *k != "__metadata__")
        .map(|k| (k.clone(), json!("model.safetensors")))
        .collect();
    serde_json::to_vec(
        &json!({"metadata": {"total_size": safetensors.len()}, "weight_map": weight_map}),
    )
    .expect("index json")
}

/// The tiny model as the official (gated) repo, as the catalog expects its files.
fn official_repo() -> FakeRepo {
    let dir = fixture();
    let read = |name: &str| std::fs::read(dir.join(name)).expect("fixture file");
    let weights = read("model.safetensors");
    FakeRepo::new(
        OFFICIAL,
        vec![
            ("config.json", read("config.json")),
            ("generation_config.json", read("generation_config.json")),
            ("tokenizer.json", read("tokenizer.json")),
            ("tokenizer_config.json", read("tokenizer_config.json")),
            ("special_tokens_map.json", read("special_tokens_map.json")),
            ("model.safetensors.index.json", shard_index(&weights)),
            ("model.safetensors", weights),
        ],
    )
    .gated()
}

struct Hub {
    runtime: tokio::runtime::Runtime,
    server: HubTestServer,
}

fn start_hub() -> Hub {
    start_hub_with(ServerConfig {
        repos: vec![official_repo()],
        tokens: vec![
            TokenGrant::new("hf_accepted", "tester", &[OFFICIAL]),
            TokenGrant::new("hf_no_terms", "newcomer", &[]),
        ],
        ..Default::default()
    })
}

fn start_hub_with(config: ServerConfig) -> Hub {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let server = runtime
        .block_on(HubTestServer::start(config))
        .expect("test hub");
    Hub { runtime, server }
}

struct App {
    _app: tauri::App<MockRuntime>,
    window: WebviewWindow<MockRuntime>,
    _dir: tempfile::TempDir,
}

fn start_app(hub: &Hub, dir: tempfile::TempDir) -> App {
    let launch = LaunchOptions {
        model: None,
        data_dir: Some(dir.path().join("data")),
        cache_dir: Some(dir.path().join("cache")),
    };
    let config = HubConfig::with_endpoint_and_cache(&hub.server.endpoint, dir.path().join("hf"));
    let tokens = TokenStore::new(
        None,
        dir.path().join("hf-token"),
        dir.path().join("app-token"),
        false,
    );
    let app = crate::configure(mock_builder(), launch.clone())
        .build(crate::context())
        .expect("build the app");
    crate::init_with(app.handle(), &launch, HubState::new(config, tokens)).expect("init");
    let window = app.get_webview_window("main").expect("main window");
    App {
        _app: app,
        window,
        _dir: dir,
    }
}

fn err(reply: Result<Value, Value>) -> Value {
    match reply {
        Ok(v) => panic!("expected an error, got {v}"),
        Err(e) => e,
    }
}

fn row(window: &WebviewWindow<MockRuntime>, id: &str) -> Value {
    let rows = invoke(window, "list_models", json!({})).expect("list_models");
    rows.as_array()
        .expect("rows")
        .iter()
        .find(|r| r["id"] == id)
        .cloned()
        .expect("catalog row")
}

fn download(window: &WebviewWindow<MockRuntime>) -> Result<Value, Value> {
    invoke(
        window,
        "start_download",
        json!({"id": "jslm-gamma-7b", "onEvent": CHANNEL}),
    )
}

#[test]
fn gated_download_token_use_and_delete() {
    let hub = start_hub();
    let app = start_app(&hub, tempfile::tempdir().expect("tempdir"));
    let w = &app.window;

    let official = row(w, "jslm-gamma-7b");
    assert_eq!(official["gated"], true);
    assert_eq!(official["status"]["state"], "not_downloaded");
    assert!(official["fit"]["needed_bytes"].as_u64().unwrap() > 0);

    // 401: no token.
    let e = err(download(w));
    assert_eq!(e["code"], "gated_no_token");
    assert_eq!(e["repo"], OFFICIAL);
    // A token the hub does not know is refused and not stored.
    assert_eq!(
        err(invoke(w, "set_token", json!({"token": "hf_wrong"})))["code"],
        "token_invalid"
    );
    assert_eq!(invoke(w, "token_status", json!({})).unwrap()["set"], false);
    // 403: a valid token whose account has not accepted the terms.
    let s = invoke(w, "set_token", json!({"token": "hf_no_terms"})).unwrap();
    assert_eq!(s["account"], "newcomer");
    assert_eq!(err(download(w))["code"], "gated_not_accepted");

    // Accepted: the download completes and the model is ready, then used and generated with.
    let s = invoke(w, "set_token", json!({"token": "hf_accepted"})).unwrap();
    assert_eq!(
        s,
        json!({"set": true, "source": "app_file", "account": "tester"})
    );
    let status = invoke(w, "token_status", json!({})).unwrap();
    assert_eq!(status["set"], true);
    // The webview never receives the token back.
    for reply in [&s, &status] {
        assert!(!reply.to_string().contains("hf_accepted"), "{reply}");
    }
    let done = download(w).expect("download");
    assert!(done["downloaded_bytes"].as_u64().unwrap() > 8_000_000);
    let ready = row(w, "jslm-gamma-7b");
    assert_eq!(ready["status"]["state"], "ready");
    assert_eq!(ready["status"]["verified"], true);

    let summary = invoke(
        w,
        "use_model",
        json!({"id": "jslm-gamma-7b", "onProgress": CHANNEL}),
    )
    .expect("use_model");
    assert_eq!(summary["repo"], OFFICIAL, "the cache path names the repo");
    assert_eq!(row(w, "jslm-gamma-7b")["active"], true);
    let g = invoke(
        w,
        "generate",
        json!({"request": {"instruction": "こんにちは", "input": "", "settings": {"max_new_tokens": 4, "do_sample": false}}, "onEvent": CHANNEL}),
    )
    .expect("generate");
    assert_eq!(g["entry"]["model"]["repo"], OFFICIAL);
    assert!(g["entry"]["model"]["revision"].as_str().is_some());

    // The loaded model's files are not deleted under it.
    let in_use = err(invoke(w, "delete_model", json!({"id": "jslm-gamma-7b"})));
    assert_eq!(in_use["code"], "model_in_use");
    assert_eq!(row(w, "jslm-gamma-7b")["status"]["state"], "ready");
    // Another model loaded, delete frees the cache.
    invoke(
        w,
        "load_model",
        json!({"path": fixture(), "onProgress": CHANNEL}),
    )
    .expect("another model");
    assert!(
        invoke(w, "delete_model", json!({"id": "jslm-gamma-7b"}))
            .unwrap()
            .as_u64()
            .unwrap()
            > 0
    );
    assert_eq!(row(w, "jslm-gamma-7b")["status"]["state"], "not_downloaded");

    let cleared = invoke(w, "clear_token", json!({})).unwrap();
    assert_eq!(cleared["set"], false);
    assert_eq!(
        err(invoke(w, "delete_model", json!({"id": "nope"})))["code"],
        "unknown_model"
    );
    drop(hub.runtime);
}

#[test]
fn pause_keeps_the_partial_download_and_resume_continues_it() {
    let hub = start_hub();
    let app = start_app(&hub, tempfile::tempdir().expect("tempdir"));
    let w = app.window.clone();
    invoke(&w, "set_token", json!({"token": "hf_accepted"})).unwrap();
    // 1 MB/s: the 8 MB weights take seconds, long enough to pause mid-file.
    hub.server.add_fault(Fault::new(
        "model.safetensors",
        FaultKind::Throttle(1_000_000),
        1,
    ));

    let background = w.clone();
    let first = std::thread::spawn(move || download(&background));
    let deadline = Instant::now() + Duration::from_secs(30);
    while hub.server.bytes_served("model.safetensors") < 1_500_000 {
        assert!(Instant::now() < deadline, "the download did not progress");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(row(&w, "jslm-gamma-7b")["status"]["state"], "downloading");
    assert_eq!(
        err(download(&w))["code"],
        "downloading",
        "one download per model"
    );
    assert_eq!(
        invoke(&w, "pause_download", json!({"id": "jslm-gamma-7b"})).unwrap(),
        true
    );
    let paused = first.join().expect("thread");
    assert_eq!(err(paused)["code"], "download_cancelled");
    let partial = row(&w, "jslm-gamma-7b");
    assert_eq!(partial["status"]["state"], "partial", "{partial}");
    let served_before = hub.server.bytes_served("model.safetensors");

    // Resume: only the rest is fetched.
    let done = download(&w).expect("resumed download");
    let weights_len = std::fs::metadata(fixture().join("model.safetensors"))
        .unwrap()
        .len();
    assert!(
        done["downloaded_bytes"].as_u64().unwrap() < weights_len,
        "resume fetched {} of {weights_len} bytes again",
        done["downloaded_bytes"]
    );
    assert!(hub.server.bytes_served("model.safetensors") - served_before < weights_len);
    assert_eq!(row(&w, "jslm-gamma-7b")["status"]["state"], "ready");
    drop(hub.runtime);
}

#[test]
fn cancel_deletes_the_partial_download() {
    let hub = start_hub();
    let app = start_app(&hub, tempfile::tempdir().expect("tempdir"));
    let w = app.window.clone();
    invoke(&w, "set_token", json!({"token": "hf_accepted"})).unwrap();
    hub.server.add_fault(Fault::new(
        "model.safetensors",
        FaultKind::Throttle(1_000_000),
        1,
    ));
    let background = w.clone();
    let first = std::thread::spawn(move || download(&background));
    let deadline = Instant::now() + Duration::from_secs(30);
    while hub.server.bytes_served("model.safetensors") < 1_000_000 {
        assert!(Instant::now() < deadline, "the download did not progress");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        invoke(&w, "cancel_download", json!({"id": "jslm-gamma-7b"})).unwrap(),
        true
    );
    assert_eq!(
        err(first.join().expect("thread"))["code"],
        "download_cancelled"
    );
    assert_eq!(
        row(&w, "jslm-gamma-7b")["status"]["state"],
        "not_downloaded"
    );
    drop(hub.runtime);
}

/// "Use" on a GGUF row that is ready with a variant other than the catalog's default (a Q8_0
/// fetched by the CLI, say): the variant that is here loads. Before: the default (Q4_K_M) was
/// looked for and the row that said "ready" failed with `not_downloaded`.
#[test]
fn use_takes_the_gguf_variant_that_is_here() {
    let entry = jslm_hub::catalog()
        .find("jslm-gamma-7b-gguf")
        .expect("catalog");
    let q8 = entry.variant(Some("q8_0")).unwrap().unwrap().file.clone();
    assert_ne!(
        entry.variant(None).unwrap().unwrap().file,
        q8,
        "not the default"
    );
    let gguf = std::fs::read(fixture().join("../tiny-mistral-gguf/model-f16.gguf")).unwrap();
    let hub = start_hub_with(ServerConfig {
        repos: vec![
            official_repo(),
            FakeRepo::new(&entry.repo, vec![(q8.as_str(), gguf)]),
        ],
        ..Default::default()
    });
    let app = start_app(&hub, tempfile::tempdir().expect("tempdir"));
    let w = &app.window;
    invoke(
        w,
        "start_download",
        json!({"id": entry.id, "variant": "Q8_0", "onEvent": CHANNEL}),
    )
    .expect("download");
    assert_eq!(row(w, &entry.id)["status"]["state"], "ready");
    let used = invoke(
        w,
        "use_model",
        json!({"id": entry.id, "onProgress": CHANNEL}),
    )
    .expect("use_model");
    assert!(used["path"].as_str().unwrap().ends_with(&q8), "{used}");
}
