//! The HTTP side of the test hub: one handler per host, paths parsed by hand (the hub's paths
//! mix fixed and free segments in ways a router would fight).

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::State as AxumState;
use axum::http::{HeaderMap, HeaderValue, Method, Request, StatusCode};
use axum::response::Response;
use axum::Router;
use bytes::Bytes;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::faults::{Fault, FaultKind};
use crate::fixture::{FakeFile, FakeRepo, TokenGrant};

/// What the server saw. Byte counts are body bytes handed to the connection.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// Content bytes served per file name (hub and CDN).
    pub bytes_served: BTreeMap<String, u64>,
    /// Content `GET`s per file name.
    pub content_requests: BTreeMap<String, u32>,
    /// Content `GET`s carrying a `Range` header, per file name.
    pub range_requests: BTreeMap<String, u32>,
    /// Requests to the CDN host that carried an `Authorization` header (must stay 0).
    pub auth_on_cdn: u32,
    /// `METHOD path -> status` for every request, in order.
    pub log: Vec<String>,
}

/// Server setup.
#[derive(Debug, Clone, Default)]
pub struct ServerConfig {
    /// Repos served.
    pub repos: Vec<FakeRepo>,
    /// Tokens accepted.
    pub tokens: Vec<TokenGrant>,
    /// Hub port (0: any).
    pub port: u16,
    /// CDN port (0: any).
    pub cdn_port: u16,
}

struct Shared {
    repos: HashMap<String, FakeRepo>,
    tokens: Vec<TokenGrant>,
    faults: Mutex<Vec<Fault>>,
    stats: Arc<Mutex<Stats>>,
    endpoint: String,
    cdn: String,
}

type SharedState = Arc<Shared>;

/// A running test hub. Tasks stop when it is dropped.
pub struct HubTestServer {
    /// Hub base URL (`HF_ENDPOINT`), e.g. `http://127.0.0.1:40123`.
    pub endpoint: String,
    /// CDN base URL, e.g. `http://127.0.0.2:40124`.
    pub cdn: String,
    shared: SharedState,
    tasks: Vec<JoinHandle<()>>,
}

impl HubTestServer {
    /// Binds both hosts and starts serving (inside a tokio runtime).
    pub async fn start(config: ServerConfig) -> std::io::Result<Self> {
        let hub = TcpListener::bind(("127.0.0.1", config.port)).await?;
        let (cdn, cdn_host) = match TcpListener::bind(("127.0.0.2", config.cdn_port)).await {
            Ok(listener) => (listener, "127.0.0.2"),
            // Where 127.0.0.2 is not a loopback address (macOS), another host *name* still makes
            // a different origin for the token-forwarding rule.
            Err(_) => (
                TcpListener::bind(("127.0.0.1", config.cdn_port)).await?,
                "localhost",
            ),
        };
        let hub_addr: SocketAddr = hub.local_addr()?;
        let cdn_addr: SocketAddr = cdn.local_addr()?;
        let endpoint = format!("http://127.0.0.1:{}", hub_addr.port());
        let cdn_url = format!("http://{cdn_host}:{}", cdn_addr.port());
        let shared = Arc::new(Shared {
            repos: config
                .repos
                .into_iter()
                .map(|r| (r.id.clone(), r))
                .collect(),
            tokens: config.tokens,
            faults: Mutex::new(Vec::new()),
            stats: Arc::new(Mutex::new(Stats::default())),
            endpoint: endpoint.clone(),
            cdn: cdn_url.clone(),
        });
        let hub_router = Router::new()
            .fallback(hub_handler)
            .with_state(shared.clone());
        let cdn_router = Router::new()
            .fallback(cdn_handler)
            .with_state(shared.clone());
        let tasks = vec![
            tokio::spawn(async move {
                let _ = axum::serve(hub, hub_router).await;
            }),
            tokio::spawn(async move {
                let _ = axum::serve(cdn, cdn_router).await;
            }),
        ];
        Ok(Self {
            endpoint,
            cdn: cdn_url,
            shared,
            tasks,
        })
    }

    /// Adds a fault (applies to the next matching content requests).
    pub fn add_fault(&self, fault: Fault) {
        if let Ok(mut faults) = self.shared.faults.lock() {
            faults.push(fault);
        }
    }

