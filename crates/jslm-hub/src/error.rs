//! The one error type of the hub crate. Every variant has a stable [`ErrorCode`] for UIs and
//! scripts, and a message that says what happened; advice that depends on the front end ("run
//! `jslm login`", "paste a token in the window") is added by that front end. No variant carries
//! the Hugging Face token (the request headers are never copied into an error).

use std::path::PathBuf;

use jslm_core::ErrorCode;
use serde::ser::SerializeStruct;

use crate::units::human_bytes;

/// What a "not found" refers to (from the hub's `X-Error-Code`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Missing {
    /// `RepoNotFound`: no such repository, or a private one this token cannot see.
    Repo,
    /// `RevisionNotFound`: no such branch, tag or commit.
    Revision,
    /// `EntryNotFound`: no such file at that revision.
    File,
}

/// Everything that can go wrong while resolving, downloading, verifying or managing models.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// 401 `GatedRepo` and no token was sent.
    #[error(
        "{repo} is a gated model and no Hugging Face token is set; its terms are accepted at \
         {model_url}"
    )]
    GatedNoToken { repo: String, model_url: String },

    /// 401 with a token: the hub rejected the token itself.
    #[error(
        "the Hugging Face token was rejected (401 Unauthorized) while accessing {repo}: it is \
         invalid, expired or revoked{source_hint}"
    )]
    TokenInvalid { repo: String, source_hint: String },

    /// 403 `GatedRepo`: the token is valid but its account has not accepted the model's terms.
    #[error(
        "access to {repo} is restricted (403): your Hugging Face account has not accepted its \
         terms yet. Open {model_url} while logged in, accept the conditions, then retry"
    )]
    GatedNotAccepted { repo: String, model_url: String },

    /// Any other 403 (e.g. a fine-grained token without access to gated repos).
    #[error("access to {repo} was refused (403): {message}")]
    Forbidden { repo: String, message: String },

    /// 404 / `RepoNotFound` / `RevisionNotFound` / `EntryNotFound`.
    #[error("{}", not_found_message(*what, repo, revision, file.as_deref()))]
    NotFound {
        what: Missing,
        repo: String,
        revision: String,
        file: Option<String>,
    },

    /// A model asked to be deleted has nothing in the local cache (no request was made: not
    /// the hub's `not_found`).
    #[error("{repo} is not downloaded: the cache {} has nothing of it to delete", cache.display())]
    NotInCache { repo: String, cache: PathBuf },

    /// Not enough free space on the cache's disk, found before the first byte or while writing.
    #[error(
        "not enough disk space: the download needs {} more, {} free on {} (cache: {}). Free some \
         space or set HF_HUB_CACHE to a larger disk",
        human_bytes(*needed), human_bytes(*free), mount.display(), cache.display()
    )]
    DiskFull {
        needed: u64,
        free: u64,
        mount: PathBuf,
        cache: PathBuf,
    },

    /// The disk filled up while writing (another program used the space after the check).
    #[error(
        "the disk holding {} filled up while downloading ({} free); the partial download is kept: \
         free some space and run the download again to resume it",
        path.display(), human_bytes(*free)
    )]
    DiskFilled { path: PathBuf, free: u64 },

    /// A file did not match its sha256 (or git oid) twice in a row.
    #[error(
        "{file} failed verification twice: expected {expected}, got {actual}. The file was \
         deleted; the server or a proxy is corrupting data. Retry later or from another network"
    )]
    Checksum {
        file: String,
        expected: String,
        actual: String,
    },

    /// `HF_HUB_OFFLINE` is set, or the hub cannot be reached, and the cache does not hold the files.
    #[error("{message}")]
    Offline { message: String },

    /// The connection failed or stalled and retries were exhausted.
    #[error("network error while downloading {what} after {attempts} attempts: {message}")]
    Network {
        what: String,
        attempts: u32,
        message: String,
    },

    /// The hub answered 5xx/429 and retries were exhausted.
    #[error("the hub answered {status} for {what} after {attempts} attempts")]
    Server {
        what: String,
        status: u16,
        attempts: u32,
    },

    /// The TLS handshake failed: most often a company proxy that inspects TLS with its own
    /// root certificate, which this computer's trust store does not hold. Not retried.
    #[error(
        "the TLS connection to {host} failed ({message}). A company proxy that inspects TLS needs \
         its root certificate in the system's trust store, or in a PEM file named by \
         JSLM_CA_BUNDLE"
    )]
    Tls { host: String, message: String },

    /// The download server the hub redirected to (its CDN) refused the file with a 4xx. The
    /// token is never sent there, so this is not the token's or the licence's fault: most
    /// often a proxy or firewall that lets the hub through but not its download host.
    #[error(
        "the download server {host} refused {what} ({status}). A proxy or firewall may block \
         {host}; allow it, or retry from another network"
    )]
    CdnRefused {
        what: String,
        host: String,
        status: u16,
    },

    /// The server broke the protocol (missing headers, bad `Content-Range`, wrong size, ...).
    #[error("unexpected answer from the hub for {what}: {message}")]
    Protocol { what: String, message: String },

    /// The caller cancelled; partial files are kept and the next run resumes them.
    #[error("download cancelled; {kept} downloaded so far is kept and will be resumed", kept = human_bytes(*kept_bytes))]
    Cancelled { kept_bytes: u64 },

    /// Another process holds a download lock on the model (e.g. `rm` during a download).
    #[error("{what} is in use by another download; retry when it has finished")]
    Busy { what: String },

    /// The request itself is malformed (bad repo id, unknown catalog file, ...).
    #[error("{message}")]
    InvalidRequest { message: String },

    /// Reading or writing the token store failed.
    #[error("token store: {message}")]
    TokenStore { message: String },

    /// A local file operation failed.
    #[error("{action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The HTTP client could not be built (bad CA bundle, bad proxy URL, ...).
    #[error("HTTP client setup: {message}")]
    Setup { message: String },
}

