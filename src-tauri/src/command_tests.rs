//! The commands as the webview calls them, through Tauri's mock runtime with the app's real
//! config and capabilities: argument names, permissions, payload shapes and error codes.
//!
//! The tests that run the model use the tiny random Mistral fixture
//! (`tests/fixtures/tiny-mistral`, or `JSLM_TINY_MODEL`).

use crate::launch::LaunchOptions;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tauri::ipc::{CallbackFn, InvokeBody};
use tauri::test::{get_ipc_response, mock_builder, MockRuntime, INVOKE_KEY};
use tauri::webview::InvokeRequest;
use tauri::{Manager, WebviewWindow, WebviewWindowBuilder};

pub(crate) fn tiny_model() -> PathBuf {
    let path = std::env::var_os("JSLM_TINY_MODEL")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/tiny-mistral")
        });
    assert!(
        path.join("model.safetensors").is_file(),
        "the tiny model fixture is missing at {} (set JSLM_TINY_MODEL)",
        path.display()
    );
    path
}

struct TestApp {
    _app: tauri::App<MockRuntime>,
    window: WebviewWindow<MockRuntime>,
    dir: tempfile::TempDir,
}

fn start(model: Option<PathBuf>) -> TestApp {
    let dir = tempfile::tempdir().expect("tempdir");
    start_in(dir, model)
}

fn start_in(dir: tempfile::TempDir, model: Option<PathBuf>) -> TestApp {
    let launch = LaunchOptions {
        model,
        data_dir: Some(dir.path().join("data")),
        cache_dir: Some(dir.path().join("cache")),
    };
    let app = crate::configure(mock_builder(), launch.clone())
        .build(crate::context())
        .expect("build the app");
    // The mock runtime has no event loop to run the setup hook; run what it runs.
    crate::init(app.handle(), &launch).expect("init");
    let window = app
        .get_webview_window(crate::window::MAIN)
        .expect("setup creates the main window");
    TestApp {
        _app: app,
        window,
        dir,
    }
}

/// Calls a command the way the webview does (shared with `command_tests_hub`).
pub(crate) fn invoke(
    window: &WebviewWindow<MockRuntime>,
    cmd: &str,
    args: Value,
) -> Result<Value, Value> {
    get_ipc_response(
        window,
        InvokeRequest {
            cmd: cmd.into(),
            callback: CallbackFn(0),
            error: CallbackFn(1),
            url: "tauri://localhost".parse().expect("url"),
            body: InvokeBody::Json(args),
            headers: Default::default(),
            invoke_key: INVOKE_KEY.to_string(),
        },
    )
    .map(|body| body.deserialize::<Value>().expect("json reply"))
}

fn code(reply: Result<Value, Value>) -> String {
    match reply {
        Ok(v) => panic!("expected an error, got {v}"),
        Err(e) => e["code"].as_str().unwrap_or("<no code>").to_string(),
    }
}

/// A channel id as `new Channel()` sends it; messages to it go nowhere in the mock runtime.
pub(crate) const CHANNEL: &str = "__CHANNEL__:7";

pub(crate) fn greedy(instruction: &str, max_new_tokens: usize) -> Value {
    json!({
        "request": {
            "instruction": instruction,
            "input": "情けは人のためならず",
            "settings": { "max_new_tokens": max_new_tokens, "do_sample": false }
        },
        "onEvent": CHANNEL
    })
}

#[test]
fn settings_round_trip_and_validation() {
    let t = start(None);
    let s = invoke(&t.window, "get_settings", json!({})).unwrap();
    assert_eq!(s["language"], "ja");
    assert_eq!(s["generation"]["max_new_tokens"], 256);
    assert_eq!(s["generation"]["top_p"], 0.95);
    assert_eq!(s["preset"], "card");

    let saved = invoke(
        &t.window,
        "save_settings",
        json!({"patch": {"language": "en", "preset": "greedy"}}),
    )
    .unwrap();
    assert_eq!(saved["language"], "en");
    assert_eq!(
        invoke(&t.window, "get_settings", json!({})).unwrap()["preset"],
        "greedy"
    );

    let bad = invoke(
        &t.window,
        "save_settings",
        json!({"patch": {"generation": {"top_p": 1.5}}}),
    );
    let err = bad.unwrap_err();
    assert_eq!(err["code"], "invalid_setting");
    assert_eq!(err["field"], "top_p");
    assert!(err["message"].as_str().unwrap().contains("Given: 1.5"));

    // The webview cannot point the app at another model path through settings.
    assert!(invoke(
        &t.window,
        "save_settings",
        json!({"patch": {"model_path": "/etc"}})
    )
    .is_err());
}

