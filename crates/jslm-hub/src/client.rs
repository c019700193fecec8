//! [`HubClient`]: the hub's HTTP protocol on reqwest (rustls; system roots + webpki roots + an
//! optional CA bundle; proxies from `HTTPS_PROXY`/`NO_PROXY`). Redirects are followed by hand so
//! the token is sent only to the hub's own host: a 302 to a CDN host drops `Authorization`.
//! The token never travels over plain `http://` except to a loopback address (a local test hub
//! or mirror): with an `http://` endpoint elsewhere, requests are refused while a token is set.
//! A redirect loop (a URL seen twice, or more than [`MAX_REDIRECTS`] hops) is a `protocol`
//! error, not retried. Logs show URLs without their query: CDN URLs carry short-lived
//! signatures.
//!
//! - `HEAD {endpoint}/{repo}/resolve/{rev}/{file}` → [`FileMetadata`] from `X-Repo-Commit`,
//!   `X-Linked-Etag` (sha256 of LFS files) or `ETag`, `X-Linked-Size` or `Content-Length`.
//! - `GET /api/models/{repo}/revision/{rev}?blobs=true` → [`RevisionInfo`] (commit, files,
//!   sizes, LFS sha256).
//! - `GET /api/whoami-v2` → [`WhoAmI`].
//! - `GET .../resolve/{commit}/{file}` with `Range` → the raw response for the download loop.

use std::time::Duration;

use jslm_core::error_chain::describe;
use reqwest::header::{HeaderMap, HeaderValue, ACCEPT_ENCODING, AUTHORIZATION, LOCATION, RANGE};
use reqwest::{Method, Response, StatusCode, Url};

use crate::config::HubConfig;
use crate::error::HubError;
use crate::http_error::{is_retryable, map_status, RequestContext};
use crate::repo::{encode_path, encode_segment, RepoId};
use crate::token::HfToken;

/// Most redirects followed for one request.
pub const MAX_REDIRECTS: usize = 10;

/// Largest JSON answer read from the hub's API (the revision info of a 7B repo is ~10 KB; a
/// repo with 100,000 files ~20 MB).
const MAX_API_BODY: u64 = 64 << 20;

/// Why [`HubClient::send`] got no final answer.
enum SendError {
    Http(reqwest::Error),
    /// The redirects went in a circle or on for too long; `from` is the redacted start URL.
    RedirectLoop {
        from: String,
        hops: usize,
    },
}

impl SendError {
    fn into_hub_error(self, what: &str, http: impl FnOnce(reqwest::Error) -> HubError) -> HubError {
        match self {
            SendError::Http(e) => http(e),
            SendError::RedirectLoop { from, hops } => HubError::Protocol {
                what: what.to_string(),
                message: format!(
                    "the server redirected {from} in a loop ({hops} redirects); giving up"
                ),
            },
        }
    }
}

/// `scheme://host[:port]/path` of a URL: no user info, query or fragment (signed CDN URLs
/// carry their signature in the query), for logs and messages.
pub fn redact_url(url: &Url) -> String {
    let mut out = format!("{}://{}", url.scheme(), url.host_str().unwrap_or(""));
    if let Some(port) = url.port() {
        out.push_str(&format!(":{port}"));
    }
    out.push_str(url.path());
    if url.query().is_some() {
        out.push_str("?…");
    }
    out
}

/// Whether a bearer token may be sent to `url`: over HTTPS, or to a loopback address (where
/// nothing crosses a network).
pub fn token_transport_ok(url: &Url) -> bool {
    match url.scheme() {
        "https" => return true,
        "http" => {}
        _ => return false,
    }
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return ip.is_loopback();
    }
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    host == "localhost" || host.ends_with(".localhost")
}

/// True for a blob name the hub gives: a git blob id (40 hex digits) or a sha256 (64).
pub fn is_hex_digest(etag: &str) -> bool {
    matches!(etag.len(), 40 | 64) && etag.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Metadata of one file at one commit, from a `HEAD` on its resolve URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileMetadata {
    /// The commit the revision resolved to (`X-Repo-Commit`).
    pub commit: String,
    /// Blob name: `X-Linked-Etag` (LFS sha256) or `ETag` (git blob id), unquoted.
    pub etag: String,
    /// Size in bytes (`X-Linked-Size`, or `Content-Length` of a non-redirect answer).
    pub size: Option<u64>,
    /// True when the file is stored in LFS (`etag` is its sha256).
    pub lfs: bool,
}

/// LFS details of a file in [`RevisionInfo`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct LfsInfo {
    /// sha256 of the content.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
}

