//! The Tauri commands: thin async functions over [`crate::state::AppState`]. Each returns
//! `Result<T, AppError>`, which reaches the webview as the value or as `{ code, message }`.
//! Work that takes time runs on a blocking thread, never on the UI or async threads.

pub mod about;
pub mod files;
pub mod generate;
pub mod history;
pub mod model;
pub mod models;
pub mod serve;
pub mod settings;

use crate::error::AppError;

/// Maps a failed blocking task (a panic inside the engine, or shutdown) to an error the UI can
/// show instead of a hung promise.
pub(crate) fn join_error(what: &str, e: impl std::fmt::Display) -> AppError {
    AppError::Internal(format!("{what} stopped unexpectedly: {e}"))
}
