//! Shared helpers for jslm-hub's end-to-end tests: fake repos shaped like the real ones, a
//! test hub, a cache in a temp folder, and an event recorder.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jslm_hub::{
    DownloadEvent, DownloadManager, HfToken, HubClient, HubConfig, RetryPolicy, TokenSource,
};
use jslm_hubtest::{FakeRepo, HubTestServer, ServerConfig, TokenGrant};

pub const OFFICIAL: &str = "stabilityai/japanese-stablelm-instruct-gamma-7b";
pub const GGUF: &str = "TheBloke/japanese-stablelm-instruct-gamma-7B-GGUF";
pub const Q4: &str = "japanese-stablelm-instruct-gamma-7b.Q4_K_M.gguf";
pub const Q8: &str = "japanese-stablelm-instruct-gamma-7b.Q8_0.gguf";
pub const SHARD1: &str = "model-00001-of-00002.safetensors";
pub const SHARD2: &str = "model-00002-of-00002.safetensors";

/// A token that accepted the official model's terms.
pub const GOOD_TOKEN: &str = "hf_goodTokenAcceptedTermsXYZ0123456789";
/// A valid token whose account has not accepted the terms.
pub const FRESH_TOKEN: &str = "hf_freshTokenNotAcceptedABC9876543210";
/// A token the hub does not know.
pub const BAD_TOKEN: &str = "hf_revokedTokenQQQ111222333444555666";

/// Deterministic pseudo-random bytes (xorshift), so corruption is detectable and files differ.
pub fn bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x & 0xFF) as u8
        })
        .collect()
}

pub const MIB: usize = 1024 * 1024;

/// The official repo's shape: configs, tokenizer files, a safetensors index and two shards.
pub fn official_repo() -> FakeRepo {
    let index = format!(
        r#"{{"metadata": {{"total_size": 6291456}}, "weight_map": {{
            "model.embed_tokens.weight": "{SHARD1}", "model.layers.0.mlp.up_proj.weight": "{SHARD1}",
            "model.layers.31.mlp.up_proj.weight": "{SHARD2}", "lm_head.weight": "{SHARD2}"}}}}"#
    );
    FakeRepo::new(
        OFFICIAL,
        vec![
            (
                "config.json",
                br#"{"architectures": ["MistralForCausalLM"], "vocab_size": 32000}"#.to_vec(),
            ),
            ("generation_config.json", br#"{"do_sample": true}"#.to_vec()),
            (
                "tokenizer.json",
                br#"{"version": "1.0", "model": {"type": "BPE"}}"#.to_vec(),
            ),
            ("tokenizer_config.json", br#"{"bos_token": "<s>"}"#.to_vec()),
            (
                "special_tokens_map.json",
                br#"{"bos_token": "<s>", "eos_token": "</s>"}"#.to_vec(),
            ),
            ("model.safetensors.index.json", index.into_bytes()),
            (SHARD1, bytes(4 * MIB, 1)),
            (SHARD2, bytes(2 * MIB, 2)),
            (
                "README.md",
                b"# Japanese StableLM Instruct Gamma 7B".to_vec(),
            ),
        ],
    )
    .gated()
}

/// The GGUF repo's shape: several quantisations, one chosen.
pub fn gguf_repo() -> FakeRepo {
    FakeRepo::new(
        GGUF,
        vec![
            (Q4, bytes(4 * MIB, 3)),
            (Q8, bytes(6 * MIB, 4)),
            ("README.md", b"# GGUF".to_vec()),
        ],
    )
}

/// An ungated repo with one 4 MiB LFS file and one small file.
pub fn plain_repo(id: &str) -> FakeRepo {
    FakeRepo::new(
        id,
        vec![
            ("model.safetensors", bytes(4 * MIB, 5)),
            ("config.json", b"{\"a\": 1}".to_vec()),
        ],
    )
}

pub fn tokens() -> Vec<TokenGrant> {
    vec![
        TokenGrant::new(GOOD_TOKEN, "accepted-user", &[OFFICIAL]),
        TokenGrant::new(FRESH_TOKEN, "fresh-user", &[]),
    ]
}

pub async fn server() -> HubTestServer {
    server_with(vec![official_repo(), gguf_repo(), plain_repo("org/plain")]).await
}

pub async fn server_with(repos: Vec<FakeRepo>) -> HubTestServer {
    HubTestServer::start(ServerConfig {
        repos,
        tokens: tokens(),
        port: 0,
        cdn_port: 0,
    })
    .await
    .expect("test hub starts")
}

/// A fast-failing configuration for tests: short backoff, 1 s stall detection.
pub fn config(endpoint: &str, cache: PathBuf) -> HubConfig {
    let mut config = HubConfig::with_endpoint_and_cache(endpoint, cache);
    config.retry = RetryPolicy {
        max_attempts: 6,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(100),
    };
    config.read_timeout = Duration::from_secs(1);
    config.connect_timeout = Duration::from_secs(2);
    config
}

pub fn token(secret: &str) -> HfToken {
    HfToken::new(secret, TokenSource::Explicit).expect("non-empty token")
}

pub fn manager(endpoint: &str, cache: PathBuf, secret: Option<&str>) -> DownloadManager {
    let client = HubClient::new(config(endpoint, cache), secret.map(token)).expect("client");
    DownloadManager::new(client)
}

/// Records events.
#[derive(Clone, Default)]
pub struct Recorder(pub Arc<Mutex<Vec<DownloadEvent>>>);

impl Recorder {
    pub fn callback(&self) -> impl Fn(DownloadEvent) + Send + Sync + 'static {
        let events = self.0.clone();
        move |e| events.lock().expect("lock").push(e)
    }

    pub fn events(&self) -> Vec<DownloadEvent> {
        self.0.lock().expect("lock").clone()
    }

    pub fn names(&self) -> Vec<String> {
        self.events()
            .iter()
            .map(|e| {
                serde_json::to_value(e).expect("json")["event"]
                    .as_str()
                    .unwrap_or("")
                    .to_string()
            })
            .collect()
    }

    pub fn count(&self, name: &str) -> usize {
        self.names().iter().filter(|n| *n == name).count()
    }
}