/// One file in [`RevisionInfo`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct Sibling {
    /// Repo-relative name.
    pub rfilename: String,
    /// Size in bytes (with `?blobs=true`).
    #[serde(default)]
    pub size: Option<u64>,
    /// Git blob id (with `?blobs=true`).
    #[serde(default, rename = "blobId")]
    pub blob_id: Option<String>,
    /// LFS pointer details (with `?blobs=true`).
    #[serde(default)]
    pub lfs: Option<LfsInfo>,
}

/// A repo at one revision.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RevisionInfo {
    /// Commit hash the revision resolved to.
    pub sha: String,
    /// All files.
    pub siblings: Vec<Sibling>,
    /// Whether the repo is gated (`"auto"`/`"manual"` on the hub).
    pub gated: bool,
}

#[derive(serde::Deserialize)]
struct RevisionInfoWire {
    sha: String,
    #[serde(default)]
    siblings: Vec<Sibling>,
    #[serde(default)]
    gated: serde_json::Value,
}

/// The account behind a token.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct WhoAmI {
    /// User or organisation name.
    pub name: String,
    /// The token's display name, if the hub reports it.
    pub token_name: Option<String>,
    /// The token's role (`read`, `write`, `fineGrained`), if reported.
    pub token_role: Option<String>,
}

/// The hub client. Cheap to clone.
#[derive(Clone)]
pub struct HubClient {
    http: reqwest::Client,
    config: HubConfig,
    endpoint: Url,
    token: Option<HfToken>,
}

impl std::fmt::Debug for HubClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubClient")
            .field("endpoint", &self.config.endpoint)
            .field("token", &self.token)
            .finish()
    }
}

impl HubClient {
    /// Builds a client for `config`, sending `token` to the hub's host only.
    pub fn new(config: HubConfig, token: Option<HfToken>) -> Result<Self, HubError> {
        let endpoint = Url::parse(&config.endpoint).map_err(|e| HubError::Setup {
            message: format!("HF_ENDPOINT `{}` is not a URL: {e}", config.endpoint),
        })?;
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(config.connect_timeout)
            .read_timeout(config.read_timeout)
            .user_agent(concat!("jslm/", env!("CARGO_PKG_VERSION"), "; hf_hub/rust"));
        if let Some(bundle) = &config.ca_bundle {
            match read_ca_bundle(bundle) {
                Ok(certs) => {
                    for cert in certs {
                        builder = builder.add_root_certificate(cert);
                    }
                }
                Err(message) if config.ca_bundle_required => {
                    return Err(HubError::Setup { message })
                }
                Err(message) => tracing::warn!("{message}; using the system's certificates only"),
            }
        }
        let http = builder.build().map_err(|e| HubError::Setup {
            message: describe(&e),
        })?;
        Ok(Self {
            http,
            config,
            endpoint,
            token,
        })
    }

    /// The configuration in use.
    pub fn config(&self) -> &HubConfig {
        &self.config
    }

    /// The token in use, if any.
    pub fn token(&self) -> Option<&HfToken> {
        self.token.as_ref()
    }

    fn same_origin(&self, url: &Url) -> bool {
        url.scheme() == self.endpoint.scheme()
            && url.host_str() == self.endpoint.host_str()
            && url.port_or_known_default() == self.endpoint.port_or_known_default()
    }

