//! A hub (or a proxy in front of it) that answers like an attacker: etags that are not
//! digests, file names that are paths on Windows or leave the cache, sizes that wrap when
//! summed, redirect loops and signed CDN URLs that must not reach the logs. Served by a
//! scripted HTTP/1.1 server written here (jslm-hubtest answers like the real hub; this one
//! answers however a test says), so every answer is exactly the hostile one.

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use jslm_hub::{CancellationToken, DownloadRequest, HubClient, RepoId};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";
const REPO: &str = "evil/model";
/// sha256("hello")
const SHA_HELLO: &str = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

/// One scripted answer.
#[derive(Clone, Debug)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn new(status: u16, headers: &[(&str, &str)], body: &[u8]) -> Self {
        Self {
            status,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: body.to_vec(),
        }
    }
}

type Script = Arc<dyn Fn(&str, &str) -> Answer + Send + Sync>;

/// A server answering `script(method, path_and_query)`; it records every request line.
struct Hostile {
    endpoint: String,
    requests: Arc<Mutex<Vec<String>>>,
}

impl Hostile {
    async fn start(script: impl Fn(&str, &str) -> Answer + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let script: Script = Arc::new(script);
        let log = requests.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                let script = script.clone();
                let log = log.clone();
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut byte = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") {
                        match socket.read(&mut byte).await {
                            Ok(1) => head.push(byte[0]),
                            _ => return,
                        }
                    }
                    let head = String::from_utf8_lossy(&head).to_string();
                    let mut parts = head.split_whitespace();
                    let method = parts.next().unwrap_or("").to_string();
                    let target = parts.next().unwrap_or("").to_string();
                    log.lock().expect("lock").push(format!("{method} {target}"));
                    let answer = script(&method, &target);
                    let mut out = format!("HTTP/1.1 {} X\r\n", answer.status);
                    for (k, v) in &answer.headers {
                        out.push_str(&format!("{k}: {v}\r\n"));
                    }
                    if !answer.headers.iter().any(|(k, _)| k == "content-length") {
                        out.push_str(&format!("content-length: {}\r\n", answer.body.len()));
                    }
                    out.push_str("connection: close\r\n\r\n");
                    let mut bytes = out.into_bytes();
                    if method != "HEAD" {
                        bytes.extend_from_slice(&answer.body);
                    }
                    let _ = socket.write_all(&bytes).await;
                    let _ = socket.shutdown().await;
                });
            }
        });
        Self { endpoint, requests }
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().expect("lock").clone()
    }

    /// Requests for a file's content (a `GET` of a resolve URL or of the CDN).
    fn content_gets(&self) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.starts_with("GET") && !r.contains("/api/"))
            .count()
    }
}

/// The revision API's answer listing `files` (name, size).
fn revision(files: &[(&str, u64)]) -> Answer {
    let siblings: Vec<serde_json::Value> = files
        .iter()
        .map(|(name, size)| serde_json::json!({ "rfilename": name, "size": size }))
        .collect();
    let json = serde_json::json!({ "sha": COMMIT, "siblings": siblings, "gated": false });
    Answer::new(
        200,
        &[("content-type", "application/json")],
        json.to_string().as_bytes(),
    )
}

fn manager(endpoint: &str, cache: &std::path::Path) -> jslm_hub::DownloadManager {
    support::manager(endpoint, cache.to_path_buf(), None)
}

/// Every path under `root` (the cache), to show that nothing was written.
fn files_under(root: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(root).unwrap_or(&p).display().to_string());
            }
        }
    }
    out
}

/// Regression (issue 14): an etag that is not a digest made the file "verified" by its size
/// only. Now the download stops with `protocol` before the first byte of the file.
#[tokio::test]
async fn an_etag_that_is_not_a_digest_is_refused_before_downloading() {
    for etag in ["\"not-a-digest\"", "\"abc123\"", "W/\"12345\""] {
        let etag_header = etag.to_string();
        let hub = Hostile::start(move |method, path| {
            if path.starts_with("/api/models/") {
                return revision(&[("model.gguf", 5)]);
            }
            match method {
                "HEAD" => Answer::new(
                    200,
                    &[
                        ("x-repo-commit", COMMIT),
                        ("etag", &etag_header),
                        ("content-length", "5"),
                    ],
                    b"",
                ),
                _ => Answer::new(200, &[], b"hello"),
            }
        })
        .await;
        let dir = tempfile::tempdir().expect("tempdir");
        let err = manager(&hub.endpoint, dir.path())
            .download(DownloadRequest::new(REPO), |_| {}, CancellationToken::new())
            .await
            .expect_err("an etag that is not a digest");
        assert_eq!(err.code(), "protocol", "{etag}: {err}");
        assert!(err.to_string().contains("ETag"), "{err}");
        assert_eq!(hub.content_gets(), 0, "{:?}", hub.requests());
        assert!(
            !files_under(dir.path()).iter().any(|f| f.contains("blobs")),
            "{:?}",
            files_under(dir.path())
        );
    }
}

