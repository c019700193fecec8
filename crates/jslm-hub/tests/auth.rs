//! Gated repos and tokens: missing, invalid, terms not accepted, accepted; whoami; the token
//! stays on the hub's host.

mod support;

use jslm_hub::{CancellationToken, DownloadRequest, HubClient};
use support::*;

async fn try_official(secret: Option<&str>) -> (jslm_hub::HubError, u64, String) {
    let hub = server().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let m = manager(&hub.endpoint, dir.path().join("hub"), secret);
    let err = m
        .download(
            DownloadRequest::new("jslm-gamma-7b"),
            |_| {},
            CancellationToken::new(),
        )
        .await
        .expect_err("refused");
    // A refused first try leaves nothing that lists as a partial download (it once listed as
    // "partly downloaded, 100 %, resume" in the window: an early manifest with no sizes).
    let listed = jslm_hub::list_installed(m.cache()).expect("list");
    assert!(listed.is_empty(), "{listed:?}");
    (err, hub.total_bytes_served(), hub.endpoint.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_token_says_how_to_set_one() {
    let (err, served, endpoint) = try_official(None).await;
    assert_eq!(err.code(), "gated_no_token");
    let text = err.to_string();
    // What happened and where the terms are; what to type is the front end's advice.
    for part in [
        "gated",
        "no Hugging Face token is set",
        &format!("{endpoint}/{OFFICIAL}"),
    ] {
        assert!(text.contains(part), "missing `{part}` in: {text}");
    }
    assert_eq!(served, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_token_is_reported_as_rejected_401() {
    let (err, served, _) = try_official(Some(BAD_TOKEN)).await;
    assert_eq!(err.code(), "token_invalid");
    let text = err.to_string();
    assert!(text.contains("401") && text.contains("rejected"), "{text}");
    assert!(!text.contains(BAD_TOKEN));
    assert_eq!(served, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terms_not_accepted_is_a_403_with_the_model_page() {
    let (err, served, endpoint) = try_official(Some(FRESH_TOKEN)).await;
    assert_eq!(err.code(), "gated_not_accepted");
    let text = err.to_string();
    assert!(
        text.contains("403") && text.contains(&format!("{endpoint}/{OFFICIAL}")),
        "{text}"
    );
    assert_eq!(served, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whoami_checks_the_token() {
    let hub = server().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let client = HubClient::new(
        config(&hub.endpoint, dir.path().join("hub")),
        Some(token(GOOD_TOKEN)),
    )
    .expect("client");
    let me = client.whoami().await.expect("whoami");
    assert_eq!(me.name, "accepted-user");
    assert_eq!(me.token_role.as_deref(), Some("read"));
    let client = HubClient::new(
        config(&hub.endpoint, dir.path().join("hub")),
        Some(token(BAD_TOKEN)),
    )
    .expect("client");
    assert_eq!(
        client.whoami().await.expect_err("bad").code(),
        "token_invalid"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_is_sent_to_the_hub_but_never_to_the_cdn() {
    let hub = server().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let m = manager(&hub.endpoint, dir.path().join("hub"), Some(GOOD_TOKEN));
    m.download(
        DownloadRequest::new("jslm-gamma-7b"),
        |_| {},
        CancellationToken::new(),
    )
    .await
    .expect("download");
    let stats = hub.stats();
    assert!(
        stats.log.iter().any(|l| l.starts_with("CDN GET")),
        "LFS files came from the CDN host: {:?}",
        stats.log
    );
    assert_eq!(stats.auth_on_cdn, 0);
}

#[test]
fn debug_output_of_clients_and_tokens_is_redacted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let client = HubClient::new(
        config("http://127.0.0.1:9", dir.path().join("hub")),
        Some(token(GOOD_TOKEN)),
    )
    .expect("client");
    let text = format!("{client:?} {:?} {}", token(GOOD_TOKEN), token(GOOD_TOKEN));
    assert!(!text.contains(&GOOD_TOKEN[3..]), "{text}");
}