    fn auth_value(&self) -> Result<Option<HeaderValue>, HubError> {
        let Some(token) = &self.token else {
            return Ok(None);
        };
        if !token_transport_ok(&self.endpoint) {
            return Err(HubError::Setup {
                message: format!(
                    "HF_ENDPOINT {} is plain http:// to another computer: the Hugging Face token \
                     would cross the network unencrypted, so it is not sent. Use an https:// \
                     endpoint, or remove the token (`jslm logout`, unset HF_TOKEN) to download \
                     public models",
                    redact_url(&self.endpoint)
                ),
            });
        }
        let mut value = HeaderValue::from_str(&format!("Bearer {}", token.expose_secret()))
            .map_err(|_| HubError::InvalidRequest {
                message: "the Hugging Face token contains characters that cannot be sent".into(),
            })?;
        // Debug-printing (and hyper's tracing) shows "Sensitive" instead of the value.
        value.set_sensitive(true);
        Ok(Some(value))
    }

    fn context(
        &self,
        repo: &RepoId,
        revision: &str,
        file: Option<&str>,
        token_sent: bool,
    ) -> RequestContext {
        RequestContext {
            repo: repo.to_string(),
            revision: revision.to_string(),
            file: file.map(String::from),
            token_sent,
            model_url: self.config.model_url(repo.as_str()),
            token_source: self.token.as_ref().map(|t| t.source().to_string()),
        }
    }

    /// The resolve URL of a file.
    pub fn resolve_url(&self, repo: &RepoId, revision: &str, file: &str) -> String {
        format!(
            "{}/{}/resolve/{}/{}",
            self.config.endpoint,
            repo,
            encode_segment(revision),
            encode_path(file)
        )
    }

    fn url(&self, text: &str) -> Result<Url, HubError> {
        Url::parse(text).map_err(|e| HubError::Setup {
            message: format!("bad URL {text}: {e}"),
        })
    }

