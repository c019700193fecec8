//! Interop with Python `huggingface_hub` against the same test hub (`HF_ENDPOINT`) and cache
//! (`HF_HUB_CACHE`), both directions. Skipped, with the reason printed, only when
//! `python3 -c "import huggingface_hub"` fails. `JSLM_TEST_PYTHON` picks another interpreter
//! (e.g. a venv's `bin/python`).

mod support;

use std::path::Path;
use std::process::Command;

use jslm_hub::{CancellationToken, DownloadRequest};
use jslm_hubtest::FakeRepo;
use support::*;

fn python() -> String {
    std::env::var("JSLM_TEST_PYTHON").unwrap_or_else(|_| "python3".to_string())
}

/// `Ok(version)` when huggingface_hub imports, else why not.
fn huggingface_hub_version() -> Result<String, String> {
    let out = Command::new(python())
        .args([
            "-c",
            "import huggingface_hub; print(huggingface_hub.__version__)",
        ])
        .output()
        .map_err(|e| format!("cannot run {}: {e}", python()))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(format!(
            "`{} -c \"import huggingface_hub\"` failed: {}",
            python(),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Runs a Python snippet with the hub and cache of this test; returns its stdout as JSON.
async fn run_python(
    script: &'static str,
    endpoint: &str,
    cache: &Path,
    hf_home: &Path,
    args: Vec<String>,
) -> serde_json::Value {
    let mut cmd = Command::new(python());
    cmd.arg("-c").arg(script).args(args);
    cmd.env("HF_ENDPOINT", endpoint)
        .env("HF_HUB_CACHE", cache)
        .env("HF_HOME", hf_home)
        .env("HF_HUB_DISABLE_TELEMETRY", "1")
        .env("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        .env("HF_HUB_DISABLE_XET", "1")
        .env("NO_PROXY", "127.0.0.1,127.0.0.2,localhost")
        .env("no_proxy", "127.0.0.1,127.0.0.2,localhost")
        .env_remove("HF_TOKEN")
        .env_remove("HF_HUB_OFFLINE");
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .expect("join")
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "python failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let last = stdout.lines().last().unwrap_or("");
    serde_json::from_str(last).unwrap_or_else(|e| panic!("python printed no JSON ({e}): {stdout}"))
}

const PY_DOWNLOAD: &str = r#"
import json, sys
from huggingface_hub import hf_hub_download, snapshot_download
repo, files = sys.argv[1], json.loads(sys.argv[2])
snapshot = snapshot_download(repo)
print(json.dumps({"snapshot": snapshot, "files": {f: hf_hub_download(repo, f) for f in files}}))
"#;

const PY_LOCAL_AND_SCAN: &str = r#"
import json, sys, hashlib
from huggingface_hub import hf_hub_download, scan_cache_dir
repo, files = sys.argv[1], json.loads(sys.argv[2])
paths = {f: hf_hub_download(repo, f, local_files_only=True) for f in files}
sha = {f: hashlib.sha256(open(p, "rb").read()).hexdigest() for f, p in paths.items()}
online = {f: hf_hub_download(repo, f, token=(sys.argv[3] if len(sys.argv) > 3 else None)) for f in files}
info = scan_cache_dir()
repos = {r.repo_id: {"nb_files": r.nb_files, "size_on_disk": r.size_on_disk,
                     "revisions": [{"commit": v.commit_hash, "refs": sorted(v.refs), "nb_files": v.nb_files} for v in r.revisions]}
         for r in info.repos}
print(json.dumps({"paths": paths, "sha": sha, "online": online, "repos": repos,
                  "warnings": [str(w) for w in info.warnings]}))
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_and_jslm_share_one_cache_both_ways() {
    let version = match huggingface_hub_version() {
        Ok(v) => v,
        Err(reason) => {
            println!("SKIPPED python_and_jslm_share_one_cache_both_ways: {reason}");
            return;
        }
    };
    println!("huggingface_hub {version} via {}", python());
    let py_first = FakeRepo::new(
        "org/py-first",
        vec![
            ("model.safetensors", bytes(3 * MIB, 11)),
            ("config.json", b"{\"py\": true}".to_vec()),
            ("sub/extra.json", b"[]".to_vec()),
        ],
    );
    let hub = server_with(vec![
        py_first.clone(),
        official_repo(),
        plain_repo("org/rust-first"),
    ])
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = dir.path().join("hub");
    let hf_home = dir.path().join("hf_home");

    // 1. Python downloads (snapshot_download: tree API, nested file); jslm finds it in the cache
    //    and re-downloads nothing.
    let files: Vec<String> = py_first.files.keys().cloned().collect();
    let py_paths = run_python(
        PY_DOWNLOAD,
        &hub.endpoint,
        &cache,
        &hf_home,
        vec![
            "org/py-first".into(),
            serde_json::to_string(&files).expect("json"),
        ],
    )
    .await;
    assert_eq!(
        py_paths["files"].as_object().map(|o| o.len()),
        Some(3),
        "{py_paths}"
    );
    let m = manager(&hub.endpoint, cache.clone(), None);
    let local = m
        .find_local(&DownloadRequest::new("org/py-first"))
        .expect("lookup")
        .expect("found without the network");
    assert_eq!(local.commit, py_first.commit);
    assert_eq!(local.files.len(), 3);
    assert_eq!(
        py_paths["snapshot"].as_str().map(Path::new),
        Some(local.snapshot_dir.as_path())
    );
    for f in &local.files {
        assert_eq!(
            py_paths["files"][&f.name].as_str().map(Path::new),
            Some(f.path.as_path()),
            "same snapshot path for {}",
            f.name
        );
    }
    hub.reset_stats();
    let got = m
        .download(
            DownloadRequest::new("org/py-first"),
            |_| {},
            CancellationToken::new(),
        )
        .await
        .expect("download");
    assert_eq!(got.downloaded_bytes, 0);
    assert_eq!(hub.total_bytes_served(), 0, "not a byte re-downloaded");

    // 2. jslm downloads (a gated catalog model and a plain repo); Python sees them offline,
    //    online (without downloading) and in scan_cache_dir().
    let m = manager(&hub.endpoint, cache.clone(), Some(GOOD_TOKEN));
    let official = m
        .download(
            DownloadRequest::new("jslm-gamma-7b"),
            |_| {},
            CancellationToken::new(),
        )
        .await
        .expect("official");
    m.download(
        DownloadRequest::new("org/rust-first"),
        |_| {},
        CancellationToken::new(),
    )
    .await
    .expect("plain");
    hub.reset_stats();
    let names: Vec<String> = official.files.iter().map(|f| f.name.clone()).collect();
    let seen = run_python(
        PY_LOCAL_AND_SCAN,
        &hub.endpoint,
        &cache,
        &hf_home,
        vec![
            OFFICIAL.into(),
            serde_json::to_string(&names).expect("json"),
            GOOD_TOKEN.into(),
        ],
    )
    .await;
    let repo = hub.repo(OFFICIAL).expect("repo");
    for f in &official.files {
        assert_eq!(
            seen["paths"][&f.name].as_str().map(Path::new),
            Some(f.path.as_path()),
            "{}",
            f.name
        );
        assert_eq!(
            seen["sha"][&f.name], repo.files[&f.name].sha256,
            "{}",
            f.name
        );
        assert_eq!(
            seen["online"][&f.name].as_str().map(Path::new),
            Some(f.path.as_path()),
            "{}",
            f.name
        );
    }
    assert_eq!(
        hub.total_bytes_served(),
        0,
        "Python reused jslm's blobs: {:?}",
        hub.stats().bytes_served
    );
    assert_eq!(
        seen["warnings"],
        serde_json::json!([]),
        "scan_cache_dir found no corruption"
    );
    let scanned = &seen["repos"][OFFICIAL];
    assert_eq!(scanned["nb_files"], 8, "{scanned}");
    assert_eq!(scanned["revisions"][0]["commit"], repo.commit.as_str());
    assert_eq!(scanned["revisions"][0]["refs"], serde_json::json!(["main"]));
    let expected_size: usize = official
        .files
        .iter()
        .map(|f| repo.files[&f.name].data.len())
        .sum();
    assert_eq!(scanned["size_on_disk"], expected_size);
    assert!(
        seen["repos"]["org/rust-first"].is_object(),
        "{}",
        seen["repos"]
    );
    assert!(seen["repos"]["org/py-first"].is_object());
}
