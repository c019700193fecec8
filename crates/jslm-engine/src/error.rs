//! The engine's one error type. Every variant has a stable `code()` that front ends translate;
//! the `Display` text is a complete English sentence naming the field or file at fault.

use jslm_core::ErrorCode;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A generation setting or the instruction is out of range.
    #[error("`{field}` {message}")]
    InvalidSetting {
        field: &'static str,
        message: String,
    },

    /// Prompt plus `max_new_tokens` does not fit in the context the engine computes exactly.
    #[error(
        "the prompt is {prompt_tokens} tokens and max_new_tokens is {max_new_tokens}: \
         together {total} tokens, more than the model's context of {context} tokens; \
         shorten the instruction/input or lower max_new_tokens"
    )]
    ContextOverflow {
        prompt_tokens: usize,
        max_new_tokens: usize,
        total: usize,
        context: usize,
    },

    /// A file the model needs is not there.
    #[error("missing model file {path}: {reason}")]
    MissingFile { path: PathBuf, reason: String },

    /// A weight, config or tokenizer file is truncated, corrupt or of the wrong shape.
    #[error("invalid model file {path}: {reason}")]
    InvalidFile { path: PathBuf, reason: String },

    /// The config or GGUF describes a model this engine does not run.
    #[error("unsupported model in {path}: {reason}")]
    UnsupportedModel { path: PathBuf, reason: String },

    /// Tokenizer and model disagree (vocabulary size or special token ids).
    #[error("tokenizer {path} does not match the model: {reason}")]
    TokenizerMismatch { path: PathBuf, reason: String },

    /// A GGUF's own vocabulary (its tokenizer metadata) is not this model's: another tokenizer
    /// type, size, special ids, pieces or scores.
    #[error("the vocabulary in {path} is not this model's: {reason}")]
    ForeignVocabulary { path: PathBuf, reason: String },

    /// A second generation was requested while one runs on the same engine.
    #[error("a generation is already running; stop it or wait for it to finish")]
    Busy,

    /// Reading or writing a file failed (disk full, permissions, ...).
    #[error("I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// Not enough free space for a quantized copy, found before it is written.
    #[error(
        "not enough disk space for the quantized model: it needs {}, {} free in {}. Free some \
         space or set JSLM_CACHE_DIR to a folder on a larger disk",
        jslm_hardware::units::format_gb(*needed_bytes), jslm_hardware::units::format_gb(*available_bytes), dir.display()
    )]
    DiskFull {
        dir: PathBuf,
        needed_bytes: u64,
        available_bytes: u64,
    },

    /// The device the plan chose could not be opened (a GPU without a working driver, a
    /// build without that backend, out of memory).
    #[error("the device {device} is not available: {message}")]
    DeviceUnavailable { device: String, message: String },

    /// The GPU's memory ran out (at load or mid-generation).
    #[error("the GPU ran out of memory: {0}")]
    DeviceOutOfMemory(String),

    /// An error inside the tensor library while running the model.
    #[error("model computation failed: {0}")]
    Compute(String),

    /// The tokenizer library failed on text or ids.
    #[error("tokenizer failed: {0}")]
    Tokenizer(String),
}

impl EngineError {
    /// A stable, machine-readable code for front ends (translation keys, exit codes).
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::InvalidSetting { .. } => ErrorCode::InvalidSetting,
            Self::ContextOverflow { .. } => ErrorCode::ContextOverflow,
            Self::MissingFile { .. } => ErrorCode::MissingFile,
            Self::InvalidFile { .. } => ErrorCode::InvalidFile,
            Self::UnsupportedModel { .. } => ErrorCode::UnsupportedModel,
            Self::TokenizerMismatch { .. } => ErrorCode::TokenizerMismatch,
            Self::ForeignVocabulary { .. } => ErrorCode::ForeignVocabulary,
            Self::Busy => ErrorCode::Busy,
            Self::Io { .. } => ErrorCode::Io,
            Self::DiskFull { .. } => ErrorCode::DiskFull,
            Self::DeviceUnavailable { .. } => ErrorCode::DeviceUnavailable,
            Self::DeviceOutOfMemory(_) => ErrorCode::DeviceOutOfMemory,
            Self::Compute(_) => ErrorCode::Compute,
            Self::Tokenizer(_) => ErrorCode::Tokenizer,
        }
    }

    pub(crate) fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::InvalidSetting {
            field,
            message: message.into(),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn invalid_file(path: impl Into<PathBuf>, reason: impl ToString) -> Self {
        Self::InvalidFile {
            path: path.into(),
            reason: reason.to_string(),
        }
    }
}