    /// Sends one request, following redirects by hand. The token goes only to the hub's origin.
    /// With `follow_cross_origin = false`, a redirect to another origin is returned as is (a
    /// `HEAD` then reads the `X-Linked-*` headers of the 302). Returns the response and whether
    /// the token was sent on the request that produced it.
    async fn send(
        &self,
        method: Method,
        start: Url,
        extra: HeaderMap,
        follow_cross_origin: bool,
    ) -> Result<(Response, bool), SendError> {
        let mut url = start;
        let mut seen: Vec<Url> = Vec::new();
        loop {
            let mut request = self
                .http
                .request(method.clone(), url.clone())
                .headers(extra.clone());
            let token_sent = self.same_origin(&url) && token_transport_ok(&url);
            if token_sent {
                // The public entry points call `auth_value()?` first, so an unsendable token was
                // already reported; here it can only be `Some`.
                if let Ok(Some(value)) = self.auth_value() {
                    request = request.header(AUTHORIZATION, value);
                }
            }
            let response = request.send().await.map_err(SendError::Http)?;
            let token_sent = token_sent && self.token.is_some();
            if !response.status().is_redirection() {
                return Ok((response, token_sent));
            }
            let Some(next) = response
                .headers()
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|loc| url.join(loc).ok())
            else {
                return Ok((response, token_sent));
            };
            if !follow_cross_origin && !self.same_origin(&next) {
                return Ok((response, token_sent));
            }
            seen.push(url);
            if seen.len() > MAX_REDIRECTS || seen.contains(&next) {
                return Err(SendError::RedirectLoop {
                    from: redact_url(&seen[0]),
                    hops: seen.len(),
                });
            }
            tracing::debug!(
                from = %redact_url(seen.last().unwrap_or(&next)),
                to = %redact_url(&next),
                "following redirect"
            );
            url = next;
        }
    }

    fn offline_or_network(&self, what: &str, err: reqwest::Error) -> HubError {
        if let Some(tls) = self.tls_failure(&err) {
            return tls;
        }
        // Messages and logs never carry a URL: after a redirect it may be a signed CDN URL.
        let err = err.without_url();
        if err.is_connect() {
            HubError::Offline {
                message: format!(
                    "cannot reach {} ({}). Check the network or the proxy settings (HTTPS_PROXY, \
                     NO_PROXY); set HF_HUB_OFFLINE=1 to use only downloaded models",
                    self.config.endpoint,
                    describe(&err)
                ),
            }
        } else {
            HubError::Network {
                what: what.to_string(),
                attempts: 1,
                message: describe(&err),
            }
        }
    }

    /// A failed TLS handshake in `err`'s causes, as [`HubError::Tls`]: reqwest counts it as a
    /// connect error, which would read "offline" and hide the certificate.
    /// The host is the one the failed request went to (the download host after a redirect,
    /// which a user must tell apart from the hub), read before the URL is stripped.
    fn tls_failure(&self, err: &reqwest::Error) -> Option<HubError> {
        let tls = jslm_core::error_chain::find::<rustls::Error>(err)?;
        let host = err
            .url()
            .and_then(|url| url.host_str())
            .or(self.endpoint.host_str())
            .unwrap_or_default();
        Some(HubError::Tls {
            host: host.to_string(),
            message: tls.to_string(),
        })
    }

    /// Retries a metadata call on 5xx/429 and timeouts with the configured backoff.
    async fn with_retries<T, F, Fut>(&self, what: &str, mut call: F) -> Result<T, HubError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, HubError>>,
    {
        let policy = &self.config.retry;
        let mut attempt = 1;
        loop {
            match call().await {
                Err(HubError::Server { status, .. }) if attempt < policy.max_attempts => {
                    tracing::debug!(what, status, attempt, "hub answered an error; retrying");
                }
                Err(HubError::Network { message, .. }) if attempt < policy.max_attempts => {
                    tracing::debug!(what, %message, attempt, "network error; retrying");
                }
                Err(HubError::Server { what, status, .. }) => {
                    return Err(HubError::Server {
                        what,
                        status,
                        attempts: attempt,
                    })
                }
                Err(HubError::Network { what, message, .. }) => {
                    return Err(HubError::Network {
                        what,
                        message,
                        attempts: attempt,
                    })
                }
                other => return other,
            }
            tokio::time::sleep(policy.backoff(attempt)).await;
            attempt += 1;
        }
    }

    /// `HEAD` on a file's resolve URL.
    pub async fn file_metadata(
        &self,
        repo: &RepoId,
        revision: &str,
        file: &str,
    ) -> Result<FileMetadata, HubError> {
        self.auth_value()?;
        let url = self.url(&self.resolve_url(repo, revision, file))?;
        let what = format!("{repo}/{file}");
        self.with_retries(&what, || async {
            let mut headers = HeaderMap::new();
            headers.insert(ACCEPT_ENCODING, HeaderValue::from_static("identity"));
            let (response, token_sent) = self
                .send(Method::HEAD, url.clone(), headers, false)
                .await
                .map_err(|e| e.into_hub_error(&what, |e| self.offline_or_network(&what, e)))?;
            let status = response.status();
            let ctx = self.context(repo, revision, Some(file), token_sent);
            if !(status.is_success() || status.is_redirection()) {
                return Err(map_status(status, response.headers(), &ctx));
            }
            parse_file_metadata(status, response.headers(), &ctx)
        })
        .await
    }

    /// The repo at `revision`, with file sizes and LFS hashes.
    pub async fn revision_info(
        &self,
        repo: &RepoId,
        revision: &str,
    ) -> Result<RevisionInfo, HubError> {
        self.auth_value()?;
        let url = self.url(&format!(
            "{}/api/models/{}/revision/{}?blobs=true",
            self.config.endpoint,
            repo,
            encode_segment(revision)
        ))?;
        let what = format!("{repo} ({revision})");
        self.with_retries(&what, || async {
            let (response, token_sent) = self
                .send(Method::GET, url.clone(), HeaderMap::new(), true)
                .await
                .map_err(|e| e.into_hub_error(&what, |e| self.offline_or_network(&what, e)))?;
            let status = response.status();
            if !status.is_success() {
                return Err(map_status(
                    status,
                    response.headers(),
                    &self.context(repo, revision, None, token_sent),
                ));
            }
            let wire: RevisionInfoWire = read_json(response, &what).await?;
            let gated = match wire.gated {
                serde_json::Value::Bool(b) => b,
                serde_json::Value::String(s) => !s.is_empty() && s != "false",
                _ => false,
            };
            Ok(RevisionInfo {
                sha: wire.sha,
                siblings: wire.siblings,
                gated,
            })
        })
        .await
    }

    /// Checks the token: who it belongs to. Errors with `token_invalid` if the hub rejects it.
    pub async fn whoami(&self) -> Result<WhoAmI, HubError> {
        self.auth_value()?;
        if self.token.is_none() {
            return Err(HubError::InvalidRequest {
                message: "no Hugging Face token to check".into(),
            });
        }
        let url = self.url(&format!("{}/api/whoami-v2", self.config.endpoint))?;
        let (response, _) = self
            .send(Method::GET, url, HeaderMap::new(), true)
            .await
            .map_err(|e| e.into_hub_error("whoami", |e| self.offline_or_network("whoami", e)))?;
        let status = response.status();
        if status == StatusCode::UNAUTHORIZED {
            return Err(HubError::TokenInvalid {
                repo: "the hub".into(),
                source_hint: String::new(),
            });
        }
        if !status.is_success() {
            return Err(HubError::Protocol {
                what: "whoami-v2".into(),
                message: format!("HTTP {status}"),
            });
        }
        let value: serde_json::Value = read_json(response, "whoami-v2").await?;
        let text = |v: &serde_json::Value| v.as_str().map(String::from);
        Ok(WhoAmI {
            name: text(&value["name"]).unwrap_or_default(),
            token_name: text(&value["auth"]["accessToken"]["displayName"]),
            token_role: text(&value["auth"]["accessToken"]["role"]),
        })
    }

    /// `GET` a file's content from byte `start` (a `Range` request when > 0), following the
    /// CDN redirect. Error statuses are mapped; 200, 206 and 416 are returned for the caller to
    /// validate. Network errors are returned as `Network` (the caller retries).
    pub(crate) async fn get_file(
        &self,
        repo: &RepoId,
        commit: &str,
        file: &str,
        start: u64,
    ) -> Result<Response, HubError> {
        self.auth_value()?;
        let url = self.url(&self.resolve_url(repo, commit, file))?;
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT_ENCODING, HeaderValue::from_static("identity"));
        if start > 0 {
            let range =
                HeaderValue::from_str(&format!("bytes={start}-")).map_err(|e| HubError::Setup {
                    message: e.to_string(),
                })?;
            headers.insert(RANGE, range);
        }
        let what = format!("{repo}/{file}");
        let (response, token_sent) =
            self.send(Method::GET, url, headers, true)
                .await
                .map_err(|e| {
                    e.into_hub_error(&what, |e| {
                        self.tls_failure(&e).unwrap_or_else(|| HubError::Network {
                            what: what.clone(),
                            attempts: 1,
                            message: describe(&e.without_url()),
                        })
                    })
                })?;
        let status = response.status();
        if status.is_success() || status == StatusCode::RANGE_NOT_SATISFIABLE {
            return Ok(response);
        }
        let ctx = self.context(repo, commit, Some(file), token_sent);
        if is_retryable(status) {
            return Err(HubError::Server {
                what,
                status: status.as_u16(),
                attempts: 1,
            });
        }
        // The hub answered the HEAD for this file, so a 4xx from the host it redirected to is
        // that host's (or a proxy's in front of it): not the token's, nor the licence's.
        if !self.same_origin(response.url()) && status.is_client_error() {
            return Err(HubError::CdnRefused {
                what,
                host: response.url().host_str().unwrap_or_default().to_string(),
                status: status.as_u16(),
            });
        }
        Err(map_status(status, response.headers(), &ctx))
    }

    /// The read (stall) timeout in use.
    pub fn read_timeout(&self) -> Duration {
        self.config.read_timeout
    }
}