fn not_found_message(what: Missing, repo: &str, revision: &str, file: Option<&str>) -> String {
    match what {
        Missing::Repo => format!(
            "repository {repo} was not found on the hub (or it is private and the token cannot \
             read it)"
        ),
        Missing::Revision => format!("revision {revision} does not exist in {repo}"),
        Missing::File => format!(
            "file {} does not exist in {repo} at revision {revision}",
            file.unwrap_or("?")
        ),
    }
}

impl HubError {
    /// Stable machine-readable code; UIs map it to localized messages, the CLI to exit codes.
    pub fn code(&self) -> ErrorCode {
        match self {
            HubError::GatedNoToken { .. } => ErrorCode::GatedNoToken,
            HubError::TokenInvalid { .. } => ErrorCode::TokenInvalid,
            HubError::GatedNotAccepted { .. } => ErrorCode::GatedNotAccepted,
            HubError::Forbidden { .. } => ErrorCode::Forbidden,
            HubError::NotFound { .. } => ErrorCode::NotFound,
            HubError::NotInCache { .. } => ErrorCode::NotDownloaded,
            HubError::DiskFull { .. } | HubError::DiskFilled { .. } => ErrorCode::DiskFull,
            HubError::Checksum { .. } => ErrorCode::Checksum,
            HubError::Offline { .. } => ErrorCode::Offline,
            HubError::Network { .. } | HubError::CdnRefused { .. } => ErrorCode::Network,
            HubError::Tls { .. } => ErrorCode::Tls,
            HubError::Server { .. } => ErrorCode::Server,
            HubError::Protocol { .. } => ErrorCode::Protocol,
            HubError::Cancelled { .. } => ErrorCode::DownloadCancelled,
            HubError::Busy { .. } => ErrorCode::DownloadBusy,
            HubError::InvalidRequest { .. } => ErrorCode::InvalidRequest,
            HubError::TokenStore { .. } => ErrorCode::TokenStore,
            HubError::Io { .. } => ErrorCode::Io,
            HubError::Setup { .. } => ErrorCode::Setup,
        }
    }

