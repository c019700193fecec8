//! End-to-end tests of the `jslm` binary against the local test hub: kill -9 and resume, exit
//! codes and last stderr lines, login/logout, models, rm, Ctrl-C.

mod support;

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use jslm_hubtest::{FakeRepo, Fault, FaultKind, HubTestServer, ServerConfig, TokenGrant};

const OFFICIAL: &str = "stabilityai/japanese-stablelm-instruct-gamma-7b";
const GOOD: &str = "hf_cliGoodTokenAcceptedTerms0123456789";
const FRESH: &str = "hf_cliFreshTokenNoTermsAccepted987654";
const BAD: &str = "hf_cliUnknownToken000111222333444555";
const MIB: usize = 1024 * 1024;

fn bytes(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

async fn hub() -> HubTestServer {
    let index = br#"{"weight_map": {"a": "model-00001-of-00001.safetensors"}}"#.to_vec();
    let official = FakeRepo::new(
        OFFICIAL,
        vec![
            ("config.json", b"{}".to_vec()),
            ("generation_config.json", b"{}".to_vec()),
            ("tokenizer.json", b"{}".to_vec()),
            ("tokenizer_config.json", b"{}".to_vec()),
            ("special_tokens_map.json", b"{}".to_vec()),
            ("model.safetensors.index.json", index),
            ("model-00001-of-00001.safetensors", bytes(MIB, 1)),
        ],
    )
    .gated();
    let plain = FakeRepo::new(
        "org/plain",
        vec![
            ("model.safetensors", bytes(4 * MIB, 2)),
            ("config.json", b"{}".to_vec()),
        ],
    );
    HubTestServer::start(ServerConfig {
        repos: vec![official, plain],
        tokens: vec![
            TokenGrant::new(GOOD, "good", &[OFFICIAL]),
            TokenGrant::new(FRESH, "fresh", &[]),
        ],
        port: 0,
        cdn_port: 0,
    })
    .await
    .expect("hub")
}

struct Env {
    dir: tempfile::TempDir,
    endpoint: String,
}

impl Env {
    fn new(hub: &HubTestServer) -> Self {
        Self {
            dir: tempfile::tempdir().expect("tempdir"),
            endpoint: hub.endpoint.clone(),
        }
    }
    fn cache(&self) -> PathBuf {
        self.dir.path().join("hub")
    }
    fn token_file(&self) -> PathBuf {
        self.dir.path().join("config/jslm/hf_token")
    }
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_jslm"));
        cmd.args(args)
            .env("HF_ENDPOINT", &self.endpoint)
            .env("HF_HUB_CACHE", self.cache())
            .env("HF_HOME", self.dir.path().join("hf_home"))
            .env("JSLM_KEYCHAIN", "off")
            .env("JSLM_TOKEN_FILE", self.token_file())
            .env("NO_PROXY", "127.0.0.1,127.0.0.2,localhost")
            .env("no_proxy", "127.0.0.1,127.0.0.2,localhost")
            .env_remove("HF_TOKEN")
            .env_remove("HF_HUB_OFFLINE")
            .env_remove("HF_TOKEN_PATH");
        cmd
    }
}

fn last_stderr_line(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .last()
        .unwrap_or("")
        .to_string()
}

/// Runs `jslm` to completion. Waiting happens on a blocking thread so the in-process hub keeps
/// serving.
async fn run(env: &Env, args: &[&str], extra_env: &[(&str, &str)], stdin: Option<&str>) -> Output {
    let mut cmd = env.command(args);
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let stdin = stdin.map(String::from);
    tokio::task::spawn_blocking(move || {
        let mut child = cmd.spawn().expect("jslm starts");
        if let Some(mut pipe) = child.stdin.take() {
            if let Some(text) = stdin {
                pipe.write_all(text.as_bytes()).expect("stdin");
            }
        }
        child.wait_with_output().expect("jslm runs")
    })
    .await
    .expect("join")
}

