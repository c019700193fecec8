//! `ErrorCode`: every stable error code of JSLM, in one enum. Each library error type
//! (engine, hub, hardware, runtime, the desktop shell) has a `code()` returning one of these;
//! front ends translate codes, never strings: the CLI's exit codes and the window's JA/EN
//! messages are each one table over [`ErrorCode::ALL`], and their tests fail when a code has
//! no entry.
//!
//! Codes are serialised as snake_case strings and never change once released.

/// Declares the enum, its string form and the list of all codes from one table, so the three
/// cannot disagree.
macro_rules! error_codes {
    ($($(#[doc = $doc:literal])* $variant:ident = $text:literal,)*) => {
        /// A stable, machine-readable error code.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum ErrorCode {
            $($(#[doc = $doc])* $variant,)*
        }

        impl ErrorCode {
            /// Every code, in declaration order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            /// The snake_case string the UI and scripts see.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $text,)*
                }
            }
        }
    };
}

error_codes! {
    // Generation requests and the engine.
    /// A generation setting or the instruction is out of range or empty.
    InvalidSetting = "invalid_setting",
    /// Prompt plus `max_new_tokens` exceeds the context the engine computes exactly.
    ContextOverflow = "context_overflow",
    /// A file the model needs is not there.
    MissingFile = "missing_file",
    /// A weight, config or tokenizer file is truncated, corrupt, crafted or of the wrong shape.
    InvalidFile = "invalid_file",
    /// The files describe a model this engine does not run.
    UnsupportedModel = "unsupported_model",
    /// Tokenizer and model disagree.
    TokenizerMismatch = "tokenizer_mismatch",
    /// A GGUF's own vocabulary is not this model's (tokenizer type, size, special ids, pieces).
    ForeignVocabulary = "foreign_vocabulary",
    /// A generation is already running on this model.
    Busy = "busy",
    /// Reading or writing a file failed.
    Io = "io",
    /// The tensor library failed while running the model.
    Compute = "compute",
    /// The tokenizer library failed.
    Tokenizer = "tokenizer",

    // Runtime: from a model reference to a loaded engine.
    /// The plan estimates that the model needs more memory than there is.
    WillNotFit = "will_not_fit",
    /// A model id that is neither a catalog id nor a repo id, or not in the catalog.
    UnknownModel = "unknown_model",
    /// The model's files are not (all) in the cache and downloading was not allowed.
    NotDownloaded = "not_downloaded",
    /// The planned device could not be opened (driver missing or too old, out of memory).
    DeviceUnavailable = "device_unavailable",
    /// The GPU ran out of memory while loading or generating (another program may have taken
    /// it); the model on the CPU, history and settings are unaffected.
    DeviceOutOfMemory = "device_out_of_memory",

    // Hub: downloads and the token.
    /// A gated repo and no token is set.
    GatedNoToken = "gated_no_token",
    /// The hub rejected the token.
    TokenInvalid = "token_invalid",
    /// The token's account has not accepted the gated model's terms.
    GatedNotAccepted = "gated_not_accepted",
    /// Any other refusal (403).
    Forbidden = "forbidden",
    /// No such repo, revision or file on the hub.
    NotFound = "not_found",
    /// Not enough disk space for the download.
    DiskFull = "disk_full",
    /// A downloaded file failed verification twice.
    Checksum = "checksum",
    /// Offline, and the cache does not hold the files.
    Offline = "offline",
    /// The connection failed and retries were exhausted.
    Network = "network",
    /// The hub answered 5xx/429 and retries were exhausted.
    Server = "server",
    /// The server broke the protocol.
    Protocol = "protocol",
    /// A download was cancelled or paused; partial files are kept.
    DownloadCancelled = "download_cancelled",
    /// Another download holds the model's lock.
    DownloadBusy = "download_busy",
    /// A malformed request (bad repo id, unknown file, empty token).
    InvalidRequest = "invalid_request",
    /// Reading or writing the token store failed.
    TokenStore = "token_store",
    /// The HTTP client could not be set up.
    Setup = "setup",

    // Hardware detection (notes in the profile; never fatal).
    /// NVML loaded but failed.
    NvmlFailed = "nvml_failed",
    /// One GPU could not be queried.
    GpuQueryFailed = "gpu_query_failed",
    /// No filesystem holds the model cache.
    DiskNotFound = "disk_not_found",
    /// A CUDA device did not initialise.
    CudaInitFailed = "cuda_init_failed",
    /// The Metal device did not initialise.
    MetalInitFailed = "metal_init_failed",
    /// A user override could not be honoured.
    OverrideRefused = "override_refused",

    // The local OpenAI-compatible server (`jslm serve`).
    /// Binding to an address other than loopback was asked for without an API key.
    ApiKeyRequired = "api_key_required",
    /// The server could not listen on the address (in use, not this machine's, no permission).
    BindFailed = "bind_failed",
    /// Every place in the generation queue is taken (HTTP 429); retry later.
    QueueFull = "queue_full",
    /// A missing or wrong API key (HTTP 401).
    Unauthorized = "unauthorized",
    /// The request names a model the server does not serve (HTTP 404).
    ModelNotServed = "model_not_served",

    // Remote backends (`jslm generate --remote`).
    /// The remote server could not be reached (refused, no route, DNS, timeout).
    RemoteUnreachable = "remote_unreachable",
    /// The TLS handshake with the remote server failed (certificate, proxy).
    Tls = "tls",
    /// The remote server failed (5xx, a broken or malformed stream); a partial answer is kept.
    RemoteFailed = "remote_failed",

    // The desktop shell.
    /// Generate was asked for before a model was loaded.
    NoModel = "no_model",
    /// A model is being loaded.
    ModelLoading = "model_loading",
    /// No model path was given and none is configured.
    NoModelPath = "no_model_path",
    /// The model is being downloaded.
    Downloading = "downloading",
    /// A history entry that does not exist.
    HistoryNotFound = "history_not_found",
    /// The model is loaded (or loading): deleting its files is refused.
    ModelInUse = "model_in_use",
    /// Reading or writing the app's own files failed.
    Storage = "storage",
    /// A background task died.
    Internal = "internal",
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ErrorCode {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        Self::ALL
            .iter()
            .copied()
            .find(|c| c.as_str() == s)
            .ok_or(())
    }
}

/// Lets tests and tables compare a code with its string form.
impl PartialEq<&str> for ErrorCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl serde::Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for ErrorCode {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse()
            .map_err(|()| serde::de::Error::custom(format!("unknown error code {text:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_snake_case_and_round_trip() {
        let mut seen = std::collections::BTreeSet::new();
        for &code in ErrorCode::ALL {
            let text = code.as_str();
            assert!(seen.insert(text), "{text} twice");
            assert!(
                text.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{text}"
            );
            assert_eq!(text.parse::<ErrorCode>(), Ok(code));
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{text}\""));
            assert_eq!(serde_json::from_str::<ErrorCode>(&json).unwrap(), code);
        }
        assert!("no_such_code".parse::<ErrorCode>().is_err());
    }
}