    /// Removes all faults.
    pub fn clear_faults(&self) {
        if let Ok(mut faults) = self.shared.faults.lock() {
            faults.clear();
        }
    }

    /// A snapshot of the statistics.
    pub fn stats(&self) -> Stats {
        self.shared
            .stats
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default()
    }

    /// Content bytes served for `file` so far.
    pub fn bytes_served(&self, file: &str) -> u64 {
        self.stats().bytes_served.get(file).copied().unwrap_or(0)
    }

    /// Total content bytes served.
    pub fn total_bytes_served(&self) -> u64 {
        self.stats().bytes_served.values().sum()
    }

    /// Resets the statistics.
    pub fn reset_stats(&self) {
        if let Ok(mut stats) = self.shared.stats.lock() {
            *stats = Stats::default();
        }
    }

    /// A served repo.
    pub fn repo(&self, id: &str) -> Option<&FakeRepo> {
        self.shared.repos.get(id)
    }
}

impl Drop for HubTestServer {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

fn decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Some(b) = segment
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).to_string()
}

fn response(status: StatusCode, headers: &[(&str, String)], body: Body) -> Response {
    let mut r = Response::new(body);
    *r.status_mut() = status;
    for (k, v) in headers {
        if let (Ok(name), Ok(value)) = (
            axum::http::HeaderName::try_from(*k),
            HeaderValue::from_str(v),
        ) {
            r.headers_mut().insert(name, value);
        }
    }
    r
}

fn error(status: u16, code: Option<&str>, message: &str, extra: &[(&str, String)]) -> Response {
    let mut headers: Vec<(&str, String)> = vec![("x-error-message", message.to_string())];
    if let Some(code) = code {
        headers.push(("x-error-code", code.to_string()));
    }
    headers.extend(extra.iter().cloned());
    headers.push(("content-type", "application/json".into()));
    let body = serde_json::json!({ "error": message }).to_string();
    response(
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        &headers,
        Body::from(body),
    )
}

enum Caller<'a> {
    Anonymous,
    User(&'a TokenGrant),
    BadToken,
}

fn caller<'a>(shared: &'a Shared, headers: &HeaderMap) -> Caller<'a> {
    let Some(value) = headers.get("authorization").and_then(|v| v.to_str().ok()) else {
        return Caller::Anonymous;
    };
    let token = value.strip_prefix("Bearer ").unwrap_or(value).trim();
    match shared.tokens.iter().find(|g| g.token == token) {
        Some(grant) => Caller::User(grant),
        None => Caller::BadToken,
    }
}

fn log(shared: &Shared, line: String) {
    if let Ok(mut stats) = shared.stats.lock() {
        stats.log.push(line);
    }
}

async fn hub_handler(
    AxumState(shared): AxumState<SharedState>,
    request: Request<Body>,
) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let query = request.uri().query().unwrap_or("").to_string();
    let answer = hub_route(&shared, &method, &path, &query, request.headers());
    log(
        &shared,
        format!("{method} {path} -> {}", answer.status().as_u16()),
    );
    answer
}

fn hub_route(
    shared: &Shared,
    method: &Method,
    path: &str,
    query: &str,
    headers: &HeaderMap,
) -> Response {
    let segments: Vec<String> = path
        .trim_start_matches('/')
        .split('/')
        .map(decode)
        .collect();
    let caller = caller(shared, headers);
    if matches!(caller, Caller::BadToken) {
        return error(
            401,
            None,
            "Invalid credentials in Authorization header",
            &[],
        );
    }
    let seg: Vec<&str> = segments.iter().map(String::as_str).collect();
    match seg.as_slice() {
        ["api", "whoami-v2"] => match caller {
            Caller::User(grant) => response(
                StatusCode::OK,
                &[("content-type", "application/json".into())],
                Body::from(
                    serde_json::json!({
                        "type": "user",
                        "name": grant.user,
                        "auth": { "type": "access_token", "accessToken": { "displayName": "test", "role": "read" } }
                    })
                    .to_string(),
                ),
            ),
            _ => error(401, None, "Invalid credentials in Authorization header", &[]),
        },
        ["api", "models", org, name, "tree", rev, rest @ ..] => {
            tree_api(shared, &format!("{org}/{name}"), rev, &rest.join("/"), query, &caller)
        }
        ["api", "models", org, name, "revision", rev] => revision_api(shared, &format!("{org}/{name}"), rev, query, &caller),
        [org, name, "resolve", rev, rest @ ..] if !rest.is_empty() => {
            resolve(shared, method, &format!("{org}/{name}"), rev, &rest.join("/"), headers, &caller)
        }
        _ => error(404, None, "Not Found", &[]),
    }
}