fn partial_len(cache: &Path, sha: &str) -> u64 {
    std::fs::metadata(
        cache
            .join("models--org--plain/blobs")
            .join(format!("{sha}.incomplete")),
    )
    .map(|m| m.len())
    .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_dash_9_mid_file_then_rerun_resumes() {
    let hub = hub().await;
    let env = Env::new(&hub);
    let size = (4 * MIB) as u64;
    let sha = hub.repo("org/plain").expect("repo").files["model.safetensors"]
        .sha256
        .clone();
    hub.add_fault(Fault::new(
        "model.safetensors",
        FaultKind::Throttle(MIB as u64),
        u32::MAX,
    ));

    let mut child = env
        .command(&["download", "org/plain"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(60);
    while partial_len(&env.cache(), &sha) < MIB as u64 {
        assert!(Instant::now() < deadline, "no progress");
        assert!(
            child.try_wait().expect("poll").is_none(),
            "jslm exited early"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().expect("SIGKILL"); // std's kill is SIGKILL on Unix: no cleanup code runs
    let status = child.wait().expect("reap");
    assert!(!status.success());
    let kept = partial_len(&env.cache(), &sha);
    assert!(kept >= MIB as u64 && kept < size, "partial kept: {kept}");
    assert!(
        !env.cache()
            .join("models--org--plain/blobs")
            .join(&sha)
            .exists(),
        "not complete"
    );

    hub.clear_faults();
    hub.reset_stats();
    let out = run(&env, &["download", "org/plain"], &[], None).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("resuming at"), "{stderr}");
    let served = hub.bytes_served("model.safetensors");
    println!("kill -9 after {kept} bytes; the rerun fetched {served} of {size} bytes");
    assert!(
        served <= size - kept + 64 * 1024,
        "resumed, not from zero: served {served}, kept {kept}"
    );
    assert_eq!(
        hub.stats().range_requests.get("model.safetensors"),
        Some(&1)
    );
    let snapshot = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let content = std::fs::read(Path::new(&snapshot).join("model.safetensors")).expect("file");
    assert_eq!(jslm_hubtest::sha256_hex(&content), sha);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn errors_have_distinct_exit_codes_and_a_clear_last_line() {
    let hub = hub().await;
    let env = Env::new(&hub);
    // (arguments, extra environment, exit code, fragments of the last stderr line)
    type Case<'a> = (Vec<&'a str>, Vec<(&'a str, &'a str)>, i32, Vec<String>);
    let cases: Vec<Case> = vec![
        (
            vec!["download", "jslm-gamma-7b"],
            vec![],
            10,
            vec!["no Hugging Face token is set".into()],
        ),
        (
            vec!["download", "jslm-gamma-7b"],
            vec![("HF_TOKEN", BAD)],
            11,
            vec!["401".into(), "HF_TOKEN".into()],
        ),
        (
            vec!["download", OFFICIAL],
            vec![("HF_TOKEN", FRESH)],
            12,
            vec!["403".into(), format!("{}/{OFFICIAL}", hub.endpoint)],
        ),
        (
            vec!["download", "org/missing"],
            vec![],
            14,
            vec!["org/missing was not found".into()],
        ),
        (
            vec!["download", "org/plain", "--file", "nope.bin"],
            vec![],
            14,
            vec!["nope.bin does not exist".into()],
        ),
        (
            vec!["download", "not a repo"],
            vec![],
            25,
            vec!["not a Hugging Face repo id".into()],
        ),
        (
            vec!["download", "org/plain"],
            vec![("HF_HUB_OFFLINE", "1")],
            17,
            vec!["HF_HUB_OFFLINE".into()],
        ),
        (
            vec!["rm", "org/plain"],
            vec![],
            30,
            vec![
                "org/plain is not downloaded".into(),
                env.cache().display().to_string(),
            ],
        ),
    ];
    for (args, extra, code, fragments) in cases {
        let out = run(&env, &args, &extra, None).await;
        let last = last_stderr_line(&out);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {last}");
        assert!(last.starts_with("error: "), "{last}");
        for f in fragments {
            assert!(last.contains(&f), "{args:?}: `{f}` not in `{last}`");
        }
        let all = String::from_utf8_lossy(&out.stderr);
        assert!(!all.contains(BAD) && !all.contains(FRESH), "token printed");
        if code == 30 {
            // Nothing was asked of the hub: no word of it, or of logging in.
            assert!(
                !all.contains("on the hub") && !all.contains("login"),
                "{all}"
            );
        }
        if code == 10 {
            // The CLI's own advice, on the line before the error.
            assert!(
                all.contains("hint: create a read token") && all.contains("`jslm login`"),
                "{all}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn login_download_models_rm_logout() {
    let hub = hub().await;
    let env = Env::new(&hub);

    let out = run(&env, &["login"], &[], Some(&format!("{BAD}\n"))).await;
    assert_eq!(out.status.code(), Some(11), "{}", last_stderr_line(&out));
    assert!(!env.token_file().exists(), "a rejected token is not stored");

    let out = run(&env, &["login"], &[], Some(&format!("{GOOD}\n"))).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains(GOOD),
        "token echoed"
    );
    assert_eq!(
        std::fs::read_to_string(env.token_file()).expect("stored"),
        GOOD
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(env.token_file())
            .expect("meta")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
    }

    let out = run(&env, &["download", "jslm-gamma-7b"], &[], None).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = run(&env, &["models", "--json"], &[], None).await;
    assert!(out.status.success());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let installed = json["installed"].as_array().expect("array");
    assert_eq!(installed.len(), 1);
    assert_eq!(installed[0]["repo"], OFFICIAL);
    assert_eq!(
        installed[0]["revisions"][0]["status"],
        serde_json::json!({"state": "complete", "verified": true})
    );
    assert_eq!(json["catalog"].as_array().map(|a| a.len()), Some(3));

    let out = run(&env, &["models"], &[], None).await;
    assert!(String::from_utf8_lossy(&out.stdout).contains("complete, verified"));

    let out = run(&env, &["rm", "jslm-gamma-7b"], &[], None).await;
    assert!(out.status.success(), "{}", last_stderr_line(&out));
    let out = run(&env, &["models", "--json"], &[], None).await;
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(json["installed"], serde_json::json!([]));

    let out = run(&env, &["logout"], &[], None).await;
    assert!(out.status.success());
    assert!(!env.token_file().exists());
}

fn tiny_fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/tiny-mistral")
}

/// A hub serving the tiny fixture model as `org/tiny-mistral`.
async fn tiny_hub() -> HubTestServer {
    let fixtures = tiny_fixture();
    let files: Vec<(&str, Vec<u8>)> = [
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
    ]
    .iter()
    .map(|n| (*n, std::fs::read(fixtures.join(n)).expect("fixture")))
    .collect();
    HubTestServer::start(ServerConfig {
        repos: vec![FakeRepo::new("org/tiny-mistral", files)],
        tokens: vec![],
        port: 0,
        cdn_port: 0,
    })
    .await
    .expect("hub")
}

/// `jslm generate --model org/name` takes the model from the cache, downloading it first, and
/// generates exactly what the local folder gives (the tiny fixture model, served by the hub).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generate_with_a_repo_id_downloads_then_generates() {
    let fixtures = tiny_fixture();
    let hub = tiny_hub().await;
    let env = Env::new(&hub);
    let reference: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixtures.join("reference.json")).unwrap()).unwrap();
    let case = &reference["cases"][0];
    let args = [
        "generate",
        "--model",
        "org/tiny-mistral",
        "--precision",
        "f32",
        "--greedy",
        "--json",
        "--max-new-tokens",
        "24",
        "--instruction",
        case["instruction"].as_str().unwrap(),
        "--input",
        case["input"].as_str().unwrap(),
    ];
    for round in 0..2 {
        let out = run(&env, &args, &[], None).await;
        assert!(
            out.status.success(),
            "round {round}: {}",
            last_stderr_line(&out)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        let last: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
        assert_eq!(
            last["generated_token_ids"], case["greedy_ids"],
            "round {round}"
        );
    }
    // The second run came from the cache: the weights were served once.
    let served = hub.bytes_served("model.safetensors");
    let size = std::fs::metadata(fixtures.join("model.safetensors"))
        .unwrap()
        .len();
    assert!(
        served <= size + size / 10,
        "served {served} for a {size}-byte file"
    );
}

/// Starts `jslm generate --model org/tiny-mistral --json` for a long answer, with its stdout
/// lines read on a thread.
fn start_long_generation(env: &Env) -> (std::process::Child, std::sync::mpsc::Receiver<String>) {
    let mut child = env
        .command(&[
            "generate",
            "--model",
            "org/tiny-mistral",
            "--greedy",
            "--json",
        ])
        .args(["--max-new-tokens", "4000", "--instruction", "こんにちは"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let (send, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let _ = send.send(line);
        }
    });
    (child, lines)
}

fn stderr_of(child: &mut std::process::Child) -> String {
    let mut text = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut e, &mut text);
    }
    text
}

/// With a repo id, Ctrl-C stops the download (kept, exit 130) and, once the model is in the
/// cache, the generation: the download's runtime listening for Ctrl-C once used to leave
/// SIGINT swallowed for the rest of the process, so the generation ran to its end, exit 0.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_stops_the_download_then_the_generation_of_a_repo_id() {
    let hub = tiny_hub().await;
    let env = Env::new(&hub);
    let sha = hub.repo("org/tiny-mistral").expect("repo").files["model.safetensors"]
        .sha256
        .clone();
    let blob = env
        .cache()
        .join("models--org--tiny-mistral/blobs")
        .join(format!("{sha}.incomplete"));
    hub.add_fault(Fault::new(
        "model.safetensors",
        FaultKind::Throttle(MIB as u64),
        u32::MAX,
    ));
    let (mut child, _lines) = start_long_generation(&env);
    let (status, stderr) = tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::fs::metadata(&blob).map_or(0, |m| m.len()) == 0 {
            assert!(Instant::now() < deadline, "no download progress");
            std::thread::sleep(Duration::from_millis(20));
        }
        support::ctrl_c(&child);
        let status = support::exit_within(&mut child, Duration::from_secs(5), "download");
        (status, stderr_of(&mut child))
    })
    .await
    .expect("join");
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("download cancelled"), "{stderr}");

    hub.clear_faults();
    let (mut child, lines) = start_long_generation(&env);
    let (status, stderr, seen) = tokio::task::spawn_blocking(move || {
        let mut seen: Vec<String> = Vec::new();
        while !seen.iter().any(|l| l.contains(r#""event":"token""#)) {
            match lines.recv_timeout(Duration::from_secs(60)) {
                Ok(line) => seen.push(line),
                Err(e) => panic!("no token: {e}; {}", stderr_of(&mut child)),
            }
        }
        support::ctrl_c(&child);
        let status = support::exit_within(&mut child, Duration::from_secs(5), "generate");
        seen.extend(lines.iter());
        (status, stderr_of(&mut child), seen)
    })
    .await
    .expect("join");
    assert_eq!(status.code(), Some(130), "{stderr}");
    let last: serde_json::Value = serde_json::from_str(seen.last().expect("lines")).expect("json");
    assert_eq!(last["stop_reason"], "cancelled", "{last}");
}
