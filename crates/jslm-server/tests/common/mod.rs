//! A server over the tiny fixture model on a free loopback port, and an SSE reader.

#![allow(dead_code)]

use jslm_engine::{Engine, LoadOptions};
use jslm_server::{Gate, ServedModel, Server, ServerConfig};
use std::path::PathBuf;
use std::sync::Arc;

pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

/// The tiny Mistral (f32 safetensors), loaded for one test.
pub fn engine() -> Arc<Engine> {
    let path = fixtures().join("tiny-mistral");
    Arc::new(Engine::load(&path, &LoadOptions::default(), |_| {}).unwrap())
}

#[derive(serde::Deserialize, Clone)]
pub struct Case {
    pub instruction: String,
    pub input: String,
    pub greedy_ids: Vec<u32>,
    pub greedy_text: String,
}

/// A case of the fixture's transformers reference (greedy, 24 new tokens).
pub fn case(i: usize) -> Case {
    let text = std::fs::read_to_string(fixtures().join("tiny-mistral/reference.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    serde_json::from_value(v["cases"][i].clone()).unwrap()
}

pub struct Running {
    pub url: String,
    pub model: ServedModel,
    pub engine: Arc<Engine>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), jslm_server::ServerError>>>,
}

impl Running {
    /// Completes the server's shutdown future (what Ctrl-C does for `jslm serve`) and waits
    /// for `Server::run` to return.
    pub async fn shut_down(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Serves the tiny model as `tiny-mistral` with `config` (its port replaced by a free one).
pub async fn serve(config: ServerConfig, max_waiting: usize) -> Running {
    serve_engine(engine(), config, max_waiting).await
}

/// The tiny model as llama.cpp converts it to a Q8_0 GGUF, in the CPU runner.
pub fn gguf_engine() -> Arc<Engine> {
    let path = fixtures().join("tiny-mistral-llamacpp/model-q8_0.gguf");
    let options = LoadOptions {
        tokenizer: Some(fixtures().join("tokenizer/tokenizer.json")),
        ..Default::default()
    };
    Arc::new(Engine::load(&path, &options, |_| {}).unwrap())
}

/// Serves `engine` as `tiny-mistral`, as `serve` does.
pub async fn serve_engine(
    engine: Arc<Engine>,
    config: ServerConfig,
    max_waiting: usize,
) -> Running {
    serve_named(engine, "tiny-mistral", config, max_waiting).await
}

/// Serves `engine` as `name`.
pub async fn serve_named(
    engine: Arc<Engine>,
    name: &str,
    config: ServerConfig,
    max_waiting: usize,
) -> Running {
    let model = ServedModel::new(engine.clone(), name, Gate::new(max_waiting));
    let config = ServerConfig { port: 0, ..config };
    let server = Server::bind(model.clone(), &config).await.unwrap();
    let url = server.base_url();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.run(async move {
        let _ = stopped.await;
    }));
    Running {
        url,
        model,
        engine,
        stop: Some(stop),
        task: Some(task),
    }
}

/// A client that opens a new connection per request (so a dropped response closes it).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .no_proxy()
        .build()
        .unwrap()
}

/// The `data:` payloads of an SSE body, in order.
pub fn sse_data(body: &str) -> Vec<String> {
    body.split("\n\n")
        .filter_map(|event| {
            let data: Vec<&str> = event
                .lines()
                .filter_map(|l| l.strip_prefix("data: "))
                .collect();
            (!data.is_empty()).then(|| data.join("\n"))
        })
        .collect()
}
