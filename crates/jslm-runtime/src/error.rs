//! `RuntimeError`: everything that can stop the road from a model reference to a running
//! engine. Engine and hub errors pass through with their own codes; the runtime adds the
//! refusals that belong to planning (`will_not_fit`, a refused precision) and to finding a
//! model (`unknown_model`, `not_downloaded`).

use jslm_core::ErrorCode;
use jslm_engine::EngineError;
use jslm_hardware::HardwareError;
use jslm_hub::HubError;

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error(transparent)]
    Engine(#[from] EngineError),

    #[error(transparent)]
    Hub(#[from] HubError),

    /// The plan estimates that the model needs more memory than there is; loading it anyway
    /// takes `force`.
    #[error("the model will not fit in memory: {message}")]
    WillNotFit {
        message: String,
        needed_bytes: u64,
        available_bytes: u64,
    },

    /// An explicit choice the plan cannot follow (a precision no file of the model gives, bf16
    /// on a GPU without it): refused instead of silently running something else.
    #[error(transparent)]
    Refused(#[from] HardwareError),

    /// Neither a catalog id nor a repo id of the catalog (where only catalog models are
    /// allowed).
    #[error("{0} is not a model of the catalog")]
    UnknownModel(String),

    /// The model's files are not (all) in the cache, and this front end does not download on
    /// demand.
    #[error("{0} is not downloaded yet")]
    NotDownloaded(String),
}

impl RuntimeError {
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Engine(e) => e.code(),
            Self::Hub(e) => e.code(),
            Self::WillNotFit { .. } => ErrorCode::WillNotFit,
            Self::Refused(e) => e.code(),
            Self::UnknownModel(_) => ErrorCode::UnknownModel,
            Self::NotDownloaded(_) => ErrorCode::NotDownloaded,
        }
    }
}

pub type Result<T, E = RuntimeError> = std::result::Result<T, E>;