/// Regression (issue 14): names from the hub's file list were checked only when linked into
/// the snapshot, after the download, and `C:x`, `x:y` or `CON` were not refused at all.
#[tokio::test]
async fn hostile_file_names_from_the_hub_are_refused_before_any_byte() {
    for name in [
        "../../../escape.txt",
        "sub/../../escape.txt",
        "C:evil.txt",
        "model.gguf:hidden",
        "CON",
        "nul.json",
        "a\\b.txt",
    ] {
        let listed = name.to_string();
        let hub = Hostile::start(move |method, path| {
            if path.starts_with("/api/models/") {
                return revision(&[("config.json", 5), (&listed, 5)]);
            }
            match method {
                "HEAD" => Answer::new(
                    200,
                    &[
                        ("x-repo-commit", COMMIT),
                        ("x-linked-etag", SHA_HELLO),
                        ("x-linked-size", "5"),
                    ],
                    b"",
                ),
                _ => Answer::new(200, &[], b"hello"),
            }
        })
        .await;
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = dir.path().join("hub");
        let err = manager(&hub.endpoint, &cache)
            .download(DownloadRequest::new(REPO), |_| {}, CancellationToken::new())
            .await
            .expect_err(name);
        assert_eq!(err.code(), "protocol", "{name}: {err}");
        assert_eq!(hub.content_gets(), 0, "{name}: {:?}", hub.requests());
        assert!(
            files_under(dir.path()).is_empty(),
            "{name}: {:?}",
            files_under(dir.path())
        );
    }
}

/// Regression (issue 14): sizes were summed unchecked: two files of 2^63 bytes made a total of
/// 0 in release builds (so the free-space check passed) and a panic in debug builds.
#[tokio::test]
async fn sizes_that_overflow_when_summed_are_a_protocol_error() {
    let half = (1u64 << 63).to_string();
    let hub = Hostile::start(move |method, path| {
        if path.starts_with("/api/models/") {
            return revision(&[("a.bin", 1 << 63), ("b.bin", 1 << 63)]);
        }
        match method {
            "HEAD" => Answer::new(
                200,
                &[
                    ("x-repo-commit", COMMIT),
                    ("x-linked-etag", SHA_HELLO),
                    ("x-linked-size", &half),
                ],
                b"",
            ),
            _ => Answer::new(200, &[], b"hello"),
        }
    })
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let err = manager(&hub.endpoint, dir.path())
        .download(DownloadRequest::new(REPO), |_| {}, CancellationToken::new())
        .await
        .expect_err("sizes overflow");
    assert_eq!(err.code(), "protocol", "{err}");
    assert_eq!(hub.content_gets(), 0, "{:?}", hub.requests());
}

