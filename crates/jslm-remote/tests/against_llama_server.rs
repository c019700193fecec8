//! Opt-in: the remote backend against llama.cpp's own `llama-server` serving the tiny GGUF
//! (`tests/fixtures/tiny-mistral-gguf/model-f16.gguf`). Skipped (passes, saying so) unless
//! `JSLM_LLAMA_SERVER` names the binary or `target/bench/llama.cpp/build/bin/llama-server`
//! exists. Build it from the same PyPI sdist as `bench/compare_llama_cpp.sh` (llama-cpp-python
//! 0.3.36, which vendors llama.cpp):
//!
//! ```sh
//! cmake -S target/bench/llama.cpp -B target/bench/llama.cpp/build -DCMAKE_BUILD_TYPE=Release \
//!   -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=ON
//! cmake --build target/bench/llama.cpp/build -j2 --target llama-server
//! ```
//!
//! What it checks: the card's prompt arrives as we tokenize it plus the BOS llama.cpp always
//! adds to a string prompt (the card encodes without BOS; vLLM honours our
//! `add_special_tokens: false`, llama.cpp does not), the stream ends with `[DONE]` and usage, and llama.cpp's 401 and "exceeds the
//! context" answers map to our `unauthorized` and `context_overflow`. Greedy text is not
//! compared: llama.cpp's f16 arithmetic may break the near-ties of a random tiny model.

use jslm_engine::{CancelFlag, Engine, GenerationRequest, GenerationSettings, LoadOptions};
use jslm_remote::{Remote, RemoteConfig, RemoteError};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn binary() -> Option<PathBuf> {
    let path = std::env::var_os("JSLM_LLAMA_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target/bench/llama.cpp/build/bin/llama-server"));
    path.is_file().then_some(path)
}

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn request(max_new_tokens: usize) -> GenerationRequest {
    GenerationRequest {
        instruction: "日本の首都はどこですか？".into(),
        input: String::new(),
        settings: GenerationSettings::greedy(max_new_tokens),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_remote_backend_talks_to_llama_server() {
    let Some(bin) = binary() else {
        eprintln!("skipped: no llama-server (set JSLM_LLAMA_SERVER; see this file's header)");
        return;
    };
    let gguf = root().join("tests/fixtures/tiny-mistral-gguf/model-f16.gguf");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let _server = Killed(
        Command::new(bin)
            .args(["-m"])
            .arg(&gguf)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["-c", "256", "-t", "2", "--api-key", "sk-llama"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("llama-server starts"),
    );
    let url = format!("http://127.0.0.1:{port}/v1");
    let health = format!("http://127.0.0.1:{port}/health");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ok = reqwest::get(&health)
            .await
            .is_ok_and(|r| r.status().is_success());
        if ok {
            break;
        }
        assert!(Instant::now() < deadline, "llama-server did not come up");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let config = |key: &str| RemoteConfig {
        url: url.clone(),
        model: None,
        api_key: Some(key.into()),
        ..Default::default()
    };

    let local = Engine::load(&gguf, &LoadOptions::default(), |_| {})
        .unwrap()
        .generate(&request(16), &CancelFlag::new(), |_| {})
        .unwrap();
    let remote = Remote::connect(config("sk-llama")).await.unwrap();
    let mut streamed = String::new();
    let out = remote
        .generate(&request(16), &CancelFlag::new(), |t| streamed.push_str(t))
        .await
        .unwrap();
    assert_eq!(out.prompt, local.prompt);
    assert_eq!(streamed, out.raw);
    // Builds that send no usage in the stream leave the counts at 0.
    if out.stats.prompt_tokens != 0 {
        // A known difference: llama.cpp's server always puts BOS before a string prompt
        // (it ignores `add_special_tokens: false`); the card encodes without it. Every other
        // token is the card's.
        assert_eq!(out.stats.prompt_tokens, local.prompt_token_ids.len() + 1);
        assert!(out.stats.generated_tokens <= 16, "{:?}", out.stats);
    }

    let e = Remote::connect(config("sk-wrong")).await.err().unwrap();
    assert!(matches!(e, RemoteError::Unauthorized { .. }), "{e}");
    // llama.cpp's server refuses a prompt longer than its context (`-c 256`); prompt +
    // max_tokens over it is not refused, the answer just ends at the context ("length").
    let long = GenerationRequest {
        instruction: "日本の首都はどこですか？".repeat(60),
        ..request(8)
    };
    let e = remote
        .generate(&long, &CancelFlag::new(), |_| {})
        .await
        .unwrap_err();
    assert_eq!(e.code().as_str(), "context_overflow", "{e}");
}
