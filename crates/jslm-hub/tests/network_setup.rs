//! Corporate-network setups: an HTTP proxy from the environment (with `NO_PROXY` exceptions) and
//! a custom CA bundle. The proxy test sets process environment variables, so this file holds
//! the only tests that build clients while they are set.

mod support;

use std::sync::{Arc, Mutex};

use jslm_hub::{CancellationToken, DownloadRequest, HubClient};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A test CA certificate (self-signed, P-256, valid until 2126).
const TEST_CA: &str = "-----BEGIN CERTIFICATE-----
MIIBhTCCASugAwIBAgIUQtgBtof9hDETyDBxiuNSTdWcKlEwCgYIKoZIzj0EAwIw
FzEVMBMGA1UEAwwManNsbS10ZXN0LWNhMCAXDTI2MTEyNzA0MTM1M1oYDzIxMjYx
MTAzMDQxMzUzWjAXMRUwEwYDVQQDDAxqc2xtLXRlc3QtY2EwWTATBgcqhkjOPQIB
BggqhkjOPQMBBwNCAATzC+7oLlPEIljwG7ghIQNC6Rq3UESnJl521qDudto16qk5
dSEMxSd9Y2qXp8yjge6OKDzp5MYzSyUyX1wDcMK8o1MwUTAdBgNVHQ4EFgQUX8Ho
9WWaWVaQTrhRpu1p363QfoAwHwYDVR0jBBgwFoAUX8Ho9WWaWVaQTrhRpu1p363Q
foAwDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNIADBFAiBlA4gyd3GRbgcd
vjw4i3ekR3pq+1M7EFXgd8vzyIy+3gIhAMPthAgAflabE7Aer7oUp54yEg1qNZow
erCFLJNm3i2T
-----END CERTIFICATE-----
";

#[test]
fn a_custom_ca_bundle_is_loaded_and_a_bad_one_is_a_setup_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = dir.path().join("corp-ca.pem");
    std::fs::write(&good, TEST_CA).expect("write");
    let mut c = config("https://hub.example.test", dir.path().join("hub"));
    c.ca_bundle = Some(good.clone());
    HubClient::new(c.clone(), None).expect("the bundle is added to the trust roots");
    // One certificate rustls cannot read, among good ones: only it is skipped.
    let mixed = dir.path().join("mixed.pem");
    std::fs::write(
        &mixed,
        format!(
            "{TEST_CA}-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n"
        ),
    )
    .expect("write");
    c.ca_bundle = Some(mixed);
    c.ca_bundle_required = true;
    HubClient::new(c.clone(), None).expect("the good certificate is used");

    let bad = dir.path().join("bad.pem");
    std::fs::write(
        &bad,
        "-----BEGIN CERTIFICATE-----\nnot base64 !!!\n-----END CERTIFICATE-----\n",
    )
    .expect("write");
    c.ca_bundle = Some(bad.clone());
    let err = HubClient::new(c.clone(), None).expect_err("bad PEM");
    assert_eq!(err.code(), "setup");

    c.ca_bundle = Some(dir.path().join("missing.pem"));
    let err = HubClient::new(c.clone(), None).expect_err("missing file");
    assert_eq!(err.code(), "setup");
    assert!(err.to_string().contains("missing.pem"), "{err}");

    // Named by another tool's variable (SSL_CERT_FILE from conda, say), a missing or bad file
    // is skipped: the system's certificates still work.
    c.ca_bundle_required = false;
    HubClient::new(c.clone(), None).expect("a missing foreign bundle is skipped");
    c.ca_bundle = Some(bad);
    HubClient::new(c, None).expect("a bad foreign bundle is skipped");
}