#[test]
fn without_a_model() {
    let t = start(None);
    let status = invoke(&t.window, "model_status", json!({})).unwrap();
    assert_eq!(status["state"], "empty");
    assert_eq!(status["configured_path"], Value::Null);
    assert_eq!(
        code(invoke(&t.window, "generate", greedy("要約して", 4))),
        "no_model"
    );
    assert_eq!(
        code(invoke(
            &t.window,
            "load_model",
            json!({"path": null, "onProgress": CHANNEL})
        )),
        "no_model_path"
    );
    let missing = t.dir.path().join("nope");
    assert_eq!(
        code(invoke(
            &t.window,
            "load_model",
            json!({"path": missing, "onProgress": CHANNEL})
        )),
        "missing_file"
    );
    assert_eq!(
        invoke(&t.window, "model_status", json!({})).unwrap()["state"],
        "empty"
    );
    assert_eq!(
        invoke(&t.window, "stop_generation", json!({})).unwrap(),
        false
    );
    assert_eq!(
        code(invoke(&t.window, "get_history_entry", json!({"id": "x"}))),
        "history_not_found"
    );
}

#[test]
fn the_schema_is_the_engines() {
    let t = start(None);
    let schema = invoke(&t.window, "generation_schema", json!({})).unwrap();
    assert_eq!(
        schema,
        serde_json::to_value(jslm_engine::settings::SettingsSchema::new()).unwrap()
    );
    assert_eq!(schema["defaults"]["max_new_tokens"], 256);
}

#[test]
fn only_the_main_window_may_call_commands() {
    let t = start(None);
    let other = WebviewWindowBuilder::new(&t.window, "other", Default::default())
        .build()
        .expect("second window");
    assert!(invoke(&t.window, "list_history", json!({})).is_ok());
    let denied = invoke(&other, "list_history", json!({}));
    assert!(
        denied.is_err(),
        "capabilities grant the commands to `main` only"
    );
}