    /// Wraps an I/O error, turning "no space left" into [`HubError::DiskFull`].
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        let path = path.into();
        if is_storage_full(&source) {
            let free = fs4::available_space(path.parent().unwrap_or(&path)).unwrap_or(0);
            return HubError::DiskFilled { path, free };
        }
        HubError::Io {
            action,
            path,
            source,
        }
    }
}

/// True for ENOSPC / EDQUOT style errors.
pub(crate) fn is_storage_full(err: &std::io::Error) -> bool {
    matches!(
        err.kind(),
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
    )
}

/// Serialises as `{ "code": "...", "message": "..." }` for a UI.
impl serde::Serialize for HubError {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("HubError", 2)?;
        s.serialize_field("code", &self.code())?;
        s.serialize_field("message", &self.to_string())?;
        s.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable_and_serialised() {
        let cases: Vec<(HubError, &str)> = vec![
            (
                HubError::GatedNoToken {
                    repo: "a/b".into(),
                    model_url: "u".into(),
                },
                "gated_no_token",
            ),
            (
                HubError::TokenInvalid {
                    repo: "a/b".into(),
                    source_hint: String::new(),
                },
                "token_invalid",
            ),
            (
                HubError::GatedNotAccepted {
                    repo: "a/b".into(),
                    model_url: "u".into(),
                },
                "gated_not_accepted",
            ),
            (
                HubError::NotFound {
                    what: Missing::File,
                    repo: "a/b".into(),
                    revision: "main".into(),
                    file: Some("x".into()),
                },
                "not_found",
            ),
            (
                HubError::DiskFull {
                    needed: 1,
                    free: 0,
                    mount: "/".into(),
                    cache: "/c".into(),
                },
                "disk_full",
            ),
            (
                HubError::Checksum {
                    file: "f".into(),
                    expected: "e".into(),
                    actual: "a".into(),
                },
                "checksum",
            ),
            (
                HubError::Offline {
                    message: "m".into(),
                },
                "offline",
            ),
            (HubError::Cancelled { kept_bytes: 3 }, "download_cancelled"),
            (
                HubError::NotInCache {
                    repo: "a/b".into(),
                    cache: "/c".into(),
                },
                "not_downloaded",
            ),
        ];
        for (err, code) in cases {
            assert_eq!(err.code().as_str(), code);
            let json = serde_json::to_value(&err).expect("serialise");
            assert_eq!(json["code"], code);
            assert_eq!(json["message"], err.to_string());
        }
    }

    #[test]
    fn messages_are_actionable() {
        let e = HubError::GatedNotAccepted {
            repo: "stabilityai/x".into(),
            model_url: "https://huggingface.co/stabilityai/x".into(),
        };
        assert!(e
            .to_string()
            .contains("https://huggingface.co/stabilityai/x"));
        let e = HubError::GatedNoToken {
            repo: "a/b".into(),
            model_url: "https://huggingface.co/a/b".into(),
        };
        assert!(e.to_string().contains("https://huggingface.co/a/b"));
        assert!(
            !e.to_string().contains("jslm"),
            "advice for one front end is added by that front end: {e}"
        );
        let e = HubError::DiskFull {
            needed: 14_500_000_000,
            free: 9_200_000_000,
            mount: "/home".into(),
            cache: "/home/u/.cache".into(),
        };
        assert!(e.to_string().contains("14.5 GB"), "{e}");
        assert!(e.to_string().contains("9.2 GB free on /home"), "{e}");
    }

    #[test]
    fn enospc_becomes_disk_full() {
        let err = std::io::Error::from_raw_os_error(28); // ENOSPC on Linux and macOS
        if is_storage_full(&err) {
            assert_eq!(
                HubError::io("write", "/tmp/x", err).code(),
                ErrorCode::DiskFull
            );
        }
    }
}
