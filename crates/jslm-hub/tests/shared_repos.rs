//! End-to-end: one repo folder shared by several selections. The GGUF builds fetch their
//! tokenizer from the official repo (a companion), and one GGUF repo holds several variants.
//! What is "downloaded" must be each selection's own files; cancelling or deleting one model
//! must leave the others' files; a branch moved by another selection's download must not hide
//! a complete model.

mod support;

use std::time::Duration;

use jslm_hub::{
    delete_model, discard_download, inspect, CancellationToken, DownloadRequest, DownloadedModel,
    HfCache, InstallStatus, RepoId,
};
use jslm_hubtest::{FakeRepo, Fault, FaultKind};
use support::*;

fn request(model: &str) -> DownloadRequest {
    DownloadRequest::new(model)
}

fn q8() -> DownloadRequest {
    DownloadRequest {
        model: "jslm-gamma-7b-gguf".into(),
        revision: None,
        files: vec!["Q8_0".into()],
    }
}

fn repo(id: &str) -> RepoId {
    RepoId::parse(id).expect("repo id")
}

/// Starts `request` with a throttled `file`, waits until `file` has at least 1 MiB on disk,
/// then cancels it (a pause).
async fn pause_midway(
    hub: &jslm_hubtest::HubTestServer,
    m: &jslm_hub::DownloadManager,
    request: DownloadRequest,
    repo_id: &str,
    file: &str,
) {
    let sha = hub.repo(repo_id).expect("repo").files[file].sha256.clone();
    hub.add_fault(Fault::new(
        file,
        FaultKind::Throttle(2 * MIB as u64),
        u32::MAX,
    ));
    let partial = m.cache().incomplete_path(&repo(repo_id), &sha);
    let cancel = CancellationToken::new();
    let task = {
        let m = m.clone();
        let cancel = cancel.clone();
        tokio::spawn(async move { m.download(request, |_| {}, cancel).await })
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::fs::metadata(&partial).map(|m| m.len()).unwrap_or(0) < MIB as u64 {
        assert!(std::time::Instant::now() < deadline, "no progress");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    cancel.cancel();
    let err = task.await.expect("join").expect_err("cancelled");
    assert_eq!(err.code(), "download_cancelled");
    hub.clear_faults();
}

/// Downloads `request` to its end.
async fn fetch(m: &jslm_hub::DownloadManager, request: DownloadRequest) -> DownloadedModel {
    m.download(request, |_| {}, CancellationToken::new())
        .await
        .expect("download")
}

/// A hub, a cache and a manager with the token, the GGUF model (Q4_K_M and the official
/// repo's tokenizer) downloaded.
async fn with_gguf() -> (
    jslm_hubtest::HubTestServer,
    tempfile::TempDir,
    jslm_hub::DownloadManager,
) {
    let hub = server().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let m = manager(&hub.endpoint, dir.path().join("hub"), Some(GOOD_TOKEN));
    let gguf = fetch(&m, request("jslm-gamma-7b-gguf")).await;
    assert_eq!(gguf.companions.len(), 1, "the tokenizer came along");
    (hub, dir, m)
}

/// The GGUF model (Q4_K_M) is found complete, with the official repo's tokenizer.
fn assert_gguf_complete_with_its_tokenizer(m: &jslm_hub::DownloadManager) {
    let gguf = m
        .find_local(&request("jslm-gamma-7b-gguf"))
        .expect("ok")
        .expect("gguf complete");
    assert_eq!(
        gguf.companions.len(),
        1,
        "tokenizer kept: {:?}",
        gguf.skipped
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gguf_builds_tokenizer_does_not_make_the_official_model_downloaded() {
    let (_hub, _dir, m) = with_gguf().await;

    // The official repo now holds 3 tokenizer files at the official commit: not the model.
    assert!(
        m.find_local(&request("jslm-gamma-7b"))
            .expect("ok")
            .is_none(),
        "the official model has no weights in the cache"
    );
    let official = inspect(m.cache(), &repo(OFFICIAL));
    assert!(
        official.revisions.is_empty(),
        "only companion files: no revision of the official model: {:?}",
        official.revisions
    );
    assert!(official.disk_bytes > 0);
    assert_eq!(official.partial_bytes, 0);
    assert!(m
        .find_local(&request("jslm-gamma-7b-gguf"))
        .expect("ok")
        .is_some());

    // Downloading the official model then makes both complete, each with its own files.
    fetch(&m, request("jslm-gamma-7b")).await;
    let found = m
        .find_local(&request("jslm-gamma-7b"))
        .expect("ok")
        .expect("official complete");
    assert_eq!(found.files.len(), 8);
    let official = inspect(m.cache(), &repo(OFFICIAL));
    assert_eq!(official.revisions.len(), 1);
    assert_eq!(
        official.revisions[0].status,
        InstallStatus::Complete { verified: true }
    );
    let gguf = m
        .find_local(&request("jslm-gamma-7b-gguf"))
        .expect("ok")
        .expect("gguf still complete");
    assert!(gguf.skipped.is_empty(), "{:?}", gguf.skipped);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_variant_leaves_the_finished_one_complete_and_cancel_keeps_it() {
    let (hub, _dir, m) = with_gguf().await;
    pause_midway(&hub, &m, q8(), GGUF, Q8).await;

    let gguf = inspect(m.cache(), &repo(GGUF));
    assert_eq!(gguf.revisions.len(), 1);
    let revision = &gguf.revisions[0];
    assert_eq!(
        revision.status,
        InstallStatus::Complete { verified: true },
        "Q4 is complete whatever Q8 does"
    );
    assert_eq!(revision.selections.len(), 2);
    assert!(revision
        .selections
        .iter()
        .any(|s| s.files == [Q8] && matches!(s.status, InstallStatus::Partial { .. })));
    assert!(gguf.partial_bytes >= MIB as u64);
    assert!(m
        .find_local(&request("jslm-gamma-7b-gguf"))
        .expect("ok")
        .is_some());
    assert!(m.find_local(&q8()).expect("ok").is_none());

    // Cancel Q8: its partial file goes, Q4 and the shared tokenizer stay.
    let freed = discard_download(m.cache(), &q8()).expect("discard");
    assert!(freed >= MIB as u64, "{freed}");
    let gguf = inspect(m.cache(), &repo(GGUF));
    assert_eq!(gguf.partial_bytes, 0);
    assert_eq!(gguf.revisions[0].selections.len(), 1);
    assert_eq!(
        gguf.revisions[0].status,
        InstallStatus::Complete { verified: true }
    );
    assert_gguf_complete_with_its_tokenizer(&m);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_or_deleting_the_official_model_keeps_the_gguf_tokenizer() {
    let (hub, dir, m) = with_gguf().await;
    pause_midway(&hub, &m, request("jslm-gamma-7b"), OFFICIAL, SHARD1).await;
    discard_download(m.cache(), &request("jslm-gamma-7b")).expect("cancel official");
    assert_gguf_complete_with_its_tokenizer(&m);
    let official = inspect(m.cache(), &repo(OFFICIAL));
    assert!(official.revisions.is_empty(), "{:?}", official.revisions);
    assert_eq!(
        official.partial_bytes, 0,
        "the shard's partial file is gone"
    );

    // Delete (not cancel) of a complete official model: the tokenizer still stays.
    fetch(&m, request("jslm-gamma-7b")).await;
    delete_model(m.cache(), &repo(OFFICIAL)).expect("delete official");
    assert!(m
        .find_local(&request("jslm-gamma-7b"))
        .expect("ok")
        .is_none());
    assert_gguf_complete_with_its_tokenizer(&m);

    // Deleting the GGUF model gives its tokenizer up: nothing is left of either repo.
    delete_model(m.cache(), &repo(GGUF)).expect("delete gguf");
    let cache = HfCache::new(dir.path().join("hub"));
    assert!(!cache.repo_dir(&repo(GGUF)).exists());
    assert!(
        !cache.repo_dir(&repo(OFFICIAL)).exists(),
        "the tokenizer nobody uses went with it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_branch_moved_by_another_download_still_finds_the_complete_commit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = dir.path().join("hub");
    // Commit A: the official model, complete.
    let hub_a = server().await;
    let m = manager(&hub_a.endpoint, cache.clone(), Some(GOOD_TOKEN));
    let a = fetch(&m, request("jslm-gamma-7b")).await;
    drop(hub_a);

    // Upstream moves to commit B (a README edit); a GGUF download fetches the tokenizer at B,
    // which moves `refs/main` of the official repo to B.
    let mut moved = official_repo();
    moved.files.insert(
        "README.md".into(),
        jslm_hubtest::FakeFile::new("README.md", b"# edited".to_vec()),
    );
    let moved = FakeRepo::new(
        OFFICIAL,
        moved
            .files
            .iter()
            .map(|(n, f)| (n.as_str(), f.data.to_vec()))
            .collect(),
    )
    .gated();
    assert_ne!(moved.commit, a.commit);
    let hub_b = server_with(vec![moved.clone(), gguf_repo()]).await;
    let m = manager(&hub_b.endpoint, cache.clone(), Some(GOOD_TOKEN));
    fetch(&m, request("jslm-gamma-7b-gguf")).await;
    let c = HfCache::new(&cache);
    assert_eq!(
        c.resolve_commit(&repo(OFFICIAL), "main").as_deref(),
        Some(moved.commit.as_str())
    );

    // Offline, the official model is still found: at A, where it is complete.
    let found = m
        .find_local(&request("jslm-gamma-7b"))
        .expect("ok")
        .expect("complete at A");
    assert_eq!(found.commit, a.commit);
    assert_eq!(found.files.len(), 8);
}
