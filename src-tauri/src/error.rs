//! The one error type of the desktop shell. Every command returns it; it reaches the webview as
//! `{ code, message, field?, numbers?, repo? }`. `code` is one of `jslm_core::ErrorCode`,
//! which the UI translates into Japanese or English (`ui/js/i18n.js`, `error.<code>`; a test
//! below fails when a code has no message there); `message` is the libraries' English
//! sentence, shown as a detail under the translated text.

use jslm_core::ErrorCode;
use jslm_engine::EngineError;
use jslm_hub::HubError;
use jslm_remote::RemoteError;
use jslm_runtime::RuntimeError;
use jslm_server::ServerError;
use serde::ser::SerializeMap;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Anything the engine reports while generating: invalid settings, context overflow, ...
    #[error(transparent)]
    Engine(#[from] EngineError),

    /// The hub, the download manager or the token store: gated repos, bad tokens, network,
    /// disk full, checksum mismatches, ...
    #[error(transparent)]
    Hub(#[from] HubError),

    /// Finding, planning and loading a model: bad files, will not fit, unknown or not yet
    /// downloaded catalog models, refused precisions.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),

    /// The local server could not start: a non-loopback address without a key, a bad key,
    /// the port taken.
    #[error(transparent)]
    Serve(#[from] ServerError),

    /// A run on a remote server: unreachable, TLS, 401, unknown model, context too long,
    /// busy, or a failure (mid-stream: the answer so far is kept on screen).
    #[error(transparent)]
    Remote(#[from] RemoteError),

    /// The local server needs a loaded model to serve.
    #[error("load a model before serving it")]
    NothingToServe,

    /// The model is downloading: it cannot be downloaded twice, deleted or used meanwhile.
    #[error("{0} is being downloaded; pause or cancel that first")]
    Downloading(String),

    /// The model to delete is the one loaded (or loading): its files stay.
    #[error("{0} is the loaded model; load another model before deleting it")]
    ModelInUse(String),

    /// Generate was asked for before a model was loaded.
    #[error("no model is loaded: choose a model folder or GGUF file first")]
    NoModel,

    /// A model is being loaded; generation and a second load wait for it.
    #[error("a model is being loaded; wait until it is ready")]
    ModelLoading,

    /// A generation is running: a second one, or loading a model, is refused (not queued).
    #[error("a generation is already running; stop it or wait for it to finish")]
    Busy,

    /// No model path was given and none is configured (setting, `--model`, `JSLM_MODEL`).
    #[error("no model path is configured: enter the folder or GGUF file of the model")]
    NoModelPath,

    /// A history entry id that is not (or no longer) in the history.
    #[error("history entry {0} does not exist (it may have been deleted)")]
    HistoryNotFound(String),

    /// Reading or writing the app's own files (settings, history) failed.
    #[error("could not read or write {path}: {source}")]
    Storage {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A background task died (a panic in the engine or a runtime shutdown).
    #[error("internal error: {0}")]
    Internal(String),
}

impl AppError {
    /// The stable code the UI translates.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Engine(e) => e.code(),
            Self::Hub(e) => e.code(),
            Self::Runtime(e) => e.code(),
            Self::Serve(e) => e.code(),
            Self::Remote(e) => e.code(),
            Self::NothingToServe => ErrorCode::NoModel,
            Self::Downloading(_) => ErrorCode::Downloading,
            Self::ModelInUse(_) => ErrorCode::ModelInUse,
            Self::NoModel => ErrorCode::NoModel,
            Self::ModelLoading => ErrorCode::ModelLoading,
            Self::Busy => ErrorCode::Busy,
            Self::NoModelPath => ErrorCode::NoModelPath,
            Self::HistoryNotFound(_) => ErrorCode::HistoryNotFound,
            Self::Storage { .. } => ErrorCode::Storage,
            Self::Internal(_) => ErrorCode::Internal,
        }
    }

    pub fn storage(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Storage {
            path: path.into(),
            source,
        }
    }

    /// The engine's or hub's error inside, wherever it came from.
    fn engine(&self) -> Option<&EngineError> {
        match self {
            Self::Engine(e) | Self::Runtime(RuntimeError::Engine(e)) => Some(e),
            _ => None,
        }
    }

    fn hub(&self) -> Option<&HubError> {
        match self {
            Self::Hub(e) | Self::Runtime(RuntimeError::Hub(e)) => Some(e),
            _ => None,
        }
    }
}

impl serde::Serialize for AppError {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("code", &self.code())?;
        map.serialize_entry("message", &self.to_string())?;
        match self.engine() {
            // The UI highlights the field and names it in the user's language.
            Some(EngineError::InvalidSetting { field, .. }) => {
                map.serialize_entry("field", field)?;
            }
            // The numbers let the UI say how much to shorten, in Japanese too.
            Some(EngineError::ContextOverflow {
                prompt_tokens,
                max_new_tokens,
                total,
                context,
            }) => {
                map.serialize_entry(
                    "numbers",
                    &serde_json::json!({
                        "prompt_tokens": prompt_tokens,
                        "max_new_tokens": max_new_tokens,
                        "total": total,
                        "context": context,
                    }),
                )?;
            }
            // A quantized copy that will not fit on the cache's disk: as a download's.
            Some(EngineError::DiskFull {
                needed_bytes,
                available_bytes,
                ..
            }) => {
                map.serialize_entry("numbers", &bytes_numbers(*needed_bytes, *available_bytes))?;
            }
            _ => {}
        }
        match self.hub() {
            // Gated repos: the UI offers to open the model page (through the backend).
            Some(HubError::GatedNoToken { repo, .. })
            | Some(HubError::GatedNotAccepted { repo, .. })
            | Some(HubError::TokenInvalid { repo, .. })
            | Some(HubError::Forbidden { repo, .. }) => {
                map.serialize_entry("repo", repo)?;
            }
            Some(HubError::DiskFull { needed, free, .. }) => {
                map.serialize_entry("numbers", &bytes_numbers(*needed, *free))?;
            }
            // The disk filled up mid-download: no "needs N" to show; the partial file is kept.
            Some(HubError::DiskFilled { .. }) => {
                map.serialize_entry("reason", "during")?;
            }
            // `tls` is otherwise said of a remote server; here it is the hub's connection.
            Some(HubError::Tls { .. }) => {
                map.serialize_entry("reason", "hub")?;
            }
            _ => {}
        }
        match self {
            // "Port 8642 is taken" rather than a generic bind failure.
            Self::Serve(ServerError::Bind { addr, source }) => {
                map.serialize_entry("numbers", &serde_json::json!({ "port": addr.port() }))?;
                let reason = match source.kind() {
                    std::io::ErrorKind::AddrInUse => Some("in_use"),
                    std::io::ErrorKind::AddrNotAvailable => Some("not_available"),
                    std::io::ErrorKind::PermissionDenied => Some("permission"),
                    _ => None,
                };
                if let Some(reason) = reason {
                    map.serialize_entry("reason", reason)?;
                }
            }
            // The answer streamed so far stays on screen, marked as cut off.
            Self::Remote(e) if e.partial().is_some() => {
                map.serialize_entry("partial", &true)?;
            }
            // Said of the remote server, not of this app's model or server (nor, for
            // `forbidden`, of the Hugging Face hub: a jslm serve refused the host name).
            Self::Remote(
                RemoteError::Unauthorized { .. }
                | RemoteError::ContextTooLong { .. }
                | RemoteError::HostRefused { .. },
            ) => {
                map.serialize_entry("reason", "remote")?;
            }
            _ => {}
        }
        // The UI shows both numbers in its own words and a "load anyway" button.
        if let Self::Runtime(RuntimeError::WillNotFit {
            needed_bytes,
            available_bytes,
            ..
        }) = self
        {
            map.serialize_entry("numbers", &bytes_numbers(*needed_bytes, *available_bytes))?;
        }
        map.end()
    }
}

/// What the page words "needs X, Y free" with (memory or disk).
fn bytes_numbers(needed_bytes: u64, available_bytes: u64) -> serde_json::Value {
    serde_json::json!({ "needed_bytes": needed_bytes, "available_bytes": available_bytes })
}

pub type AppResult<T> = Result<T, AppError>;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    #[test]
    fn serialises_code_message_and_details() {
        let cases: Vec<(AppError, Value)> = vec![
            (
                AppError::Busy,
                json!({"code": "busy", "message": AppError::Busy.to_string()}),
            ),
            (
                AppError::NoModel,
                json!({"code": "no_model", "message": AppError::NoModel.to_string()}),
            ),
            (
                AppError::HistoryNotFound("x".into()),
                json!({"code": "history_not_found",
                       "message": "history entry x does not exist (it may have been deleted)"}),
            ),
        ];
        for (err, expected) in cases {
            assert_eq!(serde_json::to_value(&err).unwrap(), expected);
        }

        let invalid = AppError::from(EngineError::InvalidSetting {
            field: "top_p",
            message: "must be > 0.0 and <= 1.0. Given: 1.5".into(),
        });
        let v = serde_json::to_value(&invalid).unwrap();
        assert_eq!(v["code"], "invalid_setting");
        assert_eq!(v["field"], "top_p");
        assert!(v["message"].as_str().unwrap().contains("Given: 1.5"));

        let overflow = AppError::from(EngineError::ContextOverflow {
            prompt_tokens: 100,
            max_new_tokens: 4096,
            total: 4196,
            context: 4096,
        });
        let v = serde_json::to_value(&overflow).unwrap();
        assert_eq!(v["code"], "context_overflow");
        assert_eq!(v["numbers"]["total"], 4196);

        let fit = AppError::from(RuntimeError::WillNotFit {
            message: "m".into(),
            needed_bytes: 9,
            available_bytes: 3,
        });
        let v = serde_json::to_value(&fit).unwrap();
        assert_eq!(v["code"], "will_not_fit");
        assert_eq!(v["numbers"]["needed_bytes"], 9);
        // A quantized copy too large for the disk: the numbers the page shows.
        let disk = AppError::from(RuntimeError::Engine(EngineError::DiskFull {
            dir: "/c/quantized".into(),
            needed_bytes: 7,
            available_bytes: 2,
        }));
        let v = serde_json::to_value(&disk).unwrap();
        assert_eq!(v["code"], "disk_full");
        assert_eq!(v["numbers"]["available_bytes"], 2);
        // Engine errors keep their details when they come through the runtime.
        let through = AppError::from(RuntimeError::Engine(EngineError::InvalidSetting {
            field: "precision",
            message: "x".into(),
        }));
        assert_eq!(
            serde_json::to_value(&through).unwrap()["field"],
            "precision"
        );
    }

    #[test]
    fn hub_errors_keep_their_codes_and_name_the_repo() {
        let gated = AppError::from(HubError::GatedNotAccepted {
            repo: "org/m".into(),
            model_url: "https://huggingface.co/org/m".into(),
        });
        let v = serde_json::to_value(&gated).unwrap();
        assert_eq!(v["code"], "gated_not_accepted");
        assert_eq!(v["repo"], "org/m");
        assert_eq!(
            AppError::from(HubError::Cancelled { kept_bytes: 5 }).code(),
            ErrorCode::DownloadCancelled
        );
        assert_eq!(
            AppError::from(HubError::Busy { what: "x".into() }).code(),
            ErrorCode::DownloadBusy
        );
        // Full before the start: the numbers; full in the middle: the reason, no numbers.
        let before = serde_json::to_value(AppError::from(HubError::DiskFull {
            needed: 9,
            free: 1,
            mount: "/".into(),
            cache: "/c".into(),
        }))
        .unwrap();
        assert_eq!(before["numbers"]["needed_bytes"], 9);
        assert!(before.get("reason").is_none());
        let during = serde_json::to_value(AppError::from(HubError::DiskFilled {
            path: "/c/blobs/x.incomplete".into(),
            free: 0,
        }))
        .unwrap();
        let tls = serde_json::to_value(AppError::from(HubError::Tls {
            host: "huggingface.co".into(),
            message: "invalid peer certificate: UnknownIssuer".into(),
        }))
        .unwrap();
        assert_eq!(
            (&tls["code"], &tls["reason"]),
            (&"tls".into(), &"hub".into())
        );
        // Each reason has its sentence in both dictionaries.
        let i18n = include_str!("../../ui/js/i18n.js");
        for key in [
            "\"error.tls.hub\":",
            "\"error.disk_full.during\":",
            "\"error.forbidden.remote\":",
        ] {
            assert_eq!(i18n.matches(key).count(), 2, "{key} in ja and en");
        }
        assert_eq!(during["code"], "disk_full");
        assert_eq!(during["reason"], "during");
        assert!(during.get("numbers").is_none());
    }

    #[test]
    fn a_taken_port_and_a_cut_off_answer_are_told_apart() {
        let taken = AppError::from(ServerError::Bind {
            addr: "127.0.0.1:8642".parse().unwrap(),
            source: std::io::Error::from(std::io::ErrorKind::AddrInUse),
        });
        let v = serde_json::to_value(&taken).unwrap();
        assert_eq!(v["code"], "bind_failed");
        assert_eq!(v["reason"], "in_use");
        assert_eq!(v["numbers"]["port"], 8642);
        let cut = AppError::from(RemoteError::Failed {
            endpoint: "http://h/v1".into(),
            message: "connection reset".into(),
            partial: "途中".into(),
        });
        let v = serde_json::to_value(&cut).unwrap();
        assert_eq!(v["code"], "remote_failed");
        assert_eq!(v["partial"], true);
        let unauthorized = AppError::from(RemoteError::Unauthorized {
            endpoint: "http://h/v1".into(),
            status: 401,
            message: "wrong key".into(),
        });
        assert_eq!(
            serde_json::to_value(&unauthorized).unwrap()["code"],
            "unauthorized"
        );
        assert_eq!(
            AppError::from(ServerError::ApiKeyRequired {
                host: "0.0.0.0".parse().unwrap()
            })
            .code(),
            ErrorCode::ApiKeyRequired
        );
    }

    /// The window's one table over the codes: every code has a Japanese and an English
    /// message in `ui/js/i18n.js` (`"error.<code>"` in both dictionaries).
    #[test]
    fn every_error_code_has_a_message_in_both_languages() {
        let i18n = include_str!("../../ui/js/i18n.js");
        let en_start = i18n.find("\nconst en = {").expect("the English dictionary");
        let (ja, en) = i18n.split_at(en_start);
        let mut missing = Vec::new();
        for &code in ErrorCode::ALL {
            let key = format!("\"error.{code}\":");
            for (lang, text) in [("ja", ja), ("en", en)] {
                if !text.contains(&key) {
                    missing.push(format!("{lang} {code}"));
                }
            }
        }
        assert!(missing.is_empty(), "no message for: {missing:?}");
    }
}
