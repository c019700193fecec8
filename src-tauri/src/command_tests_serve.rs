//! The serve switch, the API keys and "run on: a server", through Tauri's mock runtime as the
//! webview calls them: the window's engine served over HTTP, the window's generations and the
//! server's requests queueing at one gate, a model change re-pointing the server, keys that
//! only ever show as "set", and remote runs (against the window's own server) recorded with
//! their endpoint.

use crate::command_tests::{greedy, invoke, tiny_model, CHANNEL};
use crate::hub::HubState;
use crate::launch::LaunchOptions;
use crate::state::AppState;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tauri::test::{mock_builder, MockRuntime};
use tauri::{Manager, WebviewWindow};

const KEY: &str = "sk-window-test-123";

struct App {
    _app: tauri::App<MockRuntime>,
    window: WebviewWindow<MockRuntime>,
    _dir: tempfile::TempDir,
}

/// The app with the tiny model loaded; secrets in files under a temporary folder only.
fn start() -> App {
    let dir = tempfile::tempdir().expect("tempdir");
    let launch = LaunchOptions {
        model: Some(tiny_model()),
        data_dir: Some(dir.path().join("data")),
        cache_dir: Some(dir.path().join("cache")),
    };
    let hub = HubState::new(
        jslm_hub::HubConfig::with_endpoint_and_cache("http://127.0.0.1:9", dir.path().join("hf")),
        jslm_hub::TokenStore::new(None, dir.path().join("t1"), dir.path().join("t2"), false),
    );
    let app = crate::configure(mock_builder(), launch.clone())
        .build(crate::context())
        .expect("build the app");
    crate::init_with(app.handle(), &launch, hub).expect("init");
    let window = app.get_webview_window("main").expect("main window");
    invoke(
        &window,
        "load_model",
        json!({"path": null, "onProgress": CHANNEL}),
    )
    .expect("load");
    App {
        _app: app,
        window,
        _dir: dir,
    }
}