/// A minimal HTTP forward proxy: one request per connection, `Connection: close` both ways.
/// Records the `host:port` of every request it forwards.
async fn proxy(listener: TcpListener, seen: Arc<Mutex<Vec<String>>>) {
    while let Ok((mut client, _)) = listener.accept().await {
        let seen = seen.clone();
        tokio::spawn(async move {
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                if client.read_exact(&mut byte).await.is_err() {
                    return;
                }
                head.push(byte[0]);
            }
            let text = String::from_utf8_lossy(&head).to_string();
            let mut lines = text.split("\r\n");
            let first = lines.next().unwrap_or("");
            let mut parts = first.split(' ');
            let (Some(method), Some(uri), Some(version)) =
                (parts.next(), parts.next(), parts.next())
            else {
                return;
            };
            let Some(rest) = uri.strip_prefix("http://") else {
                return;
            };
            let (host, path) = rest
                .split_once('/')
                .map(|(h, p)| (h, format!("/{p}")))
                .unwrap_or((rest, "/".into()));
            seen.lock().expect("lock").push(host.to_string());
            let Ok(mut upstream) = TcpStream::connect(host).await else {
                return;
            };
            let mut out = format!("{method} {path} {version}\r\n");
            for line in lines.filter(|l| !l.is_empty()) {
                let lower = line.to_ascii_lowercase();
                if !lower.starts_with("connection:") && !lower.starts_with("proxy-connection:") {
                    out.push_str(line);
                    out.push_str("\r\n");
                }
            }
            out.push_str("Connection: close\r\n\r\n");
            if upstream.write_all(out.as_bytes()).await.is_err() {
                return;
            }
            let _ = tokio::io::copy(&mut upstream, &mut client).await;
            let _ = client.shutdown().await;
        });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downloads_go_through_the_proxy_and_no_proxy_is_honoured() {
    let hub = server().await;
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
    let proxy_url = format!("http://{}", listener.local_addr().expect("addr"));
    let seen = Arc::new(Mutex::new(Vec::new()));
    tokio::spawn(proxy(listener, seen.clone()));
    let cdn_host = hub
        .cdn
        .trim_start_matches("http://")
        .split(':')
        .next()
        .unwrap_or("")
        .to_string();
    // reqwest reads these when the client is built.
    std::env::set_var("HTTP_PROXY", &proxy_url);
    std::env::set_var("NO_PROXY", &cdn_host);
    std::env::remove_var("http_proxy");
    std::env::remove_var("no_proxy");

    let dir = tempfile::tempdir().expect("tempdir");
    let m = manager(&hub.endpoint, dir.path().join("hub"), None);
    let model = m
        .download(
            DownloadRequest::new("org/plain"),
            |_| {},
            CancellationToken::new(),
        )
        .await
        .expect("via proxy");
    assert_eq!(model.files.len(), 2);

    let hub_host = hub.endpoint.trim_start_matches("http://").to_string();
    let seen = seen.lock().expect("lock").clone();
    assert!(!seen.is_empty(), "hub requests went through the proxy");
    assert!(
        seen.iter().all(|h| *h == hub_host),
        "only the hub host is proxied, the CDN is in NO_PROXY: {seen:?}"
    );
    assert!(
        hub.stats().log.iter().any(|l| l.starts_with("CDN GET")),
        "the CDN was reached directly"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_tls_handshake_is_tls_not_offline() {
    // A TLS failure (here: TLS to a plain-HTTP server; in offices, a proxy's own root
    // certificate) counted as a connect error and read "offline", hiding the certificate.
    let hub = server().await;
    let https = hub.endpoint.replacen("http://", "https://", 1);
    let dir = tempfile::tempdir().expect("tempdir");
    let m = manager(&https, dir.path().join("hub"), None);
    let err = m
        .download(
            DownloadRequest::new("org/plain"),
            |_| {},
            CancellationToken::new(),
        )
        .await
        .expect_err("no TLS there");
    assert_eq!(err.code(), "tls", "{err}");
    let text = err.to_string();
    assert!(
        text.contains("JSLM_CA_BUNDLE") && text.contains("trust store"),
        "{text}"
    );
    let host = hub
        .endpoint
        .split("://")
        .nth(1)
        .and_then(|h| h.split(':').next());
    assert!(
        host.is_some_and(|h| text.contains(h)),
        "names the host: {text}"
    );

    // Already downloaded: the cached copy is used, as when offline.
    let cached = manager(&hub.endpoint, dir.path().join("hub"), None);
    cached
        .download(
            DownloadRequest::new("org/plain"),
            |_| {},
            CancellationToken::new(),
        )
        .await
        .expect("download over plain HTTP");
    let again = manager(&https, dir.path().join("hub"), None)
        .download(
            DownloadRequest::new("org/plain"),
            |_| {},
            CancellationToken::new(),
        )
        .await
        .expect("the cached copy, despite TLS failing");
    assert_eq!(again.downloaded_bytes, 0);
}
