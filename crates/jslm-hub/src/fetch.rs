//! Downloading one file into the cache: the resume/verify state machine.
//!
//! 1. Take the blob's lock (waiting if another process or task holds it); if the blob appeared
//!    meanwhile, reuse it.
//! 2. Open `blobs/<etag>.incomplete`, keep the bytes already there, hash them.
//! 3. `GET` with `Range: bytes=<len>-`. Append only if the answer is 206 with a `Content-Range`
//!    starting exactly at `<len>` for this file's size; a 200 means the server ignored the range:
//!    the partial file is truncated and the 200 body written from byte 0 (never appended). Only
//!    a 200 (a whole body) may restart from zero: a 206 with a missing or wrong
//!    `Content-Range`, or a 416 before the end, says nothing about the bytes on disk (they are
//!    checked by the final digest anyway), so the partial file is kept and the request retried.
//! 4. A dropped connection, a stall (read timeout), a 5xx or such a malformed answer → back
//!    off and resume (step 3). The attempt counter resets only when the file grows past the
//!    most it ever held in this call, so no cycle (a body cut short, a 416, a restart from
//!    zero, ...) can go on for ever: `max_attempts` failures in a row end in `network` (the
//!    connection) or `protocol` (the server's answers) with the partial file kept.
//! 5. At the end, the digest must match (sha256 / git oid / size); a mismatch deletes the
//!    partial file and downloads it once more, then fails with `checksum`.
//! 6. fsync, then rename into `blobs/<etag>` (atomic on one file system): a blob exists only
//!    when complete and verified.
//!
//! Cancelling keeps the partial file. Killing the process keeps it too; the next run resumes.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use reqwest::header::CONTENT_RANGE;
use reqwest::StatusCode;
use tokio::io::{AsyncSeekExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

use crate::cache::HfCache;
use crate::client::HubClient;
use crate::error::HubError;
use crate::lock::FileLock;
use crate::progress::{DownloadEvent, EventSink, RateMeter};
use crate::repo::RepoId;
use crate::verify::{Check, Verifier};
use jslm_core::error_chain::describe;

/// One file to fetch.
#[derive(Debug, Clone)]
pub(crate) struct FileTask {
    pub repo: RepoId,
    pub commit: String,
    pub name: String,
    pub etag: String,
    pub size: u64,
    pub check: Check,
}

/// What the server's answer to a (range) request allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Append the body at the current length.
    Append,
    /// The body is the whole file (a 200): truncate to zero and write it from byte 0.
    Restart { reason: String },
    /// A malformed answer (a 206 for other bytes, a 416 before the end): keep the partial file,
    /// count a failure and ask again.
    Retry { reason: String },
    /// The file is already complete (416 at exactly its size).
    Complete,
}

/// Parses `bytes <first>-<last>/<total or *>`.
pub(crate) fn parse_content_range(value: &str) -> Option<(u64, u64, Option<u64>)> {
    let rest = value.trim().strip_prefix("bytes")?.trim_start();
    let (span, total) = rest.split_once('/')?;
    let (first, last) = span.split_once('-')?;
    let first = first.trim().parse().ok()?;
    let last = last.trim().parse().ok()?;
    let total = match total.trim() {
        "*" => None,
        t => Some(t.parse().ok()?),
    };
    (first <= last).then_some((first, last, total))
}