fn repo_not_found(caller: &Caller<'_>) -> Response {
    // Like the hub: anonymous callers get 401 (it might be private), others 404.
    let status = if matches!(caller, Caller::Anonymous) {
        401
    } else {
        404
    };
    error(status, Some("RepoNotFound"), "Repository Not Found", &[])
}

fn revision_api(
    shared: &Shared,
    id: &str,
    rev: &str,
    query: &str,
    caller: &Caller<'_>,
) -> Response {
    let Some(repo) = shared.repos.get(id) else {
        return repo_not_found(caller);
    };
    if rev != "main" && rev != repo.commit {
        return error(
            404,
            Some("RevisionNotFound"),
            &format!("Invalid rev id: {rev}"),
            &[],
        );
    }
    let blobs = query.split('&').any(|p| p == "blobs=true");
    let siblings: Vec<serde_json::Value> = repo
        .files
        .iter()
        .map(|(name, f)| {
            if !blobs {
                return serde_json::json!({ "rfilename": name });
            }
            let mut v = serde_json::json!({ "rfilename": name, "blobId": f.oid, "size": f.data.len() });
            if f.lfs {
                v["lfs"] = serde_json::json!({ "sha256": f.sha256, "size": f.data.len(), "pointerSize": 134 });
            }
            v
        })
        .collect();
    let body = serde_json::json!({
        "_id": "000000000000000000000000",
        "id": repo.id,
        "modelId": repo.id,
        "sha": repo.commit,
        "private": false,
        "disabled": false,
        "gated": if repo.gated { serde_json::json!("manual") } else { serde_json::json!(false) },
        "siblings": siblings,
    });
    response(
        StatusCode::OK,
        &[("content-type", "application/json".into())],
        Body::from(body.to_string()),
    )
}

/// `GET /api/models/{repo}/tree/{rev}[/{path}][?recursive=true]`: the entries under `path`
/// (files with oid, size and lfs; folders), as huggingface_hub's `list_repo_tree` reads them.
fn tree_api(
    shared: &Shared,
    id: &str,
    rev: &str,
    path: &str,
    query: &str,
    caller: &Caller<'_>,
) -> Response {
    let Some(repo) = shared.repos.get(id) else {
        return repo_not_found(caller);
    };
    if rev != "main" && rev != repo.commit {
        return error(
            404,
            Some("RevisionNotFound"),
            &format!("Invalid rev id: {rev}"),
            &[],
        );
    }
    let recursive = query
        .split('&')
        .any(|p| p == "recursive=true" || p == "recursive=True");
    let prefix = if path.is_empty() {
        String::new()
    } else {
        format!("{}/", path.trim_end_matches('/'))
    };
    let mut dirs = std::collections::BTreeSet::new();
    let mut entries = Vec::new();
    for (name, f) in &repo.files {
        let Some(rel) = name.strip_prefix(&prefix) else {
            continue;
        };
        let parts: Vec<&str> = rel.split('/').collect();
        for depth in 1..parts.len() {
            if recursive || depth == 1 {
                dirs.insert(format!("{prefix}{}", parts[..depth].join("/")));
            }
        }
        if !recursive && parts.len() > 1 {
            continue;
        }
        let mut v =
            serde_json::json!({ "type": "file", "oid": f.oid, "size": f.data.len(), "path": name });
        if f.lfs {
            v["lfs"] =
                serde_json::json!({ "oid": f.sha256, "size": f.data.len(), "pointerSize": 134 });
        }
        entries.push(v);
    }
    let mut all: Vec<serde_json::Value> = dirs
        .into_iter()
        .map(|d| serde_json::json!({ "type": "directory", "oid": "0000000000000000000000000000000000000000", "size": 0, "path": d }))
        .collect();
    all.extend(entries);
    response(
        StatusCode::OK,
        &[("content-type", "application/json".into())],
        Body::from(serde_json::Value::Array(all).to_string()),
    )
}

