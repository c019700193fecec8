//! The token never reaches the logs: every `tracing` event (and `log` record, bridged) at TRACE
//! level from this crate, reqwest and hyper is captured during downloads, failures and Debug
//! printing, and searched for the secret.

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use jslm_hub::{CancellationToken, DownloadRequest, HubClient};
use support::*;

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| std::io::Error::other("poisoned"))?
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_never_appears_in_trace_logs() {
    let capture = Capture::default();
    let writer = capture.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .try_init()
        .expect("the only subscriber in this test binary");

    let hub = server().await;
    let dir = tempfile::tempdir().expect("tempdir");
    // A successful gated download with retries, so redirects, resumes and warnings are logged.
    hub.add_fault(jslm_hubtest::Fault::new(
        SHARD1,
        jslm_hubtest::FaultKind::DropAfter(100_000),
        1,
    ));
    let m = manager(&hub.endpoint, dir.path().join("hub"), Some(GOOD_TOKEN));
    let model = m
        .download(
            DownloadRequest::new("jslm-gamma-7b"),
            |e| tracing::trace!(?e, "event"),
            CancellationToken::new(),
        )
        .await
        .expect("download");
    tracing::debug!(?model, client = ?m.client(), "finished");
    // Failures with a bad token and a token without access.
    for secret in [BAD_TOKEN, FRESH_TOKEN] {
        let m = manager(&hub.endpoint, dir.path().join("hub2"), Some(secret));
        let err = m
            .download(
                DownloadRequest::new(OFFICIAL),
                |_| {},
                CancellationToken::new(),
            )
            .await
            .expect_err("refused");
        tracing::error!(error = %err, debug = ?err, client = ?m.client(), "download failed");
        let client = HubClient::new(
            config(&hub.endpoint, dir.path().join("hub2")),
            Some(token(secret)),
        )
        .expect("client");
        let _ = client
            .whoami()
            .await
            .map_err(|e| tracing::warn!(error = ?e, "whoami"));
    }

    let text = String::from_utf8_lossy(&capture.0.lock().expect("lock")).to_string();
    assert!(
        text.len() > 1000,
        "logs were captured ({} bytes)",
        text.len()
    );
    if std::env::var_os("JSLM_DUMP_LOGS").is_some() {
        eprintln!("{text}");
    }
    assert!(
        text.contains("TRACE") && text.contains("DEBUG"),
        "TRACE level is on"
    );
    assert!(
        text.contains("hyper_util") && text.contains("reqwest"),
        "transport-level logs are captured too"
    );
    for secret in [GOOD_TOKEN, BAD_TOKEN, FRESH_TOKEN] {
        // The whole secret, and its distinctive middle part (in case of partial redaction).
        assert!(!text.contains(secret), "token found in logs");
        assert!(
            !text.contains(&secret[3..20]),
            "token fragment found in logs"
        );
    }
}