/// Decides what to do with an answer to a request for bytes `start..` of a `size`-byte file.
pub(crate) fn decide(
    start: u64,
    status: StatusCode,
    content_range: Option<&str>,
    content_length: Option<u64>,
    content_type: Option<&str>,
    size: u64,
) -> Decision {
    // A web page (a proxy's block or login page, often with 200) or a body longer than the
    // file is not the file. It is never written (kept as the file's first bytes, only the
    // final digest, hours later, would find it), nor is the partial file emptied for it. A
    // shorter body may be the file's start, cut short: kept, and resumed.
    // Only HTML: the hub serves small files (config.json, README.md) as text/plain.
    let page =
        content_type.is_some_and(|t| t.trim_start().to_ascii_lowercase().starts_with("text/html"));
    match status {
        StatusCode::OK | StatusCode::PARTIAL_CONTENT
            if page || content_length.is_some_and(|n| n > size) =>
        {
            Decision::Retry {
                reason: format!(
                    "the server answered {} with {} of {} bytes for a file of {size} bytes (a proxy's page?)",
                    status.as_u16(),
                    content_type.unwrap_or("no type"),
                    content_length.map_or("unknown".to_string(), |n| n.to_string()),
                ),
            }
        }
        StatusCode::OK if start == 0 => Decision::Append,
        StatusCode::OK => Decision::Restart {
            reason: format!("the server ignored the request to resume at byte {start} (200 instead of 206)"),
        },
        StatusCode::PARTIAL_CONTENT => match content_range.and_then(parse_content_range) {
            Some((first, last, total)) if first == start && last < size && total.is_none_or(|t| t == size) => {
                Decision::Append
            }
            _ => Decision::Retry {
                reason: format!(
                    "the server answered 206 with Content-Range `{}` to a request for bytes {start}- of {size}",
                    content_range.unwrap_or("(none)")
                ),
            },
        },
        StatusCode::RANGE_NOT_SATISFIABLE if start == size => Decision::Complete,
        _ => Decision::Retry {
            reason: format!("unexpected HTTP {} to a request for bytes {start}- of {size}", status.as_u16()),
        },
    }
}

fn is_html_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.ends_with(".html") || lower.ends_with(".htm")
}

/// Byte accounting across all files of one download.
pub(crate) struct Overall {
    pub done: u64,
    pub total: u64,
    pub downloaded: u64,
    pub meter: RateMeter,
}

impl Overall {
    pub(crate) fn new(done: u64, total: u64) -> Self {
        Self {
            done,
            total,
            downloaded: 0,
            meter: RateMeter::new(Duration::from_secs(5)),
        }
    }
}

/// Everything a file fetch needs from the download manager.
pub(crate) struct FetchContext<'a> {
    pub client: &'a HubClient,
    pub cache: &'a HfCache,
    pub sink: &'a EventSink<'a>,
    pub cancel: &'a CancellationToken,
}

/// How a file fetch ended.
#[derive(Debug)]
pub(crate) struct Fetched {
    /// The blob path.
    pub blob: PathBuf,
    /// The digest that was checked (`None` when the blob was reused, not re-hashed).
    pub digest: Option<String>,
}

/// Downloads (or reuses) one blob. See the module docs for the state machine.
pub(crate) async fn fetch_file(
    cx: &FetchContext<'_>,
    task: &FileTask,
    overall: &mut Overall,
) -> Result<Fetched, HubError> {
    let blob = cx.cache.blob_path(&task.repo, &task.etag);
    let lock_path = cx.cache.lock_path(&task.repo, &task.etag);
    let _lock = FileLock::acquire(&lock_path, cx.cancel, || {
        tracing::info!(file = %task.name, "another download holds this file; waiting");
        cx.sink.emit(DownloadEvent::LockWaited {
            file: task.name.clone(),
        });
    })
    .await?;
    if let Some(len) = existing_len(&blob) {
        if len == task.size {
            return Ok(Fetched { blob, digest: None });
        }
        tracing::warn!(file = %task.name, len, size = task.size, "cached blob has the wrong size; downloading again");
        std::fs::remove_file(&blob).map_err(|e| HubError::io("remove", &blob, e))?;
    }
    let partial = cx.cache.incomplete_path(&task.repo, &task.etag);
    let mut integrity_retry_left = true;
    loop {
        let verifier = download_to_partial(cx, task, &partial, overall).await?;
        match verifier.finish() {
            Ok(digest) => {
                std::fs::rename(&partial, &blob)
                    .map_err(|e| HubError::io("move into place", &blob, e))?;
                sync_parent(&blob);
                return Ok(Fetched {
                    blob,
                    digest: Some(digest),
                });
            }
            Err(mismatch) => {
                tracing::warn!(file = %task.name, expected = %mismatch.expected, actual = %mismatch.actual, "verification failed");
                std::fs::remove_file(&partial)
                    .map_err(|e| HubError::io("delete corrupt", &partial, e))?;
                overall.done = overall.done.saturating_sub(task.size);
                cx.sink.emit(DownloadEvent::VerificationFailed {
                    file: task.name.clone(),
                    expected: mismatch.expected.clone(),
                    actual: mismatch.actual.clone(),
                    will_retry: integrity_retry_left,
                });
                if !integrity_retry_left {
                    return Err(HubError::Checksum {
                        file: task.name.clone(),
                        expected: mismatch.expected,
                        actual: mismatch.actual,
                    });
                }
                integrity_retry_left = false;
            }
        }
    }
}