fn serve(window: &WebviewWindow<MockRuntime>, host: &str, port: u16) -> Result<Value, Value> {
    invoke(window, "start_serving", json!({"host": host, "port": port}))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// `POST /v1/completions` with the card's prompt, greedy; (status, body).
fn complete(url: &str, key: Option<&str>, instruction: &str, max_tokens: usize) -> (u16, Value) {
    let prompt = jslm_engine::PromptTemplate.build(instruction, "情けは人のためならず");
    runtime().block_on(async {
        let mut request = reqwest::Client::new()
            .post(format!("{url}/completions"))
            .json(&json!({"prompt": prompt, "max_tokens": max_tokens, "temperature": 0}));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    })
}

#[test]
fn the_switch_serves_the_windows_model_with_safe_defaults() {
    let t = start();
    let off = invoke(&t.window, "serve_status", json!({})).unwrap();
    assert_eq!(off["serving"], false);
    assert_eq!(
        (off["host"].as_str(), off["port"].as_u64()),
        (Some("127.0.0.1"), Some(8642))
    );
    assert_eq!(off["keys"], json!({"server": false, "remote": false}));

    let on = serve(&t.window, "127.0.0.1", 0).unwrap();
    assert_eq!(on["serving"], true);
    assert_eq!(on["model"], "tiny-mistral");
    let url = on["url"].as_str().unwrap().to_string();
    assert!(
        url.starts_with("http://127.0.0.1:") && url.ends_with("/v1"),
        "{url}"
    );

    // The server's greedy answer is the window's own.
    let (status, body) = complete(&url, None, "ことわざの意味を教えて", 10);
    assert_eq!(status, 200, "{body}");
    let window = invoke(&t.window, "generate", greedy("ことわざの意味を教えて", 10)).unwrap();
    assert_eq!(
        jslm_engine::stream::python_strip(body["choices"][0]["text"].as_str().unwrap()),
        window["entry"]["output"].as_str().unwrap()
    );
    let status = invoke(&t.window, "serve_status", json!({})).unwrap();
    assert_eq!(status["requests"]["finished"], 1);

    // A non-loopback address needs a key: refused, nothing left listening.
    let err = serve(&t.window, "0.0.0.0", 0).unwrap_err();
    assert_eq!(err["code"], "api_key_required");
    assert_eq!(
        invoke(&t.window, "serve_status", json!({})).unwrap()["serving"],
        false
    );
    // The address is remembered for next time.
    assert_eq!(
        invoke(&t.window, "get_settings", json!({})).unwrap()["serve"]["host"],
        "0.0.0.0"
    );
    let err = serve(&t.window, "not an address", 0).unwrap_err();
    assert_eq!(
        (err["code"].as_str(), err["field"].as_str()),
        (Some("invalid_setting"), Some("serve_host"))
    );

    // A port another program holds: a typed error naming it.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let err = serve(&t.window, "127.0.0.1", port).unwrap_err();
    assert_eq!(err["code"], "bind_failed");
    assert_eq!(err["reason"], "in_use");
    assert_eq!(err["numbers"]["port"], port);

    // Off: nothing answers any more.
    let on = serve(&t.window, "127.0.0.1", 0).unwrap();
    let url = on["url"].as_str().unwrap().to_string();
    let off = invoke(&t.window, "stop_serving", json!({})).unwrap();
    assert_eq!(off["serving"], false);
    assert!(runtime()
        .block_on(reqwest::get(format!("{url}/models")))
        .is_err());
}

#[test]
fn keys_are_stored_enforced_and_never_shown() {
    let t = start();
    let on = serve(&t.window, "127.0.0.1", 0).unwrap();
    assert_eq!(on["keys"]["server"], false);
    let url = on["url"].as_str().unwrap().to_string();

    // Setting the key restarts the running server with it.
    let set = invoke(
        &t.window,
        "set_api_key",
        json!({"which": "server", "key": KEY}),
    )
    .unwrap();
    assert_eq!(set["keys"]["server"], true);
    assert!(!set.to_string().contains(KEY), "{set}");
    let url2 = set["url"].as_str().unwrap().to_string();
    let _ = url;
    assert_eq!(complete(&url2, None, "鍵", 2).0, 401);
    assert_eq!(complete(&url2, Some(KEY), "鍵", 2).0, 200);
    let status = invoke(&t.window, "serve_status", json!({})).unwrap();
    assert!(!status.to_string().contains(KEY));
    let settings = invoke(&t.window, "get_settings", json!({})).unwrap();
    assert!(!settings.to_string().contains(KEY));

    // With the key, another address may be served.
    let lan = serve(&t.window, "0.0.0.0", 0).unwrap();
    assert_eq!(lan["serving"], true);
    // Clearing the key there turns serving off rather than leaving it open.
    let err = invoke(&t.window, "clear_api_key", json!({"which": "server"})).unwrap_err();
    assert_eq!(err["code"], "api_key_required");
    let status = invoke(&t.window, "serve_status", json!({})).unwrap();
    assert_eq!(
        (
            status["serving"].as_bool(),
            status["keys"]["server"].as_bool()
        ),
        (Some(false), Some(false))
    );

    let bad = invoke(
        &t.window,
        "set_api_key",
        json!({"which": "remote", "key": "has space"}),
    );
    assert_eq!(bad.unwrap_err()["code"], "invalid_request");
    assert!(invoke(
        &t.window,
        "set_api_key",
        json!({"which": "elsewhere", "key": "k"})
    )
    .is_err());
}

/// One loaded model, one queue: while the engine is taken, a client request and the window's
/// Generate both wait (neither fails nor runs alongside); when it is free both complete, and
/// Stop ends a Generate that is still waiting.
#[test]
fn the_window_and_the_server_queue_at_one_gate() {
    let t = start();
    let on = serve(&t.window, "127.0.0.1", 0).unwrap();
    let url = on["url"].as_str().unwrap().to_string();
    let alone = invoke(&t.window, "generate", greedy("順番に", 8)).unwrap();
    let gate = t.window.state::<AppState>().serving.gate();

    // Something holds the engine (as a running request would).
    let held = tauri::async_runtime::block_on(gate.turn());
    let client = {
        let url = url.clone();
        std::thread::spawn(move || complete(&url, None, "順番に", 8))
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while gate.occupied() == 0 {
        assert!(Instant::now() < deadline, "the request never queued");
        std::thread::sleep(Duration::from_millis(10));
    }
    let window = {
        let w = t.window.clone();
        std::thread::spawn(move || invoke(&w, "generate", greedy("順番に", 8)))
    };
    std::thread::sleep(Duration::from_millis(300));
    assert!(!client.is_finished(), "the client waits for the engine");
    assert!(
        !window.is_finished(),
        "the window waits too, not refused with busy"
    );
    // The window waits in line without taking one of the server's places.
    assert_eq!(gate.occupied(), 1);
    drop(held);
    let (status, body) = client.join().unwrap();
    assert_eq!(status, 200, "{body}");
    let queued = window.join().unwrap().expect("the window's run completes");
    assert_eq!(queued["entry"]["output"], alone["entry"]["output"]);
    assert_eq!(
        jslm_engine::stream::python_strip(body["choices"][0]["text"].as_str().unwrap()),
        alone["entry"]["output"].as_str().unwrap()
    );

    // Stop while waiting: the run ends at once, nothing generated, nothing kept.
    let before = invoke(&t.window, "list_history", json!({})).unwrap();
    let held = tauri::async_runtime::block_on(gate.turn());
    let window = {
        let w = t.window.clone();
        std::thread::spawn(move || invoke(&w, "generate", greedy("待たずに", 8)))
    };
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        invoke(&t.window, "stop_generation", json!({})).unwrap(),
        true
    );
    let stopped = window.join().unwrap().unwrap();
    drop(held);
    assert_eq!(stopped["entry"]["stop_reason"], "cancelled");
    assert_eq!(stopped["saved"], false);
    assert_eq!(
        invoke(&t.window, "list_history", json!({})).unwrap(),
        before
    );
}

/// A model change re-points the server; a wrong path keeps the old model serving; a load that
/// fails midway leaves it off, saying why.
#[test]
fn a_model_change_re_points_the_server_a_wrong_path_keeps_it_a_failed_load_turns_it_off() {
    let t = start();
    serve(&t.window, "127.0.0.1", 0).unwrap();
    invoke(
        &t.window,
        "load_model",
        json!({"path": null, "onProgress": CHANNEL}),
    )
    .unwrap();
    let status = invoke(&t.window, "serve_status", json!({})).unwrap();
    assert_eq!(status["serving"], true, "{status}");
    let url = status["url"].as_str().unwrap().to_string();
    assert_eq!(complete(&url, None, "新しいモデル", 2).0, 200);

    // A wrong path is refused before the model is let go: it still runs and serves.
    let missing = t._dir.path().join("nope");
    let load = invoke(
        &t.window,
        "load_model",
        json!({"path": missing, "onProgress": CHANNEL}),
    );
    assert_eq!(load.unwrap_err()["code"], "missing_file");
    let model = invoke(&t.window, "model_status", json!({})).unwrap();
    assert_eq!(model["state"], "ready", "{model}");
    let status = invoke(&t.window, "serve_status", json!({})).unwrap();
    assert_eq!(status["serving"], true, "{status}");
    let url = status["url"].as_str().unwrap().to_string();
    assert_eq!(complete(&url, None, "まだ動く", 2).0, 200);

    // A load that fails midway (its tokenizer is not the model's, found only when it loads)
    // has let the old model go: serving is off and says why.
    let other = t._dir.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    for entry in std::fs::read_dir(tiny_model()).unwrap().flatten() {
        std::fs::copy(entry.path(), other.join(entry.file_name())).unwrap();
    }
    let tokenizer = other.join("tokenizer.json");
    let mut tok: Value =
        serde_json::from_str(&std::fs::read_to_string(&tokenizer).unwrap()).unwrap();
    tok["added_tokens"].as_array_mut().unwrap().push(json!({
        "id": 32000, "content": "<extra>", "single_word": false, "lstrip": false,
        "rstrip": false, "normalized": false, "special": true
    }));
    std::fs::write(&tokenizer, tok.to_string()).unwrap();
    let load = invoke(
        &t.window,
        "load_model",
        json!({"path": other, "onProgress": CHANNEL}),
    );
    assert_eq!(load.unwrap_err()["code"], "tokenizer_mismatch");
    let status = invoke(&t.window, "serve_status", json!({})).unwrap();
    assert_eq!(status["serving"], false);
    assert_eq!(status["error"]["code"], "no_model");
}

/// During a model change (the server paused while the model loads), a new key, or the switch
/// turned off, is what holds once the load ends. Before: the server came back with the key it
/// had before (a revoked one still worked), and came back even when turned off meanwhile.
#[test]
fn a_key_changed_or_serving_stopped_during_a_load_holds_after_it() {
    let t = start();
    let state = t.window.state::<AppState>();
    invoke(
        &t.window,
        "set_api_key",
        json!({"which": "server", "key": KEY}),
    )
    .unwrap();
    serve(&t.window, "127.0.0.1", 0).unwrap();
    // A load's first step: serving paused. The user sets another key meanwhile.
    assert!(tauri::async_runtime::block_on(state.serving.suspend()));
    let other = "sk-other-key-0123456789";
    invoke(
        &t.window,
        "set_api_key",
        json!({"which": "server", "key": other}),
    )
    .unwrap();
    tauri::async_runtime::block_on(crate::commands::model::resume_serving(&state));
    let status = invoke(&t.window, "serve_status", json!({})).unwrap();
    assert_eq!(status["serving"], true, "{status}");
    let url = status["url"].as_str().unwrap().to_string();
    assert_eq!(
        complete(&url, Some(KEY), "鍵", 1).0,
        401,
        "the old key is revoked"
    );
    assert_eq!(complete(&url, Some(other), "鍵", 1).0, 200);
    // Paused again; the user turns serving off before the load ends: it stays off.
    assert!(tauri::async_runtime::block_on(state.serving.suspend()));
    let off = invoke(&t.window, "stop_serving", json!({})).unwrap();
    assert_eq!(off["serving"], false);
    tauri::async_runtime::block_on(crate::commands::model::resume_serving(&state));
    let status = invoke(&t.window, "serve_status", json!({})).unwrap();
    assert_eq!(status["serving"], false, "{status}");
}

/// "Run on: a server", against the window's own server: the same greedy text, the history
/// entry names the endpoint and model, and the errors keep their codes.
#[test]
fn remote_runs_stream_record_their_endpoint_and_fail_clearly() {
    let t = start();
    let local = invoke(&t.window, "generate", greedy("遠くで", 8)).unwrap();
    let on = serve(&t.window, "127.0.0.1", 0).unwrap();
    let url = on["url"].as_str().unwrap().to_string();
    invoke(
        &t.window,
        "set_api_key",
        json!({"which": "server", "key": KEY}),
    )
    .unwrap();
    let url = invoke(&t.window, "serve_status", json!({})).unwrap()["url"]
        .as_str()
        .map(str::to_string)
        .unwrap_or(url);
    let remote =
        json!({"patch": {"backend": {"kind": "remote", "url": url, "model": "tiny-mistral"}}});
    invoke(&t.window, "save_settings", remote).unwrap();

    // No remote key yet: the server refuses.
    let err = invoke(&t.window, "generate", greedy("遠くで", 8)).unwrap_err();
    assert_eq!(err["code"], "unauthorized");
    assert!(!err.to_string().contains(KEY));
    invoke(
        &t.window,
        "set_api_key",
        json!({"which": "remote", "key": KEY}),
    )
    .unwrap();
    let run = invoke(&t.window, "generate", greedy("遠くで", 8)).unwrap();
    assert_eq!(run["entry"]["output"], local["entry"]["output"]);
    assert_eq!(
        run["entry"]["remote"],
        json!({"endpoint": url, "model": "tiny-mistral"})
    );
    assert!(run["entry"].get("model").is_none());
    assert_eq!(run["saved"], true);
    let list = invoke(&t.window, "list_history", json!({})).unwrap();
    assert_eq!(list[0]["endpoint"], url);
    assert_eq!(list[0]["model_name"], "tiny-mistral");
    let id = list[0]["id"].as_str().unwrap();
    let entry = invoke(&t.window, "get_history_entry", json!({"id": id})).unwrap();
    assert_eq!(entry["remote"]["endpoint"], url);

    // A model the server does not serve.
    let other = json!({"patch": {"backend": {"kind": "remote", "url": url, "model": "gpt-4"}}});
    invoke(&t.window, "save_settings", other).unwrap();
    let err = invoke(&t.window, "generate", greedy("遠くで", 8)).unwrap_err();
    assert_eq!(err["code"], "model_not_served");
    // Prompt + max_new_tokens over the server's context.
    let tiny = json!({"patch": {"backend": {"kind": "remote", "url": url, "model": null}}});
    invoke(&t.window, "save_settings", tiny).unwrap();
    let err = invoke(&t.window, "generate", greedy("遠くで", 4096)).unwrap_err();
    assert_eq!(err["code"], "context_overflow", "{err}");
    // Nobody listening.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}/v1", closed.local_addr().unwrap());
    drop(closed);
    let gone = json!({"patch": {"backend": {"kind": "remote", "url": dead, "model": "x"}}});
    invoke(&t.window, "save_settings", gone).unwrap();
    let err = invoke(&t.window, "generate", greedy("遠くで", 8)).unwrap_err();
    assert_eq!(err["code"], "remote_unreachable");
}

/// "Run on: a server" whose host takes the connection and never answers: Stop ends the run
/// while it is still finding the server's model. Before: the window stayed busy (Generate and
/// Load refused) until the app was restarted.
#[test]
fn stop_ends_a_remote_run_that_waits_for_a_silent_server() {
    let t = start();
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", silent.local_addr().unwrap());
    // Accepts, then says nothing.
    let held = std::thread::spawn(move || {
        let conns: Vec<_> = silent.incoming().take(1).flatten().collect();
        std::thread::sleep(Duration::from_secs(20));
        drop(conns);
    });
    let remote = json!({"patch": {"backend": {"kind": "remote", "url": url}}});
    invoke(&t.window, "save_settings", remote).unwrap();
    let window = t.window.clone();
    let run = std::thread::spawn(move || invoke(&window, "generate", greedy("遠くで", 8)));
    std::thread::sleep(Duration::from_millis(800));
    let asked = Instant::now();
    assert_eq!(
        invoke(&t.window, "stop_generation", json!({})).unwrap(),
        true
    );
    let result = run.join().unwrap();
    assert!(
        asked.elapsed() < Duration::from_secs(5),
        "{:?}",
        asked.elapsed()
    );
    let result = result.expect("a stopped run is not an error");
    assert_eq!(result["saved"], false, "{result}");
    // The window is free again.
    let local = json!({"patch": {"backend": {"kind": "local"}}});
    invoke(&t.window, "save_settings", local).unwrap();
    invoke(&t.window, "generate", greedy("近くで", 2)).expect("a local run after it");
    drop(held);
}
