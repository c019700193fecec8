//! End-to-end downloads against the local test hub: the catalog models, resume, restart,
//! verification, retries, cancel, concurrency, disk space, offline mode.

mod support;

use std::sync::Arc;
use std::time::Duration;

use jslm_hub::disk::FixedFreeSpace;
use jslm_hub::{CancellationToken, DownloadEvent, DownloadRequest, InstallStatus};
use jslm_hubtest::{sha256_hex, Fault, FaultKind};
use support::*;

fn request(model: &str) -> DownloadRequest {
    DownloadRequest::new(model)
}

fn file_sha(path: &std::path::Path) -> String {
    sha256_hex(&std::fs::read(path).expect("read downloaded file"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_gated_model_downloads_with_an_accepted_token() {
    let hub = server().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = dir.path().join("hub");
    let m = manager(&hub.endpoint, cache.clone(), Some(GOOD_TOKEN));
    let rec = Recorder::default();
    let model = m
        .download(
            request("jslm-gamma-7b"),
            rec.callback(),
            CancellationToken::new(),
        )
        .await
        .expect("download");

    let repo = hub.repo(OFFICIAL).expect("repo");
    assert_eq!(model.commit, repo.commit);
    assert_eq!(
        model.files.len(),
        8,
        "5 fixed files + index + 2 shards from the index: {:?}",
        model.files
    );
    for f in &model.files {
        assert_eq!(file_sha(&f.path), repo.files[&f.name].sha256, "{}", f.name);
    }
    assert!(
        model.file("README.md").is_none(),
        "only the catalog's files"
    );
    assert_eq!(
        std::fs::read_to_string(
            cache.join("models--stabilityai--japanese-stablelm-instruct-gamma-7b/refs/main")
        )
        .expect("ref"),
        repo.commit
    );
    assert_eq!(
        hub.stats().auth_on_cdn,
        0,
        "the token never goes to the CDN host"
    );
    let names = rec.names();
    assert!(
        names.contains(&"Resolved".to_string())
            && names.last().map(String::as_str) == Some("Finished"),
        "{names:?}"
    );
    assert_eq!(rec.count("Verified"), 8);

    // The listing says complete and verified.
    let listed = jslm_hub::list_installed(m.cache()).expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(
        listed[0].revisions[0].status,
        InstallStatus::Complete { verified: true }
    );
    assert_eq!(listed[0].catalog_id.as_deref(), Some("jslm-gamma-7b"));

    // A second run transfers nothing, and the cache lookup works without the network.
    hub.reset_stats();
    let again = m
        .download(request(OFFICIAL), |_| {}, CancellationToken::new())
        .await
        .expect("again");
    assert_eq!(again.downloaded_bytes, 0);
    assert_eq!(hub.total_bytes_served(), 0);
    let local = m
        .find_local(&request("jslm-gamma-7b"))
        .expect("lookup")
        .expect("cached");
    assert_eq!(local.files.len(), 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_after_dropped_connections_transfers_under_1_1x() {
    let hub = server().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let m = manager(&hub.endpoint, dir.path().join("hub"), None);
    let size = (4 * MIB) as u64;
    hub.add_fault(Fault::new(
        "model.safetensors",
        FaultKind::DropAfter(MIB as u64),
        3,
    ));
    let rec = Recorder::default();
    let model = m
        .download(
            request("org/plain"),
            rec.callback(),
            CancellationToken::new(),
        )
        .await
        .expect("download");
    let served = hub.bytes_served("model.safetensors");
    println!(
        "resume after 3 drops: served {served} bytes for a {size}-byte file ({:.3}x)",
        served as f64 / size as f64
    );
    assert!((served as f64) < 1.1 * size as f64, "served {served}");
    assert_eq!(rec.count("Retried"), 3);
    assert_eq!(
        hub.stats().range_requests.get("model.safetensors"),
        Some(&3)
    );
    let f = model.file("model.safetensors").expect("file");
    assert_eq!(
        file_sha(f),
        hub.repo("org/plain").expect("repo").files["model.safetensors"].sha256
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_200_answer_to_a_range_request_restarts_the_file_instead_of_appending() {
    let hub = server().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let m = manager(&hub.endpoint, dir.path().join("hub"), None);
    hub.add_fault(Fault::new(
        "model.safetensors",
        FaultKind::DropAfter(MIB as u64),
        1,
    ));
    hub.add_fault(Fault::new("model.safetensors", FaultKind::IgnoreRange, 1));
    let rec = Recorder::default();
    let model = m
        .download(
            request("org/plain"),
            rec.callback(),
            CancellationToken::new(),
        )
        .await
        .expect("download");
    assert_eq!(rec.count("Restarted"), 1, "{:?}", rec.names());
    assert_eq!(
        rec.count("VerificationFailed"),
        0,
        "the 200 body was written from byte 0, not appended"
    );
    let f = model.file("model.safetensors").expect("file");
    assert_eq!(std::fs::metadata(f).expect("meta").len(), (4 * MIB) as u64);
    assert_eq!(hub.bytes_served("model.safetensors"), (5 * MIB) as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corruption_is_detected_and_refetched_once() {
    let hub = server().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let m = manager(&hub.endpoint, dir.path().join("hub"), None);
    hub.add_fault(Fault::new(
        "model.safetensors",
        FaultKind::CorruptByte(123_456),
        1,
    ));
    let rec = Recorder::default();
    let model = m
        .download(
            request("org/plain"),
            rec.callback(),
            CancellationToken::new(),
        )
        .await
        .expect("download");
    let failed: Vec<_> = rec
        .events()
        .into_iter()
        .filter(|e| matches!(e, DownloadEvent::VerificationFailed { .. }))
        .collect();
    assert!(
        matches!(
            &failed[..],
            [DownloadEvent::VerificationFailed {
                will_retry: true,
                ..
            }]
        ),
        "{failed:?}"
    );
    assert_eq!(
        file_sha(model.file("model.safetensors").expect("file")),
        hub.repo("org/plain").expect("r").files["model.safetensors"].sha256
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_corruption_fails_clearly_and_leaves_nothing_marked_complete() {
    let hub = server().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let m = manager(&hub.endpoint, dir.path().join("hub"), None);
    hub.add_fault(Fault::new(
        "model.safetensors",
        FaultKind::CorruptByte(7),
        2,
    ));
    let err = m
        .download(request("org/plain"), |_| {}, CancellationToken::new())
        .await
        .expect_err("corrupt twice");
    assert_eq!(err.code(), "checksum");
    assert!(
        err.to_string().contains("model.safetensors") && err.to_string().contains("twice"),
        "{err}"
    );
    let repo_dir = m.cache().root().join("models--org--plain");
    let sha = &hub.repo("org/plain").expect("r").files["model.safetensors"].sha256;
    assert!(!repo_dir.join("blobs").join(sha).exists(), "no blob");
    assert!(
        !repo_dir
            .join("blobs")
            .join(format!("{sha}.incomplete"))
            .exists(),
        "corrupt partial deleted"
    );
    assert!(m
        .find_local(&request("org/plain"))
        .expect("lookup")
        .is_none());
    let listed = jslm_hub::list_installed(m.cache()).expect("list");
    assert!(
        matches!(listed[0].revisions[0].status, InstallStatus::Partial { .. }),
        "{listed:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_stalls_and_short_bodies_are_retried_and_resumed() {
    let hub = server().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let m = manager(&hub.endpoint, dir.path().join("hub"), None);
    let size = (4 * MIB) as u64;
    hub.add_fault(Fault::new(
        "model.safetensors",
        FaultKind::WrongSize(-1000),
        1,
    ));
    hub.add_fault(Fault::new("model.safetensors", FaultKind::Status(500), 1));
    hub.add_fault(Fault::new("model.safetensors", FaultKind::Status(503), 1));
    hub.add_fault(Fault::new(
        "model.safetensors",
        FaultKind::StallAfter(500),
        1,
    ));
    let rec = Recorder::default();
    let model = m
        .download(
            request("org/plain"),
            rec.callback(),
            CancellationToken::new(),
        )
        .await
        .expect("download");
    let served = hub.bytes_served("model.safetensors");
    println!(
        "500+503+stall+short body: served {served} for {size} ({:.3}x)",
        served as f64 / size as f64
    );
    assert!((served as f64) < 1.1 * size as f64);
    assert_eq!(rec.count("Retried"), 4, "{:?}", rec.names());
    assert_eq!(
        file_sha(model.file("model.safetensors").expect("f")),
        hub.repo("org/plain").expect("r").files["model.safetensors"].sha256
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_longer_than_the_file_is_never_written() {
    // A 200 announcing more bytes than the file has is not the file: refused before its
    // first byte is written, and retried.
    let hub = server().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let m = manager(&hub.endpoint, dir.path().join("hub"), None);
    hub.add_fault(Fault::new(
        "model.safetensors",
        FaultKind::WrongSize(100),
        1,
    ));
    let rec = Recorder::default();
    m.download(
        request("org/plain"),
        rec.callback(),
        CancellationToken::new(),
    )
    .await
    .expect("one wrong answer is retried");
    assert_eq!(rec.count("Retried"), 1, "{:?}", rec.names());
    assert_eq!(rec.count("Restarted"), 0, "{:?}", rec.names());

    let dir = tempfile::tempdir().expect("tempdir");
    let m = manager(&hub.endpoint, dir.path().join("hub"), None);
    hub.add_fault(Fault::new(
        "model.safetensors",
        FaultKind::WrongSize(100),
        u32::MAX,
    ));
    let err = m
        .download(request("org/plain"), |_| {}, CancellationToken::new())
        .await
        .expect_err("always too long");
    assert_eq!(err.code(), "protocol");
    assert!(m
        .find_local(&request("org/plain"))
        .expect("lookup")
        .is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_give_up_with_a_server_error_and_keep_the_partial() {
    let hub = server().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let m = manager(&hub.endpoint, dir.path().join("hub"), None);
    hub.add_fault(Fault::new(
        "model.safetensors",
        FaultKind::Status(503),
        u32::MAX,
    ));
    let err = m
        .download(request("org/plain"), |_| {}, CancellationToken::new())
        .await
        .expect_err("always 503");
    // The hub is there but failing: `server` with its status, not "check the connection".
    assert_eq!(err.code(), "server");
    assert!(
        err.to_string().contains("503") && err.to_string().contains("6 attempts"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_keeps_the_partial_file_and_the_next_run_resumes_it() {
    let hub = server().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = dir.path().join("hub");
    let m = manager(&hub.endpoint, cache.clone(), None);
    hub.add_fault(Fault::new(
        "model.safetensors",
        FaultKind::Throttle(2 * MIB as u64),
        u32::MAX,
    ));
    let sha = hub.repo("org/plain").expect("r").files["model.safetensors"]
        .sha256
        .clone();
    let partial = cache
        .join("models--org--plain/blobs")
        .join(format!("{sha}.incomplete"));
    let cancel = CancellationToken::new();
    let task = {
        let m = m.clone();
        let cancel = cancel.clone();
        tokio::spawn(async move { m.download(request("org/plain"), |_| {}, cancel).await })
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::fs::metadata(&partial).map(|m| m.len()).unwrap_or(0) < MIB as u64 {
        assert!(
            std::time::Instant::now() < deadline,
            "download did not progress"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    cancel.cancel();
    let err = task.await.expect("join").expect_err("cancelled");
    assert_eq!(err.code(), "download_cancelled");
    let kept = std::fs::metadata(&partial).expect("partial kept").len();
    assert!(kept >= MIB as u64, "{kept}");

    hub.clear_faults();
    let rec = Recorder::default();
    m.download(
        request("org/plain"),
        rec.callback(),
        CancellationToken::new(),
    )
    .await
    .expect("resumed");
    let resumed_from = rec.events().iter().find_map(|e| match e {
        DownloadEvent::FileStarted {
            file, resumed_from, ..
        } if file == "model.safetensors" => Some(*resumed_from),
        _ => None,
    });
    assert!(
        resumed_from.is_some_and(|r| r >= kept.min(MIB as u64)),
        "{resumed_from:?} kept {kept}"
    );
    let served = hub.bytes_served("model.safetensors");
    assert!((served as f64) < 1.1 * (4 * MIB) as f64, "served {served}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_concurrent_downloads_of_one_file_use_one_writer_and_both_succeed() {
    let hub = server().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = dir.path().join("hub");
    hub.add_fault(Fault::new(
        "model.safetensors",
        FaultKind::Throttle(8 * MIB as u64),
        u32::MAX,
    ));
    let a = manager(&hub.endpoint, cache.clone(), None);
    let b = manager(&hub.endpoint, cache.clone(), None);
    let (ra, rb) = (Recorder::default(), Recorder::default());
    let (x, y) = tokio::join!(
        a.download(
            request("org/plain"),
            ra.callback(),
            CancellationToken::new()
        ),
        b.download(
            request("org/plain"),
            rb.callback(),
            CancellationToken::new()
        ),
    );
    let (x, y) = (x.expect("first"), y.expect("second"));
    assert_eq!(x.files, y.files);
    let served = hub.bytes_served("model.safetensors");
    assert!(
        (served as f64) < 1.1 * (4 * MIB) as f64,
        "one writer: served {served}"
    );
    let started = |r: &Recorder| {
        r.events().iter().filter(|e| matches!(e, DownloadEvent::FileStarted { file, .. } if file == "model.safetensors")).count()
    };
    assert_eq!(
        started(&ra) + started(&rb),
        1,
        "exactly one writer: {:?} / {:?}",
        ra.names(),
        rb.names()
    );
    assert!(
        ra.count("LockWaited") + rb.count("LockWaited") >= 1,
        "the other one waited"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_little_free_space_is_refused_before_the_first_byte() {
    // Simulated through the injectable free-space source (see `disk_full_tmpfs` for a real
    // small file system).
    let hub = server().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let m = manager(&hub.endpoint, dir.path().join("hub"), None)
        .with_free_space(Arc::new(FixedFreeSpace(MIB as u64)));
    let err = m
        .download(request("org/plain"), |_| {}, CancellationToken::new())
        .await
        .expect_err("disk full");
    assert_eq!(err.code(), "disk_full");
    let text = err.to_string();
    assert!(
        text.contains("4.19 MB") && text.contains("1.05 MB free"),
        "{text}"
    );
    assert_eq!(hub.total_bytes_served(), 0, "refused before the first byte");
    assert!(!dir.path().join("hub/models--org--plain/blobs").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_mode_uses_the_cache_or_says_offline() {
    let hub = server().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = dir.path().join("hub");
    let mut config = config(&hub.endpoint, cache.clone());
    config.offline = true;
    let offline =
        jslm_hub::DownloadManager::new(jslm_hub::HubClient::new(config, None).expect("client"));
    let err = offline
        .download(request("org/plain"), |_| {}, CancellationToken::new())
        .await
        .expect_err("nothing cached");
    assert_eq!(err.code(), "offline");
    assert!(err.to_string().contains("HF_HUB_OFFLINE"), "{err}");

    manager(&hub.endpoint, cache.clone(), None)
        .download(request("org/plain"), |_| {}, CancellationToken::new())
        .await
        .expect("online");
    hub.reset_stats();
    let rec = Recorder::default();
    let model = offline
        .download(
            request("org/plain"),
            rec.callback(),
            CancellationToken::new(),
        )
        .await
        .expect("from cache");
    assert_eq!(model.files.len(), 2);
    assert!(
        hub.stats().log.is_empty(),
        "no request in offline mode: {:?}",
        hub.stats().log
    );
    assert_eq!(rec.count("UsedCache"), 1);

    // An unreachable hub behaves the same: cached → used, else an `offline` error.
    let down = manager("http://127.0.0.1:9", cache, None);
    down.download(request("org/plain"), |_| {}, CancellationToken::new())
        .await
        .expect("cached copy");
    let err = down
        .download(request(GGUF), |_| {}, CancellationToken::new())
        .await
        .expect_err("not cached");
    assert_eq!(err.code(), "offline");
    assert!(err.to_string().contains("cannot reach"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gguf_downloads_one_variant_and_skips_the_gated_tokenizer_without_a_token() {
    let hub = server().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let m = manager(&hub.endpoint, dir.path().join("hub"), None);
    let rec = Recorder::default();
    let model = m
        .download(
            request("jslm-gamma-7b-gguf"),
            rec.callback(),
            CancellationToken::new(),
        )
        .await
        .expect("gguf");
    assert_eq!(
        model
            .files
            .iter()
            .map(|f| f.name.as_str())
            .collect::<Vec<_>>(),
        vec![Q4]
    );
    assert_eq!(model.container, Some(jslm_hub::Container::Gguf));
    assert_eq!(hub.bytes_served(Q8), 0, "only the chosen quantisation");
    assert_eq!(model.skipped.len(), 3);
    assert!(
        model.skipped.iter().all(|s| s.code == "gated_no_token"),
        "{:?}",
        model.skipped
    );
    assert_eq!(rec.count("Skipped"), 3);

    let m = manager(&hub.endpoint, dir.path().join("hub"), Some(GOOD_TOKEN));
    let q8 = DownloadRequest {
        model: GGUF.into(),
        revision: None,
        files: vec!["Q8_0".into()],
    };
    let model = m
        .download(q8, |_| {}, CancellationToken::new())
        .await
        .expect("q8 + tokenizer");
    assert_eq!(model.files[0].name, Q8);
    assert!(model.skipped.is_empty());
    assert!(
        model.file("tokenizer.json").is_some(),
        "companion tokenizer from the official repo"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_repo_revision_and_file_are_told_apart() {
    let hub = server().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let m = manager(&hub.endpoint, dir.path().join("hub"), None);
    let cases = [
        (
            DownloadRequest::new("org/nope"),
            "repository org/nope was not found",
        ),
        (
            DownloadRequest {
                model: "org/plain".into(),
                revision: Some("v9".into()),
                files: vec![],
            },
            "revision v9 does not exist",
        ),
        (
            DownloadRequest {
                model: "org/plain".into(),
                revision: None,
                files: vec!["nope.bin".into()],
            },
            "file nope.bin does not exist",
        ),
    ];
    for (req, text) in cases {
        let err = m
            .download(req, |_| {}, CancellationToken::new())
            .await
            .expect_err("not found");
        assert_eq!(err.code(), "not_found");
        assert!(err.to_string().contains(text), "{err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_events_are_throttled_and_carry_speed_and_eta() {
    let hub = server().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let m = manager(&hub.endpoint, dir.path().join("hub"), None);
    hub.add_fault(Fault::new(
        "model.safetensors",
        FaultKind::Throttle(4 * MIB as u64),
        u32::MAX,
    ));
    let stamps = Arc::new(std::sync::Mutex::new(Vec::new()));
    let s2 = stamps.clone();
    let started = std::time::Instant::now();
    m.download(
        request("org/plain"),
        move |e| {
            if let DownloadEvent::Progressed {
                done,
                total,
                bytes_per_sec,
                eta_secs,
                ..
            } = e
            {
                s2.lock().expect("lock").push((
                    std::time::Instant::now(),
                    done,
                    total,
                    bytes_per_sec,
                    eta_secs,
                ));
            }
        },
        CancellationToken::new(),
    )
    .await
    .expect("download");
    let elapsed = started.elapsed().as_secs_f64();
    let stamps = stamps.lock().expect("lock").clone();
    assert!(stamps.len() >= 3, "{}", stamps.len());
    assert!(
        (stamps.len() as f64) <= elapsed * 10.0 + 1.0,
        "{} events in {elapsed:.2}s",
        stamps.len()
    );
    for pair in stamps.windows(2) {
        assert!(pair[1].0.duration_since(pair[0].0) >= Duration::from_millis(99));
        assert!(pair[1].1 >= pair[0].1, "done never goes back");
    }
    let last = stamps.last().expect("last");
    assert!(
        last.3 > 0.0 && last.4.is_some(),
        "speed and ETA known: {last:?}"
    );
    assert_eq!(last.2, (4 * MIB) as u64 + 8);
}

#[test]
fn the_download_future_is_send_for_ui_runtimes() {
    // Tauri (and tokio::spawn) need Send futures; this fails to compile otherwise.
    fn assert_send<T: Send>(_: &T) {}
    let dir = tempfile::tempdir().expect("tempdir");
    let m = manager("http://127.0.0.1:9", dir.path().join("hub"), None);
    let future = m.download(request("org/plain"), |_| {}, CancellationToken::new());
    assert_send(&future);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_206_without_content_range_keeps_the_partial_file() {
    let hub = server().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let m = manager(&hub.endpoint, dir.path().join("hub"), None);
    // 1 MiB arrives, the connection drops, then two resumes get a 206 that does not say
    // which bytes it holds: the 1 MiB on disk is still good and must not be thrown away.
    hub.add_fault(Fault::new(
        "model.safetensors",
        FaultKind::DropAfter(MIB as u64),
        1,
    ));
    hub.add_fault(Fault::new(
        "model.safetensors",
        FaultKind::NoContentRange,
        2,
    ));
    let rec = Recorder::default();
    let model = m
        .download(
            request("org/plain"),
            rec.callback(),
            CancellationToken::new(),
        )
        .await
        .expect("download");
    assert_eq!(rec.count("Restarted"), 0, "{:?}", rec.names());
    assert_eq!(rec.count("Retried"), 3, "{:?}", rec.names());
    let started: Vec<u64> = rec
        .events()
        .iter()
        .filter_map(|e| match e {
            DownloadEvent::FileStarted { resumed_from, .. } => Some(*resumed_from),
            _ => None,
        })
        .collect();
    assert_eq!(started.len(), 2, "one start per file: {started:?}");
    let path = model.file("model.safetensors").expect("file");
    assert_eq!(
        file_sha(path),
        hub.repo("org/plain").expect("r").files["model.safetensors"].sha256
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_cut_short_then_416_ends_in_a_protocol_error_not_a_loop() {
    let hub = server().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = dir.path().join("hub");
    let m = manager(&hub.endpoint, cache.clone(), None);
    // Every answer ends cleanly 1000 bytes early, and a request for the rest gets 416.
    hub.add_fault(Fault::new(
        "model.safetensors",
        FaultKind::WrongSize(-1000),
        u32::MAX,
    ));
    let result = tokio::time::timeout(
        Duration::from_secs(60),
        m.download(request("org/plain"), |_| {}, CancellationToken::new()),
    )
    .await
    .expect("the download must give up, not loop");
    let err = result.expect_err("cannot complete");
    assert_eq!(err.code(), "protocol", "{err}");
    let sha = hub.repo("org/plain").expect("r").files["model.safetensors"]
        .sha256
        .clone();
    let partial = cache
        .join("models--org--plain/blobs")
        .join(format!("{sha}.incomplete"));
    assert_eq!(
        std::fs::metadata(&partial).expect("partial kept").len(),
        (4 * MIB - 1000) as u64
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_copy_in_the_snapshot_is_not_the_file() {
    let hub = server().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let m = manager(&hub.endpoint, dir.path().join("hub"), None);
    let model = m
        .download(request("org/plain"), |_| {}, CancellationToken::new())
        .await
        .expect("download");
    // What a copy cut off leaves where links are not allowed: a short regular file.
    let pointer = model.file("model.safetensors").expect("file").to_path_buf();
    std::fs::remove_file(&pointer).expect("rm link");
    std::fs::write(&pointer, vec![0u8; 100]).expect("short copy");

    assert!(m.find_local(&request("org/plain")).expect("ok").is_none());
    let repo = jslm_hub::RepoId::parse("org/plain").expect("id");
    assert!(matches!(
        jslm_hub::inspect(m.cache(), &repo).revisions[0].status,
        InstallStatus::Partial { .. }
    ));
    let again = m
        .download(request("org/plain"), |_| {}, CancellationToken::new())
        .await
        .expect("download again");
    assert_eq!(
        file_sha(again.file("model.safetensors").expect("file")),
        hub.repo("org/plain").expect("r").files["model.safetensors"].sha256
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_is_heard_while_a_silent_hub_is_asked_for_the_file_list() {
    // A network that connects but never answers (Wi-Fi just after waking): the metadata calls
    // wait out their read timeouts and retry; Pause/Ctrl-C must not wait for them.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let endpoint = format!("http://{}", silent.local_addr().expect("addr"));
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let m = manager(&endpoint, dir.path().join("hub"), None);
    let cancel = CancellationToken::new();
    let pause = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        pause.cancel();
    });
    let asked = std::time::Instant::now();
    let err = m
        .download(request("org/plain"), |_| {}, cancel)
        .await
        .expect_err("paused");
    assert_eq!(err.code(), "download_cancelled", "{err}");
    // Without the fix: 6 read timeouts of 1 s and their backoffs, over 6 s.
    assert!(
        asked.elapsed() < Duration::from_secs(3),
        "{:?}",
        asked.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_host_that_refuses_is_not_a_token_problem() {
    // The hub answers, its download host (CDN) says 403 or 401: a proxy or firewall in front
    // of it, never the token (which is not sent there) nor the licence.
    for status in [403, 401] {
        let hub = server().await;
        let dir = tempfile::tempdir().expect("tempdir");
        let m = manager(&hub.endpoint, dir.path().join("hub"), Some(GOOD_TOKEN));
        hub.add_fault(Fault::new(
            "model.safetensors",
            FaultKind::Status(status),
            u32::MAX,
        ));
        let err = m
            .download(request("org/plain"), |_| {}, CancellationToken::new())
            .await
            .expect_err("refused");
        assert_eq!(err.code(), "network", "{err}");
        let text = err.to_string();
        let cdn_host = hub
            .cdn
            .split("://")
            .nth(1)
            .and_then(|h| h.split(':').next());
        assert!(
            text.contains(&status.to_string())
                && text.contains("proxy or firewall")
                && cdn_host.is_some_and(|h| text.contains(h)),
            "{text}"
        );
        assert!(!text.contains("token"), "{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_huggingface_hub_moved_into_the_snapshot_is_not_fetched_again() {
    // huggingface_hub without link rights (Windows without developer mode) moves each new
    // blob into snapshots/: the file is there, blobs/ is empty. That is the model, not a
    // reason to download 15 GB again.
    let hub = server().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let m = manager(&hub.endpoint, dir.path().join("hub"), None);
    let first = m
        .download(request("org/plain"), |_| {}, CancellationToken::new())
        .await
        .expect("download");
    for file in &first.files {
        let pointer = &file.path;
        let content = std::fs::read(pointer).expect("read");
        let blob = std::fs::canonicalize(pointer).expect("blob");
        std::fs::remove_file(pointer).expect("unlink");
        std::fs::write(pointer, &content).expect("regular file");
        std::fs::remove_file(&blob).expect("no blob");
    }
    hub.reset_stats();
    let again = m
        .download(request("org/plain"), |_| {}, CancellationToken::new())
        .await
        .expect("again");
    assert_eq!(hub.total_bytes_served(), 0, "nothing fetched again");
    assert_eq!(again.downloaded_bytes, 0);
    let repo = hub.repo("org/plain").expect("repo");
    for f in &again.files {
        assert_eq!(file_sha(&f.path), repo.files[&f.name].sha256, "{}", f.name);
    }
}