#[test]
fn load_generate_history_regenerate_delete() {
    let model = tiny_model();
    let t = start(Some(model.clone()));
    let status = invoke(&t.window, "model_status", json!({})).unwrap();
    assert_eq!(status["configured_path"], json!(model));

    let summary = invoke(
        &t.window,
        "load_model",
        json!({"path": null, "onProgress": CHANNEL}),
    )
    .unwrap();
    // The runtime's plan (the CLI's too): the tiny model is small, so it runs unquantized,
    // converted from its f16 file to f32, and the report says so and why.
    let run = &summary["run"];
    assert_eq!(run["precision"], "f32");
    assert_eq!(run["converted_from"], "f16");
    assert_eq!(run["reason"]["kind"], "small_model");
    assert_eq!(run["device"]["kind"], "cpu");
    assert!(run["threads"].as_u64().unwrap() >= 1);
    assert_eq!(summary["name"], "tiny-mistral");
    let sha = summary["files"][0]["sha256"].as_str().unwrap();
    assert_eq!(sha.len(), 64);
    // Remembered in the one store the quantizer and the CLI read too (beside the cache's
    // quantized copies), not in one of the window's own.
    let store =
        jslm_engine::file_hash::HashStore::open(&t.dir.path().join("cache/file-hashes.json"));
    let weights = PathBuf::from(summary["path"].as_str().unwrap()).join("model.safetensors");
    assert_eq!(store.known(&weights).as_deref(), Some(sha));
    assert!(!t.dir.path().join("data/file-hashes.json").exists());
    assert_eq!(
        invoke(&t.window, "model_status", json!({})).unwrap()["state"],
        "ready"
    );
    assert_eq!(
        invoke(&t.window, "get_settings", json!({})).unwrap()["model_path"],
        json!(model),
        "the loaded model is remembered"
    );

    let first = invoke(&t.window, "generate", greedy("ことわざの意味を教えて", 12)).unwrap();
    assert_eq!(first["saved"], true);
    let entry = &first["entry"];
    assert_eq!(entry["stats"]["generated_tokens"], 12);
    assert_eq!(entry["stop_reason"], "max_tokens");
    assert_eq!(entry["model"]["files"][0]["sha256"], sha);
    // Each history entry records what ran.
    assert_eq!(entry["model"]["run"], *run);
    let seed = entry["settings"]["seed"].as_u64().unwrap();
    assert!(seed <= crate::generation::MAX_SEED, "seed fits a JS number");
    assert_eq!(entry["stats"]["seed"], seed);

    // Sampling with the recorded seed repeats the text; a random one is drawn when absent.
    let sampled = |seed: Value| {
        json!({
            "request": {
                "instruction": "ことわざの意味を教えて",
                "input": "",
                "settings": { "max_new_tokens": 16, "seed": seed }
            },
            "onEvent": CHANNEL
        })
    };
    let a = invoke(&t.window, "generate", sampled(json!(1234))).unwrap();
    let b = invoke(&t.window, "generate", sampled(json!(1234))).unwrap();
    assert_eq!(a["entry"]["output"], b["entry"]["output"]);
    assert_eq!(a["entry"]["settings"]["seed"], 1234);
    let random = invoke(&t.window, "generate", sampled(Value::Null)).unwrap();
    assert!(random["entry"]["settings"]["seed"].as_u64().unwrap() <= crate::generation::MAX_SEED);

    let list = invoke(&t.window, "list_history", json!({})).unwrap();
    let items = list.as_array().unwrap();
    assert_eq!(items.len(), 4);
    let first_id = entry["id"].as_str().unwrap();
    assert_eq!(items[3]["id"], first_id, "newest first");
    let stored = invoke(&t.window, "get_history_entry", json!({"id": first_id})).unwrap();
    assert_eq!(&stored, entry);

    invoke(&t.window, "delete_history_entry", json!({"id": first_id})).unwrap();
    assert_eq!(
        code(invoke(
            &t.window,
            "get_history_entry",
            json!({"id": first_id})
        )),
        "history_not_found"
    );
    assert_eq!(
        invoke(&t.window, "list_history", json!({}))
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        3
    );

    // A restarted app finds the history and the model path again.
    let TestApp { _app, window, dir } = t;
    drop(window);
    drop(_app);
    let again = start_in(dir, None);
    assert_eq!(
        invoke(&again.window, "list_history", json!({}))
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert_eq!(
        invoke(&again.window, "model_status", json!({})).unwrap()["configured_path"],
        json!(model)
    );
}

#[test]
fn second_generate_is_refused_and_stop_cancels() {
    let t = start(Some(tiny_model()));
    invoke(
        &t.window,
        "load_model",
        json!({"path": null, "onProgress": CHANNEL}),
    )
    .unwrap();

    let window = t.window.clone();
    let long = std::thread::spawn(move || invoke(&window, "generate", greedy("長く書いて", 3900)));
    let deadline = Instant::now() + Duration::from_secs(30);
    while !invoke(&t.window, "model_status", json!({})).unwrap()["generating"]
        .as_bool()
        .unwrap()
    {
        assert!(Instant::now() < deadline, "generation did not start");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(
        code(invoke(&t.window, "generate", greedy("もう一つ", 4))),
        "busy"
    );
    assert_eq!(
        code(invoke(
            &t.window,
            "load_model",
            json!({"path": null, "onProgress": CHANNEL})
        )),
        "busy"
    );
    assert_eq!(
        invoke(&t.window, "stop_generation", json!({})).unwrap(),
        true
    );
    let result = long.join().expect("thread").unwrap();
    assert_eq!(result["entry"]["stop_reason"], "cancelled");
    assert!(
        result["entry"]["stats"]["generated_tokens"]
            .as_u64()
            .unwrap()
            < 3900
    );
    // Free again.
    assert!(invoke(&t.window, "generate", greedy("次", 2)).is_ok());
}

#[test]
fn closing_the_window_cancels_the_generation() {
    let t = start(Some(tiny_model()));
    invoke(
        &t.window,
        "load_model",
        json!({"path": null, "onProgress": CHANNEL}),
    )
    .unwrap();
    let window = t.window.clone();
    let long = std::thread::spawn(move || invoke(&window, "generate", greedy("長く書いて", 3900)));
    let deadline = Instant::now() + Duration::from_secs(30);
    while !invoke(&t.window, "model_status", json!({})).unwrap()["generating"]
        .as_bool()
        .unwrap()
    {
        assert!(Instant::now() < deadline, "generation did not start");
        std::thread::sleep(Duration::from_millis(5));
    }
    // The mock runtime has no event loop to deliver window events; hand the app's handler
    // the event the real runtime sends when the window goes away.
    crate::window::on_event(&t.window.as_ref().window(), &tauri::WindowEvent::Destroyed);
    let result = long.join().expect("thread").unwrap();
    assert_eq!(result["entry"]["stop_reason"], "cancelled");
}

#[test]
fn each_load_warms_the_prompt_cache_and_a_prompt_written_runs_ahead() {
    let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures");
    let gguf = fixtures.join("tiny-mistral-llamacpp/model-q8_0.gguf");
    let t = start(None);
    let load = |path: &PathBuf| {
        invoke(
            &t.window,
            "load_model",
            json!({"path": path, "onProgress": CHANNEL}),
        )
        .unwrap()
    };
    let tokens = |done: Vec<jslm_engine::Result<jslm_runtime::Prefilled>>| -> Vec<usize> {
        done.into_iter().map(|d| d.unwrap().tokens).collect()
    };
    let prefill = |request: Value| invoke(&t.window, "prefill_prompt", request).unwrap();
    load(&gguf);
    let state = t.window.state::<crate::state::AppState>();
    assert_eq!(
        tokens(state.prefill.join_all()),
        [68],
        "the card's system sentence and first heading"
    );
    let first = invoke(&t.window, "generate", greedy("日本の首都は？", 4)).unwrap();
    assert_eq!(first["entry"]["stats"]["reused_prompt_tokens"], 68);

    // The page sends the prompt as it is written; Generate finds it whole.
    let written = greedy("ことわざの意味を教えて", 4);
    assert_eq!(prefill(json!({"request": written["request"]})), true);
    let done = tokens(state.prefill.join_all());
    let run = invoke(&t.window, "generate", written).unwrap();
    let stats = &run["entry"]["stats"];
    assert_eq!(done, [stats["prompt_tokens"].as_u64().unwrap() as usize]);
    assert_eq!(stats["reused_prompt_tokens"], stats["prompt_tokens"]);
    // Nothing is sent ahead of a request Generate would refuse, nor when runs go to a remote
    // server.
    let empty = json!({"instruction": " ", "input": "", "settings": {}});
    assert_eq!(prefill(json!({ "request": empty })), false);
    let remote = json!({"kind": "remote", "url": "http://127.0.0.1:9", "model": null});
    invoke(
        &t.window,
        "save_settings",
        json!({"patch": {"backend": remote}}),
    )
    .unwrap();
    let written = greedy("遠くで", 4);
    assert_eq!(prefill(json!({"request": written["request"]})), false);
    assert!(state.prefill.join_all().is_empty(), "nothing started");
    let local = json!({"patch": {"backend": {"kind": "local"}}});
    invoke(&t.window, "save_settings", local).unwrap();

    // Each load warms its own model (after stopping the work on the one before).
    load(&gguf);
    load(&tiny_model());
    assert_eq!(
        tokens(state.prefill.join_all()),
        [0],
        "safetensors on the CPU do not reuse their cache"
    );
}
