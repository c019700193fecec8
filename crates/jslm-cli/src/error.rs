//! The CLI's own errors: what only the command line meets (Ctrl-C, its flags' files), each
//! with its code from `jslm_core::ErrorCode` like the libraries' errors, so that
//! `exit_code.rs` stays the one table from codes to exit codes.

use jslm_core::ErrorCode;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Ctrl-C stopped the command after it printed what it had. Not an error class of its own
    /// (no `ErrorCode`): it exits 130, as a shell reports a program it interrupted.
    #[error("interrupted (Ctrl-C)")]
    Interrupted,

    /// Stdout's reader went away (`jslm models | head -1`): the command stops and exits 0
    /// without a word, as `cat` would in a pipeline. Not an error for the user.
    #[error("stdout was closed")]
    StdoutClosed,

    /// A child `jslm` (bench's one process per model) failed: it printed its own hint and
    /// error; this process ends with its exit code and adds nothing.
    #[error("a benchmark process failed with exit code {code}")]
    ChildFailed { code: i32 },

    /// `--tokenizer` names no file: said before a download or load, naming the flag, instead
    /// of the engine's "tokenizer.json not found beside the weights".
    #[error("the --tokenizer file {} {}", path.display(), if path.exists() { "is not a file" } else { "does not exist" })]
    TokenizerNotFound { path: std::path::PathBuf },

    /// `--instruction-file` / `--input-file` could not be read (missing, unreadable, not
    /// UTF-8).
    #[error("cannot read the {what} file {}: {error}", path.display())]
    ReadFile {
        what: &'static str,
        path: std::path::PathBuf,
        error: std::io::Error,
    },
}

impl CliError {
    /// The error code; `None` for an interruption (exit 130, see `exit_code::exit_status`), a
    /// closed stdout (exit 0, see `main`) and a failed child (its exit code).
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Self::Interrupted | Self::StdoutClosed | Self::ChildFailed { .. } => None,
            Self::ReadFile { .. } => Some(ErrorCode::Io),
            Self::TokenizerNotFound { .. } => Some(ErrorCode::MissingFile),
        }
    }
}
