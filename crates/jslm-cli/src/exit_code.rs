//! The CLI's one table over [`ErrorCode`]: the exit code of each error class (so scripts can
//! tell failures apart without parsing messages) and the advice that fits a command-line user
//! (the libraries' messages say what happened, not what to type). The README lists the same
//! table; a test keeps the two in sync, and the `match` keeps every code covered.

use crate::error::CliError;
use jslm_core::ErrorCode;

/// The exit code for `code`.
pub fn exit_code(code: ErrorCode) -> i32 {
    use ErrorCode::*;
    match code {
        InvalidSetting => 2,
        ContextOverflow => 3,
        MissingFile => 4,
        InvalidFile => 5,
        UnsupportedModel => 6,
        TokenizerMismatch => 7,
        Busy => 8,
        Io => 9,
        GatedNoToken => 10,
        TokenInvalid => 11,
        GatedNotAccepted => 12,
        Forbidden => 13,
        NotFound => 14,
        DiskFull => 15,
        Checksum => 16,
        Offline => 17,
        Network => 18,
        Server => 19,
        Protocol => 20,
        DownloadBusy => 21,
        TokenStore => 22,
        Setup => 24,
        InvalidRequest => 25,
        WillNotFit => 26,
        Compute => 27,
        Tokenizer => 28,
        UnknownModel => 29,
        NotDownloaded => 30,
        DeviceUnavailable => 31,
        OverrideRefused => 32,
        NvmlFailed => 33,
        GpuQueryFailed => 34,
        DiskNotFound => 35,
        CudaInitFailed => 36,
        MetalInitFailed => 37,
        ForeignVocabulary => 38,
        ApiKeyRequired => 46,
        BindFailed => 47,
        QueueFull => 48,
        Unauthorized => 49,
        ModelNotServed => 50,
        RemoteUnreachable => 51,
        Tls => 52,
        RemoteFailed => 53,
        DeviceOutOfMemory => 54,
        // The window's own codes; the CLI does not produce them.
        NoModel => 40,
        ModelLoading => 41,
        NoModelPath => 42,
        Downloading => 43,
        HistoryNotFound => 44,
        Storage => 45,
        ModelInUse => 55,
        Internal => 1,
        DownloadCancelled => 130,
    }
}

/// What a command-line user can do about `code`, when there is something to say.
pub fn advice(code: ErrorCode) -> Option<&'static str> {
    use ErrorCode::*;
    Some(match code {
        GatedNoToken => {
            "create a read token at https://huggingface.co/settings/tokens, run `jslm login` \
             (or set HF_TOKEN), and accept the terms on the model page"
        }
        TokenInvalid => {
            "create a new token at https://huggingface.co/settings/tokens and run `jslm login`"
        }
        GatedNotAccepted => "open the model page while logged in, accept its terms, then retry",
        DeviceOutOfMemory => {
            "close programs that use the GPU (nvidia-smi lists them), or choose a smaller \
             precision (--precision q4_k_m), a shorter --context, or --device cpu"
        }
        NotFound => "check the name; for a private repo run `jslm login` with a token that can read it",
        DiskFull => {
            "free some space, or move the cache to a larger disk (HF_HUB_CACHE for downloads, \
             JSLM_CACHE_DIR for quantized copies)"
        }
        WillNotFit => "pass --force to try anyway, or choose a smaller --precision",
        OverrideRefused => "leave out --precision/--device/--gpu-layers to let the plan choose (see `jslm doctor`)",
        MissingFile => "pass the folder with config.json and safetensors, or a .gguf file (--tokenizer PATH for a tokenizer.json elsewhere)",
        NotDownloaded => "`jslm models` lists what is downloaded; `jslm download MODEL` fetches a model",
        ForeignVocabulary => "use a GGUF of Japanese StableLM Instruct Gamma 7B, or pass --tokenizer PATH to its tokenizer.json",
        DownloadBusy => "wait for the other download to finish",
        Offline => "connect to the network, or unset HF_HUB_OFFLINE",
        ApiKeyRequired => "pass --api-key KEY (or set JSLM_API_KEY), or leave out --host to listen on 127.0.0.1 only",
        BindFailed => "choose another --port, or stop the program that listens there",
        Unauthorized => "set JSLM_REMOTE_API_KEY to the server's API key",
        Tls => "check the server's certificate; a company proxy's CA must be in the system's trust store",
        _ => return None,
    })
}