impl From<candle_core::Error> for EngineError {
    fn from(err: candle_core::Error) -> Self {
        let message = candle_message(&err);
        if is_out_of_memory(&message) {
            Self::DeviceOutOfMemory(message)
        } else {
            Self::Compute(message)
        }
    }
}

/// A candle error while reading weights onto the device: the file's fault (`invalid_file`),
/// unless the device ran out of memory.
pub(crate) fn load_failed(
    path: &std::path::Path,
    err: &candle_core::Error,
    what: &str,
) -> EngineError {
    let message = candle_message(err);
    if is_out_of_memory(&message) {
        EngineError::DeviceOutOfMemory(message)
    } else if what.is_empty() {
        EngineError::invalid_file(path, message)
    } else {
        EngineError::invalid_file(path, format!("{what}: {message}"))
    }
}

/// How CUDA (driver and cuBLAS) and Metal say that device memory ran out.
fn is_out_of_memory(message: &str) -> bool {
    [
        "OUT_OF_MEMORY",
        "out of memory",
        "ALLOC_FAILED",
        "failed to allocate",
    ]
    .iter()
    .any(|m| message.contains(m))
}

/// A candle error's message without the stack trace candle attaches when RUST_BACKTRACE is
/// set (dozens of lines that would otherwise reach the window and the CLI's last line).
pub(crate) fn candle_message(err: &candle_core::Error) -> String {
    match err {
        candle_core::Error::WithBacktrace { inner, .. } => candle_message(inner),
        other => other.to_string(),
    }
}

pub type Result<T, E = EngineError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candle_errors_lose_their_stack_trace() {
        let err = candle_core::Error::WithBacktrace {
            inner: Box::new(candle_core::Error::Msg("CUDA_ERROR_NO_DEVICE".to_owned())),
            backtrace: Box::new(std::backtrace::Backtrace::force_capture()),
        };
        assert!(
            err.to_string().lines().count() > 1,
            "candle shows the trace"
        );
        assert_eq!(candle_message(&err), "CUDA_ERROR_NO_DEVICE");
        let EngineError::Compute(message) = EngineError::from(err) else {
            panic!("not a compute error");
        };
        assert_eq!(message, "CUDA_ERROR_NO_DEVICE");
    }

    #[test]
    fn out_of_device_memory_is_its_own_error() {
        let cases = [
            "DriverError(CUDA_ERROR_OUT_OF_MEMORY, \"out of memory\")",
            "CublasError(CUBLAS_STATUS_ALLOC_FAILED)",
        ];
        for message in cases {
            let err = EngineError::from(candle_core::Error::Msg(message.to_owned()));
            assert_eq!(err.code(), ErrorCode::DeviceOutOfMemory, "{message}");
            let at_load = load_failed(
                std::path::Path::new("m.gguf"),
                &candle_core::Error::Msg(message.to_owned()),
                "",
            );
            assert_eq!(at_load.code(), ErrorCode::DeviceOutOfMemory, "{message}");
        }
        let bad_file = load_failed(
            std::path::Path::new("m.gguf"),
            &candle_core::Error::Msg("shape mismatch for blk.0".to_owned()),
            "weights do not match config.json",
        );
        assert_eq!(bad_file.code(), ErrorCode::InvalidFile);
        assert!(bad_file
            .to_string()
            .contains("weights do not match config.json: shape mismatch"));
    }
}
