//! Server overhead and concurrency on the tiny model (a benchmark, not a test; BENCHMARKS.md):
//!
//! 1. decode tokens/s and TTFT of the engine called directly vs. through `/v1/completions`
//!    streamed over loopback (same prompt, greedy, `--tokens` new tokens, best of `--runs`);
//! 2. `--clients` concurrent streaming clients, each with its own seed: every one must complete
//!    (or get 429) with exactly the text the engine gives for that seed — nothing lost or
//!    mixed up — with the queue large enough for all, then with the default queue;
//! 3. the server's resident memory over `--requests` sequential requests.
//!
//! `cargo run --release -p jslm-server --example serve_bench -- [--tokens 200] [--runs 5]
//! [--clients 100] [--requests 1000] [--threads N]`

use jslm_engine::{AnswerStart, CancelFlag, Engine, GenerationSettings, LoadOptions};
use jslm_server::{Gate, ServedModel, Server, ServerConfig, DEFAULT_MAX_WAITING};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

const PROMPT: &str =
    "以下は、タスクを説明する指示です。\n\n### 指示: \n日本の首都は？\n\n### 応答: \n";

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// (TTFT ms, decode tokens/s) of one streamed request, measured by the client.
async fn streamed(
    client: &reqwest::Client,
    url: &str,
    body: serde_json::Value,
) -> (f64, f64, String) {
    let start = Instant::now();
    let mut resp = client.post(url).json(&body).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let mut first = None;
    let mut raw = String::new();
    let mut tokens = 0u64;
    while let Some(chunk) = resp.chunk().await.unwrap() {
        let text = String::from_utf8_lossy(&chunk).to_string();
        raw.push_str(&text);
        if first.is_none() && text.contains("\"text\":\"") && !text.contains("\"text\":\"\"") {
            first = Some(Instant::now());
        }
    }
    let end = Instant::now();
    let mut answer = String::new();
    for event in raw.split("\n\n") {
        let Some(data) = event.strip_prefix("data: ") else {
            continue;
        };
        if data == "[DONE]" {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(data).unwrap();
        if let Some(t) = v["choices"][0]["text"].as_str() {
            answer.push_str(t);
        }
        if let Some(n) = v["usage"]["completion_tokens"].as_u64() {
            tokens = n;
        }
    }
    let t0 = first.unwrap_or(end);
    let ttft = (t0 - start).as_secs_f64() * 1e3;
    let rate = tokens.saturating_sub(1) as f64 / (end - t0).as_secs_f64().max(1e-9);
    (ttft, rate, answer)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let tokens = arg("--tokens", 200);
    let runs = arg("--runs", 5);
    let clients = arg("--clients", 100);
    let requests = arg("--requests", 1000);
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/tiny-mistral");
    // `--threads 0`: one per core (the engine's default).
    let threads = Some(arg("--threads", 0)).filter(|&t| t > 0);
    let options = LoadOptions {
        threads,
        ..LoadOptions::default()
    };
    let engine = Arc::new(Engine::load(&path, &options, |_| {}).unwrap());
    let greedy = GenerationSettings::greedy(tokens);

    // 1. Direct vs. served, alternating so that both see the same machine noise.
    let serve = |max_waiting: usize| {
        let engine = engine.clone();
        async move {
            let model = ServedModel::new(engine, "tiny", Gate::new(max_waiting));
            let config = ServerConfig {
                port: 0,
                ..Default::default()
            };
            let server = Server::bind(model.clone(), &config).await.unwrap();
            let url = format!("{}/completions", server.base_url());
            tokio::spawn(server.run(std::future::pending()));
            (url, model)
        }
    };
    let (url, _) = serve(DEFAULT_MAX_WAITING).await;
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let body = serde_json::json!({"prompt": PROMPT, "temperature": 0, "max_tokens": tokens,
                                  "stream": true, "stream_options": {"include_usage": true}});
    let (mut direct, mut served) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let out = engine
            .generate_raw(
                PROMPT,
                AnswerStart::Continuation,
                &greedy,
                &CancelFlag::new(),
                |_| {},
            )
            .unwrap();
        direct.push((out.stats.ttft_ms, out.stats.decode_tokens_per_s));
        let (ttft, rate, _) = streamed(&client, &url, body.clone()).await;
        served.push((ttft, rate));
    }
    let median = |runs: &[(f64, f64)], pick: fn(&(f64, f64)) -> f64| {
        let mut v: Vec<f64> = runs.iter().map(pick).collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (dt, dr) = (median(&direct, |r| r.0), median(&direct, |r| r.1));
    let (st, sr) = (median(&served, |r| r.0), median(&served, |r| r.1));
    println!("| path | TTFT ms (median of {runs}) | decode tok/s (median of {runs}) |");
    println!("|---|---|---|");
    println!("| engine directly | {dt:.1} | {dr:.0} |");
    println!("| `/v1/completions`, streamed over loopback | {st:.1} | {sr:.0} |");
    println!(
        "overhead: TTFT {:+.1} ms, decode {:+.1} %",
        st - dt,
        (sr / dr - 1.0) * 100.0
    );

    // 2. Concurrent clients, each seed's text checked against the engine's own.
    let short = 32;
    let expected: Vec<String> = (0..clients as u64)
        .map(|seed| {
            let settings = GenerationSettings {
                max_new_tokens: short,
                seed: Some(seed),
                ..Default::default()
            };
            let out = engine
                .generate_raw(
                    PROMPT,
                    AnswerStart::Continuation,
                    &settings,
                    &CancelFlag::new(),
                    |_| {},
                )
                .unwrap();
            engine.tokenizer().decode(&out.generated_token_ids).unwrap()
        })
        .collect();
    let expected = Arc::new(expected);
    for max_waiting in [clients, DEFAULT_MAX_WAITING] {
        let (url, model) = serve(max_waiting).await;
        let start = Instant::now();
        let tasks: Vec<_> = (0..clients as u64)
            .map(|seed| {
                let (client, url, expected) = (client.clone(), url.clone(), expected.clone());
                tokio::spawn(async move {
                    let body = serde_json::json!({"prompt": PROMPT, "max_tokens": short,
                                                  "seed": seed, "stream": true});
                    let resp = client.post(&url).json(&body).send().await.unwrap();
                    if resp.status() == 429 {
                        return (false, true);
                    }
                    let raw = resp.text().await.unwrap();
                    let mut answer = String::new();
                    for event in raw.split("\n\n") {
                        let Some(data) = event.strip_prefix("data: ") else {
                            continue;
                        };
                        if data == "[DONE]" {
                            continue;
                        }
                        let v: serde_json::Value = serde_json::from_str(data).unwrap();
                        answer.push_str(v["choices"][0]["text"].as_str().unwrap_or(""));
                    }
                    (answer == expected[seed as usize], false)
                })
            })
            .collect();
        let (mut right, mut refused, mut wrong) = (0, 0, 0);
        for t in tasks {
            match t.await.unwrap() {
                (true, _) => right += 1,
                (false, true) => refused += 1,
                (false, false) => wrong += 1,
            }
        }
        println!(
            "{clients} streaming clients, queue {max_waiting}: {right} complete and exact, \
             {refused} got 429, {wrong} wrong or lost, {:.1} s; server stats {:?}",
            start.elapsed().as_secs_f64(),
            model.stats()
        );
    }

    // 3. Memory over many requests.
    let (url, _) = serve(DEFAULT_MAX_WAITING).await;
    let small = serde_json::json!({"prompt": PROMPT, "max_tokens": 4});
    let mut marks = Vec::new();
    for i in 1..=requests {
        let resp = client.post(&url).json(&small).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        let _ = resp.bytes().await.unwrap();
        if i == 100 || i == requests / 2 || i == requests {
            marks.push((i, rss_mib()));
        }
    }
    let marks: Vec<String> = marks
        .iter()
        .map(|(i, m)| format!("{m:.1} MiB after {i}"))
        .collect();
    println!(
        "resident memory (process: server + client + engine): {}",
        marks.join(", ")
    );
}