/// A redirect loop ends with a `protocol` error after at most `MAX_REDIRECTS` hops, quickly and
/// without retries.
#[tokio::test]
async fn a_redirect_loop_ends_with_an_error() {
    let hub = Hostile::start(move |method, path| {
        if path.starts_with("/api/models/") {
            return revision(&[("model.gguf", 5)]);
        }
        if path.starts_with("/loop/a") {
            return Answer::new(302, &[("location", "/loop/b")], b"");
        }
        if path.starts_with("/loop/b") {
            return Answer::new(302, &[("location", "/loop/a")], b"");
        }
        match method {
            "HEAD" => Answer::new(
                200,
                &[
                    ("x-repo-commit", COMMIT),
                    ("x-linked-etag", SHA_HELLO),
                    ("x-linked-size", "5"),
                ],
                b"",
            ),
            _ => Answer::new(302, &[("location", "/loop/a")], b""),
        }
    })
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let started = Instant::now();
    let err = manager(&hub.endpoint, dir.path())
        .download(DownloadRequest::new(REPO), |_| {}, CancellationToken::new())
        .await
        .expect_err("loop");
    assert_eq!(err.code(), "protocol", "{err}");
    assert!(err.to_string().contains("redirect"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(10));
    let hops = hub
        .requests()
        .iter()
        .filter(|r| r.contains("/loop/"))
        .count();
    assert!(
        hops <= jslm_hub::client::MAX_REDIRECTS,
        "{hops} requests in the loop"
    );
}

/// Regression (issue 14): with `HF_ENDPOINT` on plain `http://` to another computer, the token
/// was sent in clear. Now nothing is sent while a token is set (loopback stays allowed for
/// local mirrors and tests).
#[tokio::test]
async fn the_token_is_never_sent_over_plain_http_to_another_host() {
    let dir = tempfile::tempdir().expect("tempdir");
    // TEST-NET-1 (RFC 5737): never routed, so nothing can answer.
    let mut config = support::config("http://192.0.2.1:9", dir.path().to_path_buf());
    config.connect_timeout = Duration::from_millis(300);
    let client = HubClient::new(config, Some(support::token(support::GOOD_TOKEN))).expect("client");
    let repo = RepoId::parse(REPO).expect("repo");
    let started = Instant::now();
    let err = client
        .file_metadata(&repo, "main", "config.json")
        .await
        .expect_err("refused");
    assert_eq!(err.code(), "setup", "{err}");
    assert!(err.to_string().contains("https://"), "{err}");
    assert!(!err.to_string().contains(support::GOOD_TOKEN));
    assert!(
        started.elapsed() < Duration::from_millis(250),
        "no connection was tried"
    );
    for call in ["revision", "whoami"] {
        let err = match call {
            "revision" => client.revision_info(&repo, "main").await.map(|_| ()),
            _ => client.whoami().await.map(|_| ()),
        }
        .expect_err(call);
        assert_eq!(err.code(), "setup", "{call}: {err}");
    }

    // Over loopback the token still goes (the test hubs, a local mirror).
    let hub = Hostile::start(move |_, _| revision(&[])).await;
    let client = HubClient::new(
        support::config(&hub.endpoint, dir.path().to_path_buf()),
        Some(support::token(support::GOOD_TOKEN)),
    )
    .expect("client");
    client
        .revision_info(&repo, "main")
        .await
        .expect("loopback works");
}

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

/// The one subscriber of this test binary, capturing everything at TRACE level.
fn capture() -> &'static Capture {
    static CAPTURE: OnceLock<Capture> = OnceLock::new();
    CAPTURE.get_or_init(|| {
        let capture = Capture::default();
        let writer = capture.clone();
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .init();
        capture
    })
}

/// Regression (issue 14): the redirect to a signed CDN URL was logged with its signature.
#[tokio::test]
async fn signed_cdn_urls_never_reach_the_logs() {
    let capture = capture();
    let cdn = Hostile::start(|_, _| Answer::new(200, &[], b"hello")).await;
    let cdn_url = format!(
        "{}/repos/ab/cd/blob?X-Amz-Signature=SECRETSIGNATURE0123&Expires=99",
        cdn.endpoint
    );
    let hub = Hostile::start(move |_, path| {
        if path.starts_with("/api/models/") {
            return revision(&[("model.gguf", 5)]);
        }
        let headers = [
            ("x-repo-commit", COMMIT),
            ("x-linked-etag", SHA_HELLO),
            ("x-linked-size", "5"),
            ("location", cdn_url.as_str()),
        ];
        Answer::new(302, &headers, b"")
    })
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let model = manager(&hub.endpoint, dir.path())
        .download(
            DownloadRequest::new(REPO),
            |e| tracing::debug!(?e, "event"),
            CancellationToken::new(),
        )
        .await
        .expect("download through the CDN");
    assert_eq!(model.files.len(), 1);
    assert_eq!(cdn.content_gets(), 1);
    let text = String::from_utf8_lossy(&capture.0.lock().expect("lock")).to_string();
    assert!(text.contains("following redirect"), "redirects are logged");
    assert!(!text.contains("SECRETSIGNATURE"), "signature in the logs");
}