/// The certificates of a PEM bundle, each checked on its own as rustls will read it: a large
/// bundle (conda's, a company's) may hold one that rustls refuses, which used to fail the
/// whole client ("builder error"); that one alone is skipped, with a warning. An error when
/// the file cannot be read or holds no usable certificate.
fn read_ca_bundle(bundle: &std::path::Path) -> Result<Vec<reqwest::Certificate>, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let pem = std::fs::read(bundle)
        .map_err(|e| format!("cannot read the CA bundle {}: {e}", bundle.display()))?;
    let mut certs = Vec::new();
    let mut bad = 0;
    for item in CertificateDer::pem_slice_iter(&pem) {
        let usable = item
            .ok()
            .filter(|der| rustls::RootCertStore::empty().add(der.clone()).is_ok());
        match usable.and_then(|der| reqwest::Certificate::from_der(&der).ok()) {
            Some(cert) => certs.push(cert),
            None => bad += 1,
        }
    }
    if certs.is_empty() {
        return Err(format!(
            "the CA bundle {} holds no PEM certificate that can be used",
            bundle.display()
        ));
    }
    if bad > 0 {
        tracing::warn!(
            bundle = %bundle.display(),
            skipped = bad,
            "certificates that cannot be used were skipped"
        );
    }
    Ok(certs)
}