fn resolve(
    shared: &Shared,
    method: &Method,
    id: &str,
    rev: &str,
    file: &str,
    headers: &HeaderMap,
    caller: &Caller<'_>,
) -> Response {
    let Some(repo) = shared.repos.get(id) else {
        return repo_not_found(caller);
    };
    let page = format!("{}/{}", shared.endpoint, repo.id);
    if repo.gated {
        match caller {
            Caller::Anonymous => {
                return error(
                    401,
                    Some("GatedRepo"),
                    &format!("Access to model {} is restricted. You must have access to it and be authenticated to access it. Please log in.", repo.id),
                    &[],
                )
            }
            Caller::User(grant) if !grant.accepted.contains(&repo.id) => {
                return error(
                    403,
                    Some("GatedRepo"),
                    &format!("Access to model {} is restricted and you are not in the authorized list. Visit {page} to ask for access.", repo.id),
                    &[],
                )
            }
            _ => {}
        }
    }
    if rev != "main" && rev != repo.commit {
        return error(
            404,
            Some("RevisionNotFound"),
            &format!("Invalid rev id: {rev}"),
            &[],
        );
    }
    let commit = ("x-repo-commit", repo.commit.clone());
    let Some(f) = repo.files.get(file) else {
        return error(
            404,
            Some("EntryNotFound"),
            &format!("{file} does not exist on \"{rev}\""),
            &[commit],
        );
    };
    if f.lfs {
        let location = format!(
            "{}/cdn/{}/{}?X-Amz-Signature=fake",
            shared.cdn, repo.id, f.sha256
        );
        let body = format!("Found. Redirecting to {location}");
        return response(
            StatusCode::FOUND,
            &[
                ("location", location),
                ("x-linked-etag", format!("\"{}\"", f.sha256)),
                ("x-linked-size", f.data.len().to_string()),
                ("etag", format!("\"{}\"", f.sha256)),
                commit,
                ("content-length", body.len().to_string()),
            ],
            if *method == Method::HEAD {
                Body::empty()
            } else {
                Body::from(body)
            },
        );
    }
    content(
        shared,
        method,
        file,
        f,
        headers,
        &[commit, ("etag", format!("\"{}\"", f.oid))],
    )
}

async fn cdn_handler(
    AxumState(shared): AxumState<SharedState>,
    request: Request<Body>,
) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    if request.headers().contains_key("authorization") {
        if let Ok(mut stats) = shared.stats.lock() {
            stats.auth_on_cdn += 1;
        }
    }
    let segments: Vec<String> = path
        .trim_start_matches('/')
        .split('/')
        .map(decode)
        .collect();
    let seg: Vec<&str> = segments.iter().map(String::as_str).collect();
    let answer = match seg.as_slice() {
        ["cdn", org, name, sha] => {
            let id = format!("{org}/{name}");
            match shared
                .repos
                .get(&id)
                .and_then(|r| r.files.iter().find(|(_, f)| f.sha256 == *sha))
            {
                Some((file, f)) => content(
                    &shared,
                    &method,
                    file,
                    f,
                    request.headers(),
                    &[("etag", format!("\"{sha}\""))],
                ),
                None => error(404, None, "NoSuchKey", &[]),
            }
        }
        _ => error(404, None, "NoSuchKey", &[]),
    };
    log(
        &shared,
        format!("CDN {method} {path} -> {}", answer.status().as_u16()),
    );
    answer
}

fn take_fault(shared: &Shared, file: &str) -> Option<FaultKind> {
    let mut faults = shared.faults.lock().ok()?;
    let index = faults
        .iter()
        .position(|f| (f.file == file || f.file == "*") && f.times > 0)?;
    let fault = &mut faults[index];
    let kind = fault.kind;
    if fault.times != u32::MAX {
        fault.times -= 1;
    }
    if fault.times == 0 {
        faults.remove(index);
    }
    Some(kind)
}

/// `bytes=a-` or `bytes=a-b` → (a, Some(b)).
fn parse_range(headers: &HeaderMap) -> Option<(u64, Option<u64>)> {
    let value = headers.get("range")?.to_str().ok()?;
    let spec = value.trim().strip_prefix("bytes=")?;
    let (a, b) = spec.split_once('-')?;
    let a = a.trim().parse().ok()?;
    let b = if b.trim().is_empty() {
        None
    } else {
        Some(b.trim().parse().ok()?)
    };
    Some((a, b))
}