/// The process's exit code for `err`: its code's, 130 for a run Ctrl-C stopped, a failed
/// child's own, else 1.
pub fn exit_status(err: &anyhow::Error) -> i32 {
    let interrupted = err
        .chain()
        .any(|e| matches!(e.downcast_ref(), Some(CliError::Interrupted)));
    if interrupted {
        return crate::interrupt::EXIT_CODE;
    }
    if let Some(code) = child_exit(err) {
        return code;
    }
    error_code(err).map_or(1, exit_code)
}

/// The exit code of a child `jslm` that failed and already said why on stderr.
pub fn child_exit(err: &anyhow::Error) -> Option<i32> {
    err.chain().find_map(|e| match e.downcast_ref() {
        Some(CliError::ChildFailed { code }) => Some(*code),
        _ => None,
    })
}

/// The advice for `err`: its code's, none for the CLI's own errors (they name the flag or file
/// to fix; a code's general advice, e.g. "use --tokenizer", would miss what the user did).
pub fn advice_for(err: &anyhow::Error) -> Option<&'static str> {
    if err.chain().any(|e| e.is::<CliError>()) {
        return None;
    }
    error_code(err).and_then(advice)
}

/// The code of the first error in `err`'s chain that has one.
pub fn error_code(err: &anyhow::Error) -> Option<ErrorCode> {
    err.chain().find_map(|e| {
        if let Some(e) = e.downcast_ref::<CliError>() {
            return e.code();
        }
        if let Some(e) = e.downcast_ref::<jslm_runtime::RuntimeError>() {
            return Some(e.code());
        }
        if let Some(e) = e.downcast_ref::<jslm_engine::EngineError>() {
            return Some(e.code());
        }
        if let Some(e) = e.downcast_ref::<jslm_remote::RemoteError>() {
            return Some(e.code());
        }
        if let Some(e) = e.downcast_ref::<jslm_server::ServerError>() {
            return Some(e.code());
        }
        if let Some(e) = e.downcast_ref::<jslm_hub::HubError>() {
            return Some(e.code());
        }
        e.downcast_ref::<jslm_hardware::HardwareError>()
            .map(|e| e.code())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_a_distinct_documented_exit_code() {
        let readme = include_str!("../README.md");
        let mut seen = std::collections::BTreeMap::new();
        for &code in ErrorCode::ALL {
            let exit = exit_code(code);
            if let Some(other) = seen.insert(exit, code) {
                panic!("{code} and {other} share exit code {exit}");
            }
            assert!(
                readme.contains(&format!("| {exit} | `{code}` |")),
                "the README lacks the row `| {exit} | `{code}` |`"
            );
        }
    }

    #[test]
    fn codes_are_found_through_context() {
        let err = anyhow::Error::new(jslm_hub::HubError::Offline {
            message: "x".into(),
        })
        .context("downloading");
        assert_eq!(error_code(&err), Some(ErrorCode::Offline));
        assert_eq!(exit_code(ErrorCode::Offline), 17);
        assert_eq!(error_code(&anyhow::anyhow!("other")), None);
        assert_eq!(exit_status(&anyhow::anyhow!("other")), 1);
        let stopped = anyhow::Error::new(CliError::Interrupted).context("generating");
        assert_eq!(exit_status(&stopped), 130);
        let child = anyhow::Error::new(CliError::ChildFailed { code: 32 });
        assert_eq!(exit_status(&child), 32);
        let tokenizer = anyhow::Error::new(CliError::TokenizerNotFound {
            path: "/nonexistent.json".into(),
        });
        assert_eq!(error_code(&tokenizer), Some(ErrorCode::MissingFile));
        assert_eq!(advice_for(&tokenizer), None);
        assert!(advice(ErrorCode::GatedNoToken)
            .unwrap()
            .contains("jslm login"));
    }
}