/// Reads a JSON answer of at most [`MAX_API_BODY`] bytes.
async fn read_json<T: serde::de::DeserializeOwned>(
    response: Response,
    what: &str,
) -> Result<T, HubError> {
    use futures_util::StreamExt;
    let protocol = |message: String| HubError::Protocol {
        what: what.to_string(),
        message,
    };
    let too_long = || protocol(format!("the answer is longer than {MAX_API_BODY} bytes"));
    if response.content_length().is_some_and(|n| n > MAX_API_BODY) {
        return Err(too_long());
    }
    let mut body = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| HubError::Network {
            what: what.to_string(),
            attempts: 1,
            message: describe(&e.without_url()),
        })?;
        if body.len() as u64 + chunk.len() as u64 > MAX_API_BODY {
            return Err(too_long());
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&body)
        .map_err(|e| protocol(format!("the answer is not the expected JSON: {e}")))
}

/// Strips `W/` and quotes from an ETag (`W/"abc"` → `abc`), as huggingface_hub does.
pub(crate) fn normalize_etag(raw: &str) -> String {
    raw.trim()
        .trim_start_matches("W/")
        .trim_matches('"')
        .to_string()
}

fn parse_file_metadata(
    status: StatusCode,
    headers: &HeaderMap,
    ctx: &RequestContext,
) -> Result<FileMetadata, HubError> {
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let commit = get("x-repo-commit").ok_or_else(|| HubError::Protocol {
        what: ctx.what(),
        message: "no X-Repo-Commit header: HF_ENDPOINT does not seem to point to a Hugging Face hub (or a proxy \
                  rewrote the answer)"
            .into(),
    })?;
    let linked = get("x-linked-etag");
    let lfs = linked.is_some();
    let etag = linked
        .or_else(|| get("etag"))
        .map(|e| normalize_etag(&e))
        .filter(|e| !e.is_empty())
        .ok_or_else(|| HubError::Protocol {
            what: ctx.what(),
            message: "no ETag: the file cannot be verified".into(),
        })?;
    // The etag is what the file is checked against and the blob's name in the cache: anything
    // but a git blob id or a sha256 would leave the file unverified or name a path.
    if !is_hex_digest(&etag) {
        let shown: String = etag.chars().take(80).collect();
        return Err(HubError::Protocol {
            what: ctx.what(),
            message: format!(
                "the {} `{shown}` is not a 40- or 64-digit hex digest: the file cannot be verified",
                if lfs { "X-Linked-Etag" } else { "ETag" }
            ),
        });
    }
    let size = match get("x-linked-size") {
        Some(s) => s.trim().parse().ok(),
        None if !status.is_redirection() => {
            get("content-length").and_then(|s| s.trim().parse().ok())
        }
        None => None,
    };
    Ok(FileMetadata {
        commit: commit.trim().to_string(),
        etag,
        size,
        lfs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> RequestContext {
        RequestContext {
            repo: "a/b".into(),
            revision: "main".into(),
            file: Some("f".into()),
            token_sent: false,
            model_url: String::new(),
            token_source: None,
        }
    }

    #[test]
    fn etags_are_normalised() {
        assert_eq!(normalize_etag("W/\"abc\""), "abc");
        assert_eq!(normalize_etag("\"abc\""), "abc");
        assert_eq!(normalize_etag("abc"), "abc");
    }

    const SHA: &str = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
    const OID: &str = "b6fc4c620b67d95f953a5c1c1230aaab5db5a1b0";

    #[test]
    fn metadata_from_a_cdn_redirect_uses_linked_headers() {
        let mut h = HeaderMap::new();
        h.insert("x-repo-commit", HeaderValue::from_static("c0ffee"));
        h.insert(
            "x-linked-etag",
            HeaderValue::from_str(&format!("\"{SHA}\"")).unwrap(),
        );
        h.insert("x-linked-size", HeaderValue::from_static("4368438976"));
        h.insert("etag", HeaderValue::from_static("\"other\""));
        h.insert("content-length", HeaderValue::from_static("1351"));
        let m = parse_file_metadata(StatusCode::FOUND, &h, &ctx()).expect("meta");
        assert_eq!(
            m,
            FileMetadata {
                commit: "c0ffee".into(),
                etag: SHA.into(),
                size: Some(4_368_438_976),
                lfs: true
            }
        );
    }

    #[test]
    fn metadata_of_a_small_file_and_missing_headers() {
        let mut h = HeaderMap::new();
        h.insert("x-repo-commit", HeaderValue::from_static("c0ffee"));
        h.insert(
            "etag",
            HeaderValue::from_str(&format!("\"{OID}\"")).unwrap(),
        );
        h.insert("content-length", HeaderValue::from_static("42"));
        let m = parse_file_metadata(StatusCode::OK, &h, &ctx()).expect("meta");
        assert_eq!((m.etag.as_str(), m.size, m.lfs), (OID, Some(42), false));
        // A 302's Content-Length is the redirect body, not the file.
        let m = parse_file_metadata(StatusCode::FOUND, &h, &ctx()).expect("meta");
        assert_eq!(m.size, None);
        h.remove("x-repo-commit");
        assert_eq!(
            parse_file_metadata(StatusCode::OK, &h, &ctx())
                .expect_err("no commit")
                .code(),
            "protocol"
        );
    }

    /// Regression (issue 14): an etag that is not a digest was accepted, and the file was
    /// downloaded checked by its size only (or, with `/` in it, named a path).
    #[test]
    fn etags_must_be_hex_digests() {
        for bad in [
            "abc",
            "sha256hex",
            "../../../../tmp/x",
            "..",
            "",
            &"a".repeat(63),
            &"a".repeat(41),
            &"g".repeat(64),
            &format!("{OID} "),
        ] {
            for header in ["etag", "x-linked-etag"] {
                let mut h = HeaderMap::new();
                h.insert("x-repo-commit", HeaderValue::from_static("c0ffee"));
                h.insert(
                    header,
                    HeaderValue::from_str(&format!("\"{bad}\"")).unwrap(),
                );
                let err = parse_file_metadata(StatusCode::OK, &h, &ctx()).expect_err(bad);
                assert_eq!(err.code(), "protocol", "{header}: {bad}");
            }
        }
        assert!(is_hex_digest(SHA) && is_hex_digest(OID));
        assert!(is_hex_digest(&SHA.to_ascii_uppercase()));
    }

    #[test]
    fn the_token_travels_only_encrypted_or_to_this_computer() {
        for ok in [
            "https://huggingface.co/",
            "https://hf-mirror.example:8443/x",
            "http://127.0.0.1:8080/",
            "http://127.5.0.1/",
            "http://[::1]:9000/",
            "http://localhost:3000/",
            "http://hub.localhost/",
        ] {
            assert!(token_transport_ok(&Url::parse(ok).unwrap()), "{ok}");
        }
        for bad in [
            "http://huggingface.co/",
            "http://192.168.1.10:8080/",
            "http://[::2]/",
            "http://localhost.evil.example/",
            "http://127.0.0.1.nip.io/",
            "ftp://127.0.0.1/",
        ] {
            assert!(!token_transport_ok(&Url::parse(bad).unwrap()), "{bad}");
        }
    }

    #[test]
    fn urls_in_logs_lose_their_query() {
        let url = Url::parse(
            "https://user:pw@cdn-lfs.example.co:8443/repos/ab/cd?X-Amz-Signature=secret&Expires=1#f",
        )
        .unwrap();
        let shown = redact_url(&url);
        assert_eq!(shown, "https://cdn-lfs.example.co:8443/repos/ab/cd?…");
        assert!(!shown.contains("secret") && !shown.contains("pw"));
    }
}