fn content(
    shared: &Shared,
    method: &Method,
    name: &str,
    file: &FakeFile,
    headers: &HeaderMap,
    extra: &[(&str, String)],
) -> Response {
    let range = parse_range(headers);
    let fault = if *method == Method::GET {
        if let Ok(mut stats) = shared.stats.lock() {
            *stats.content_requests.entry(name.to_string()).or_default() += 1;
            if range.is_some() {
                *stats.range_requests.entry(name.to_string()).or_default() += 1;
            }
        }
        take_fault(shared, name)
    } else {
        None
    };
    if let Some(FaultKind::Status(code)) = fault {
        return error(code, None, "injected failure", &[]);
    }
    let mut data: Vec<u8> = file.data.to_vec();
    match fault {
        Some(FaultKind::CorruptByte(offset)) if (offset as usize) < data.len() => {
            data[offset as usize] ^= 0xFF
        }
        Some(FaultKind::WrongSize(delta)) if delta > 0 => {
            data.extend(std::iter::repeat_n(0xEE, delta as usize))
        }
        Some(FaultKind::WrongSize(delta)) => {
            data.truncate(data.len().saturating_sub(delta.unsigned_abs() as usize))
        }
        _ => {}
    }
    let len = data.len() as u64;
    let mut out: Vec<(&str, String)> = extra.to_vec();
    out.push(("accept-ranges", "bytes".into()));
    out.push(("content-type", "application/octet-stream".into()));
    let (status, start, end) = match range {
        Some((a, _)) if a >= len && fault != Some(FaultKind::IgnoreRange) => {
            out.push(("content-range", format!("bytes */{len}")));
            return response(StatusCode::RANGE_NOT_SATISFIABLE, &out, Body::empty());
        }
        Some((a, b)) if fault != Some(FaultKind::IgnoreRange) => {
            let last = b.unwrap_or(len - 1).min(len - 1);
            if fault != Some(FaultKind::NoContentRange) {
                out.push(("content-range", format!("bytes {a}-{last}/{len}")));
            }
            (StatusCode::PARTIAL_CONTENT, a, last + 1)
        }
        _ => (StatusCode::OK, 0, len),
    };
    out.push(("content-length", (end - start).to_string()));
    if *method == Method::HEAD {
        return response(status, &out, Body::empty());
    }
    let body = body_stream(
        shared,
        name,
        Bytes::from(data).slice(start as usize..end as usize),
        fault,
    );
    response(status, &out, body)
}

/// Streams `data` in chunks, applying drop/stall/throttle faults and counting served bytes.
fn body_stream(shared: &Shared, name: &str, data: Bytes, fault: Option<FaultKind>) -> Body {
    const CHUNK: usize = 16 * 1024;
    let stats = shared.stats.clone();
    let name = name.to_string();
    let stream = futures_util::stream::unfold((0usize, data, false), move |(sent, data, done)| {
        let name = name.clone();
        let stats = stats.clone();
        async move {
            if done || sent >= data.len() {
                return None;
            }
            let mut size = CHUNK.min(data.len() - sent);
            match fault {
                Some(FaultKind::DropAfter(n)) => {
                    if sent as u64 >= n {
                        let err = std::io::Error::new(
                            std::io::ErrorKind::ConnectionReset,
                            "injected drop",
                        );
                        return Some((Err(err), (sent, data, true)));
                    }
                    size = size.min((n - sent as u64) as usize);
                }
                Some(FaultKind::StallAfter(n)) => {
                    if sent as u64 >= n {
                        tokio::time::sleep(Duration::from_secs(3600)).await;
                        return None;
                    }
                    size = size.min((n - sent as u64) as usize);
                }
                Some(FaultKind::Throttle(bps)) if bps > 0 => {
                    tokio::time::sleep(Duration::from_secs_f64(size as f64 / bps as f64)).await;
                }
                _ => {}
            }
            let chunk = data.slice(sent..sent + size);
            if let Ok(mut s) = stats.lock() {
                *s.bytes_served.entry(name).or_default() += size as u64;
            }
            Some((
                Ok::<Bytes, std::io::Error>(chunk),
                (sent + size, data, false),
            ))
        }
    });
    Body::from_stream(stream)
}
