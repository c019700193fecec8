//! The one error type of the desktop shell. Every command returns it; it reaches the webview as
//! `{ code, message, field?, numbers? }`. `code` is stable and is what the UI translates into
//! Japanese or English (`ui/js/errors.js`); `message` is a complete English sentence for logs
//! and for details the UI shows under the translated text.

use jslm_engine::EngineError;
use jslm_hub::HubError;
use serde::ser::SerializeMap;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Anything the engine reports: invalid settings, context overflow, bad model files, ...
    #[error(transparent)]
    Engine(#[from] EngineError),

    /// The hub, the download manager or the token store: gated repos, bad tokens, network,
    /// disk full, checksum mismatches, ...
    #[error(transparent)]
    Hub(#[from] HubError),

    /// A model id that is not in the catalog.
    #[error("{0} is not a model of the catalog")]
    UnknownModel(String),

    /// The model is downloading: it cannot be downloaded twice, deleted or used meanwhile.
    #[error("{0} is being downloaded; pause or cancel that first")]
    Downloading(String),

    /// The model's files are not (all) in the cache yet.
    #[error("{0} is not downloaded yet")]
    NotDownloaded(String),

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

    /// The device plan estimates that the model needs more memory than there is; the user
    /// can load it anyway (`force`).
    #[error("the model will not fit in memory: {message}")]
    WillNotFit {
        message: String,
        needed_bytes: u64,
        available_bytes: u64,
    },

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
    /// The stable code the UI translates. Engine errors keep the engine's own codes.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Engine(e) => e.code(),
            // Two hub codes would read like the engine's: keep them apart.
            Self::Hub(HubError::Busy { .. }) => "download_busy",
            Self::Hub(HubError::Cancelled { .. }) => "download_cancelled",
            Self::Hub(e) => e.code(),
            Self::UnknownModel(_) => "unknown_model",
            Self::Downloading(_) => "downloading",
            Self::NotDownloaded(_) => "not_downloaded",
            Self::NoModel => "no_model",
            Self::ModelLoading => "model_loading",
            Self::Busy => "busy",
            Self::NoModelPath => "no_model_path",
            Self::WillNotFit { .. } => "will_not_fit",
            Self::HistoryNotFound(_) => "history_not_found",
            Self::Storage { .. } => "storage",
            Self::Internal(_) => "internal",
        }
    }

    pub fn storage(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Storage {
            path: path.into(),
            source,
        }
    }
}

impl serde::Serialize for AppError {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("code", self.code())?;
        map.serialize_entry("message", &self.to_string())?;
        match self {
            // The UI highlights the field and names it in the user's language.
            Self::Engine(EngineError::InvalidSetting { field, .. }) => {
                map.serialize_entry("field", field)?;
            }
            // The numbers let the UI say how much to shorten, in Japanese too.
            Self::Engine(EngineError::ContextOverflow {
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
            // Gated repos: the UI offers to open the model page (through the backend).
            Self::Hub(HubError::GatedNoToken { repo, .. })
            | Self::Hub(HubError::GatedNotAccepted { repo, .. })
            | Self::Hub(HubError::TokenInvalid { repo, .. })
            | Self::Hub(HubError::Forbidden { repo, .. }) => {
                map.serialize_entry("repo", repo)?;
            }
            Self::Hub(HubError::DiskFull { needed, free, .. }) => {
                map.serialize_entry(
                    "numbers",
                    &serde_json::json!({ "needed_bytes": needed, "available_bytes": free }),
                )?;
            }
            // The UI shows both numbers in its own words and a "load anyway" button.
            Self::WillNotFit {
                needed_bytes,
                available_bytes,
                ..
            } => {
                map.serialize_entry(
                    "numbers",
                    &serde_json::json!({
                        "needed_bytes": needed_bytes,
                        "available_bytes": available_bytes,
                    }),
                )?;
            }
            _ => {}
        }
        map.end()
    }
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
            "download_cancelled"
        );
        assert_eq!(
            AppError::from(HubError::Busy { what: "x".into() }).code(),
            "download_busy"
        );
    }

    #[test]
    fn engine_codes_pass_through() {
        assert_eq!(AppError::from(EngineError::Busy).code(), "busy");
        let io = AppError::storage("/x", std::io::Error::other("disk full"));
        assert_eq!(io.code(), "storage");
        assert!(io.to_string().contains("disk full"));
    }
}