fn existing_len(path: &std::path::Path) -> Option<u64> {
    std::fs::metadata(path)
        .ok()
        .filter(|m| m.is_file())
        .map(|m| m.len())
}

/// Makes the rename durable (best effort; not available on every platform).
fn sync_parent(path: &std::path::Path) {
    #[cfg(unix)]
    if let Some(dir) = path.parent() {
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

/// Brings the partial file to `task.size` bytes, resuming, retrying and restarting as needed.
/// Returns the verifier that has seen every byte (the prefix on disk, then the stream).
async fn download_to_partial(
    cx: &FetchContext<'_>,
    task: &FileTask,
    partial: &std::path::Path,
    overall: &mut Overall,
) -> Result<Verifier, HubError> {
    if let Some(dir) = partial.parent() {
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(|e| HubError::io("create", dir, e))?;
    }
    let mut file = tokio::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(partial)
        .await
        .map_err(|e| HubError::io("open", partial, e))?;
    let mut len = file
        .metadata()
        .await
        .map_err(|e| HubError::io("inspect", partial, e))?
        .len();
    if len > task.size {
        tracing::warn!(file = %task.name, len, size = task.size, "partial file longer than the file; starting over");
        file.set_len(0)
            .await
            .map_err(|e| HubError::io("truncate", partial, e))?;
        len = 0;
    }
    // Said before the bytes on disk are hashed (up to a minute for gigabytes on a hard disk),
    // so that the window shows the file under way rather than a frozen bar.
    cx.sink.emit(DownloadEvent::FileStarted {
        file: task.name.clone(),
        size: task.size,
        resumed_from: len,
    });
    let mut verifier = Verifier::new(task.check.clone(), task.size);
    if len > 0 {
        // Off the async threads (they serve the window's other commands meanwhile), and
        // stopped by Pause.
        let path = partial.to_path_buf();
        let cancel = cx.cancel.clone();
        let hashed = tokio::task::spawn_blocking(move || {
            let done = verifier.update_from_file(&path, len, &|| cancel.is_cancelled());
            done.map(|complete| (complete, verifier))
        })
        .await
        .map_err(|e| HubError::io("read partial download", partial, std::io::Error::other(e)))??;
        let complete;
        (complete, verifier) = hashed;
        if !complete {
            return Err(cancelled(&mut file, len).await);
        }
    }
    file.seek(std::io::SeekFrom::Start(len))
        .await
        .map_err(|e| HubError::io("seek", partial, e))?;
    if len > 0 {
        tracing::info!(file = %task.name, resumed_from = len, "resuming partial download");
    }

    let policy = &cx.client.config().retry;
    let mut failures: u32 = 0;
    // The most bytes the partial file held in this call: only growing past it is progress.
    let mut high_water = len;
    let mut oversize_retry_left = true;
    while len < task.size {
        if cx.cancel.is_cancelled() {
            return Err(cancelled(&mut file, len).await);
        }
        let response = tokio::select! {
            _ = cx.cancel.cancelled() => return Err(cancelled(&mut file, len).await),
            r = cx.client.get_file(&task.repo, &task.commit, &task.name, len) => r,
        };
        let outcome = match response {
            Err(HubError::Network { message, .. }) => BodyEnd::Broken(message),
            Err(HubError::Server { status, .. }) => BodyEnd::ServerError(status),
            Err(other) => return Err(other),
            Ok(response) => {
                let content_range = response
                    .headers()
                    .get(CONTENT_RANGE)
                    .and_then(|v| v.to_str().ok())
                    .map(String::from);
                let decision = decide(
                    len,
                    response.status(),
                    content_range.as_deref(),
                    response.content_length(),
                    // (A repo's own .html files are HTML.)
                    response
                        .headers()
                        .get(reqwest::header::CONTENT_TYPE)
                        .and_then(|v| v.to_str().ok())
                        .filter(|_| !is_html_name(&task.name)),
                    task.size,
                );
                match decision {
                    Decision::Complete => break,
                    Decision::Retry { reason } => BodyEnd::Refused(reason),
                    decision => {
                        if let Decision::Restart { reason } = decision {
                            tracing::warn!(file = %task.name, %reason, "restarting file from zero");
                            cx.sink.emit(DownloadEvent::Restarted {
                                file: task.name.clone(),
                                reason,
                            });
                            restart(&mut file, partial, overall, &mut len, &mut verifier).await?;
                        }
                        stream_body(
                            cx,
                            task,
                            response,
                            &mut file,
                            partial,
                            &mut len,
                            &mut verifier,
                            overall,
                        )
                        .await?
                    }
                }
            }
        };
        let failure = match outcome {
            BodyEnd::Ended if len == task.size => break,
            // The body ended early without an error (e.g. a proxy cut it): resume.
            BodyEnd::Ended => Failure::Network(format!(
                "the connection closed after {len} of {} bytes",
                task.size
            )),
            BodyEnd::Oversize => {
                restart(&mut file, partial, overall, &mut len, &mut verifier).await?;
                if !oversize_retry_left {
                    return Err(HubError::Protocol {
                        what: format!("{}/{}", task.repo, task.name),
                        message: format!(
                            "the server sent more than the announced {} bytes, twice",
                            task.size
                        ),
                    });
                }
                oversize_retry_left = false;
                cx.sink.emit(DownloadEvent::Restarted {
                    file: task.name.clone(),
                    reason: format!(
                        "the server sent more than the announced {} bytes",
                        task.size
                    ),
                });
                continue;
            }
            BodyEnd::Cancelled => return Err(cancelled(&mut file, len).await),
            BodyEnd::Broken(reason) => Failure::Network(reason),
            BodyEnd::ServerError(status) => Failure::Server(status),
            BodyEnd::Refused(reason) => Failure::Protocol(reason),
        };
        retry_or_fail(
            cx,
            task,
            &mut failures,
            &mut high_water,
            len,
            failure,
            policy,
            &mut file,
        )
        .await?;
    }
    file.flush()
        .await
        .map_err(|e| HubError::io("write", partial, e))?;
    file.sync_all()
        .await
        .map_err(|e| HubError::io("sync", partial, e))?;
    Ok(verifier)
}

/// How one response body ended.
enum BodyEnd {
    /// The stream ended without error (complete, or cut short cleanly).
    Ended,
    /// The connection broke or stalled; the reason is shown in `Retried`.
    Broken(String),
    /// The server's answer broke the protocol (no body was written); the partial file is kept.
    Refused(String),
    /// The server answered 5xx or 429: it is there, but busy or failing.
    ServerError(u16),
    /// More bytes than the file's size arrived.
    Oversize,
    /// The caller cancelled.
    Cancelled,
}

/// Why an attempt failed: the connection, or the server's answer.
enum Failure {
    Network(String),
    Protocol(String),
    /// An HTTP status: given up, it is `server` (a hub outage, a rate limit), not `network`.
    Server(u16),
}

#[allow(clippy::too_many_arguments)]
async fn retry_or_fail(
    cx: &FetchContext<'_>,
    task: &FileTask,
    failures: &mut u32,
    high_water: &mut u64,
    len: u64,
    failure: Failure,
    policy: &crate::config::RetryPolicy,
    file: &mut tokio::fs::File,
) -> Result<(), HubError> {
    if len > *high_water {
        // The file grew past anything it held before: a new run of bad luck. Growing back to
        // a length it had (after a restart from zero) is no progress.
        *high_water = len;
        *failures = 0;
    }
    *failures = failures.saturating_add(1);
    let reason = match &failure {
        Failure::Network(reason) | Failure::Protocol(reason) => reason.clone(),
        Failure::Server(status) => format!("the server answered {status}"),
    };
    if *failures >= policy.max_attempts {
        let _ = file.flush().await;
        let what = format!("{}/{}", task.repo, task.name);
        let kept = format!(
            "{len} of {} bytes are kept and resume on the next run",
            task.size
        );
        return Err(match failure {
            Failure::Network(reason) => HubError::Network {
                what,
                attempts: *failures,
                message: format!("{reason}; {kept}"),
            },
            Failure::Protocol(reason) => HubError::Protocol {
                what,
                message: format!("{reason}, {} times in a row; {kept}", *failures),
            },
            Failure::Server(status) => {
                tracing::info!(file = %task.name, %kept, "giving up after server errors");
                HubError::Server {
                    what,
                    status,
                    attempts: *failures,
                }
            }
        });
    }
    let delay = policy.backoff(*failures);
    tracing::info!(file = %task.name, attempt = *failures, delay_ms = delay.as_millis() as u64, %reason, "retrying");
    cx.sink.emit(DownloadEvent::Retried {
        file: task.name.clone(),
        attempt: *failures,
        delay_ms: delay.as_millis() as u64,
        reason,
    });
    tokio::select! {
        _ = cx.cancel.cancelled() => Err(cancelled(file, len).await),
        _ = tokio::time::sleep(delay) => Ok(()),
    }
}

/// Empties the partial file for a body from byte 0 (a 200 to a range request, an oversize
/// body), taking its bytes off the overall progress.
async fn restart(
    file: &mut tokio::fs::File,
    partial: &std::path::Path,
    overall: &mut Overall,
    len: &mut u64,
    verifier: &mut Verifier,
) -> Result<(), HubError> {
    file.set_len(0)
        .await
        .map_err(|e| HubError::io("truncate", partial, e))?;
    file.seek(std::io::SeekFrom::Start(0))
        .await
        .map_err(|e| HubError::io("seek", partial, e))?;
    overall.done = overall.done.saturating_sub(*len);
    *len = 0;
    verifier.reset();
    Ok(())
}

async fn cancelled(file: &mut tokio::fs::File, len: u64) -> HubError {
    let _ = file.flush().await;
    let _ = file.sync_data().await;
    HubError::Cancelled { kept_bytes: len }
}

/// Appends a response body to the partial file. Disk errors are fatal (`Err`); network
/// trouble is reported as a [`BodyEnd`] for the retry loop.
#[allow(clippy::too_many_arguments)]
async fn stream_body(
    cx: &FetchContext<'_>,
    task: &FileTask,
    response: reqwest::Response,
    file: &mut tokio::fs::File,
    partial: &std::path::Path,
    len: &mut u64,
    verifier: &mut Verifier,
    overall: &mut Overall,
) -> Result<BodyEnd, HubError> {
    let mut stream = response.bytes_stream();
    loop {
        let next = tokio::select! {
            _ = cx.cancel.cancelled() => return Ok(BodyEnd::Cancelled),
            next = stream.next() => next,
        };
        let chunk = match next {
            None => return Ok(BodyEnd::Ended),
            Some(Err(e)) => return Ok(BodyEnd::Broken(describe(&e.without_url()))),
            Some(Ok(chunk)) => chunk,
        };
        if len
            .checked_add(chunk.len() as u64)
            .is_none_or(|end| end > task.size)
        {
            return Ok(BodyEnd::Oversize);
        }
        // Disk errors are not retried: reported (ENOSPC → disk_full), the partial file is kept.
        file.write_all(&chunk)
            .await
            .map_err(|e| HubError::io("write", partial, e))?;
        verifier.update(&chunk);
        *len += chunk.len() as u64;
        let now = Instant::now();
        overall.done = overall.done.saturating_add(chunk.len() as u64);
        overall.downloaded = overall.downloaded.saturating_add(chunk.len() as u64);
        overall.meter.add(now, chunk.len() as u64);
        if cx.sink.progress_due(now) {
            cx.sink.emit(DownloadEvent::Progressed {
                file: task.name.clone(),
                file_done: *len,
                file_total: task.size,
                done: overall.done,
                total: overall.total,
                bytes_per_sec: overall.meter.bytes_per_sec(),
                eta_secs: overall
                    .meter
                    .eta_secs(overall.total.saturating_sub(overall.done)),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_range_parsing() {
        assert_eq!(
            parse_content_range("bytes 100-199/200"),
            Some((100, 199, Some(200)))
        );
        assert_eq!(parse_content_range("bytes 0-0/*"), Some((0, 0, None)));
        assert_eq!(parse_content_range("bytes 5-1/10"), None);
        assert_eq!(parse_content_range("items 1-2/3"), None);
        assert_eq!(parse_content_range("bytes */200"), None);
    }

    #[test]
    fn range_answer_table() {
        use Decision::*;
        let ok = StatusCode::OK;
        let partial = StatusCode::PARTIAL_CONTENT;
        let r416 = StatusCode::RANGE_NOT_SATISFIABLE;
        let restart = |d: &Decision| matches!(d, Restart { .. });
        let retry = |d: &Decision| matches!(d, Retry { .. });
        type Check = Box<dyn Fn(&Decision) -> bool>;
        // (start, status, content-range, size, check); Content-Length as the status implies.
        let table: Vec<(u64, StatusCode, Option<&str>, u64, Check)> = vec![
            (0, ok, None, 10, Box::new(|d| *d == Append)),
            (
                4,
                partial,
                Some("bytes 4-9/10"),
                10,
                Box::new(|d| *d == Append),
            ),
            (
                4,
                partial,
                Some("bytes 4-9/*"),
                10,
                Box::new(|d| *d == Append),
            ),
            // 200 to a range request: restart, body is the whole file.
            (4, ok, None, 10, Box::new(restart)),
            // 206 at the wrong offset, for another size, or without Content-Range: the bytes
            // on disk stay, the request is retried.
            (4, partial, Some("bytes 0-9/10"), 10, Box::new(retry)),
            (4, partial, Some("bytes 4-9/12"), 10, Box::new(retry)),
            (4, partial, Some("bytes 4-12/10"), 10, Box::new(retry)),
            (4, partial, None, 10, Box::new(retry)),
            (10, r416, None, 10, Box::new(|d| *d == Complete)),
            // 416 before the end: keep the partial, retry.
            (4, r416, None, 10, Box::new(retry)),
            (0, StatusCode::NO_CONTENT, None, 10, Box::new(retry)),
        ];
        for (start, status, cr, size, check) in table {
            let d = decide(start, status, cr, None, None, size);
            assert!(check(&d), "start {start} status {status} cr {cr:?}: {d:?}");
            let binary = Some("application/octet-stream");
            assert_eq!(decide(start, status, cr, None, binary, size), d);
            if status == ok {
                assert_eq!(decide(start, status, cr, Some(size), binary, size), d);
            }
        }
        // A web page, or more bytes than the file has, is not the file: nothing is written,
        // and a partial file is not emptied for it.
        for start in [0, 4] {
            assert!(retry(&decide(start, ok, None, Some(11), None, 10)));
            let text = Some("text/plain; charset=utf-8");
            assert_eq!(
                decide(0, ok, None, Some(10), text, 10),
                Append,
                "config.json"
            );
            let html = Some("text/html; charset=utf-8");
            assert!(retry(&decide(start, ok, None, Some(7), html, 10)));
            assert!(retry(&decide(
                start,
                partial,
                Some("bytes 4-9/10"),
                Some(6),
                html,
                10
            )));
        }
    }
}
