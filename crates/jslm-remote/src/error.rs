//! What can go wrong talking to a remote server, one variant per thing the user can act on,
//! each with a stable [`ErrorCode`]. Messages name the endpoint (never the API key) and carry
//! the server's own message where it sent one.

use jslm_core::ErrorCode;

#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// The URL is not an http(s) URL.
    #[error("the remote URL {url:?} {reason}")]
    InvalidUrl { url: String, reason: &'static str },

    /// No connection (refused, no route, DNS, timeout).
    #[error("cannot reach {endpoint}: {message}")]
    Unreachable { endpoint: String, message: String },

    /// The TLS handshake failed (an unknown certificate authority, an expired or mismatched
    /// certificate, a proxy that inspects TLS).
    #[error("TLS with {endpoint} failed: {message}")]
    Tls { endpoint: String, message: String },

    /// 401/403: the key is missing or wrong.
    #[error("{endpoint} refused the API key ({status}): {message}; set JSLM_REMOTE_API_KEY")]
    Unauthorized {
        endpoint: String,
        status: u16,
        message: String,
    },

    /// 403 from `jslm serve` on a loopback address: the request was addressed to a name that
    /// is not a loopback one (its guard against DNS rebinding), e.g. through a proxy. A key
    /// does not help; the server's message says what does.
    #[error(
        "{endpoint} refused the request for the host name it was addressed to (403): {message}"
    )]
    HostRefused { endpoint: String, message: String },

    /// The server does not serve that model.
    #[error("{endpoint} does not serve the model {model:?}: {message}")]
    UnknownModel {
        endpoint: String,
        model: String,
        message: String,
    },

    /// Prompt + max tokens do not fit the server's context.
    #[error("the prompt and max_new_tokens do not fit the context of the model at {endpoint}: {message}")]
    ContextTooLong { endpoint: String, message: String },

    /// 429: the server's queue is full.
    #[error("{endpoint} is busy (429){}: {message}", retry_after.map(|s| format!(", retry in {s} s")).unwrap_or_default())]
    Busy {
        endpoint: String,
        retry_after: Option<u64>,
        message: String,
    },

    /// Another 4xx: the server refused the request.
    #[error("{endpoint} refused the request ({status}): {message}")]
    Refused {
        endpoint: String,
        status: u16,
        message: String,
    },

    /// A 5xx, an answer that is not OpenAI's shape, or a stream that broke off. `partial` is
    /// the text received before (kept and shown).
    #[error("{endpoint} failed{}: {message}", if partial.is_empty() { String::new() } else { format!(" after {} characters of the answer (kept above)", partial.chars().count()) })]
    Failed {
        endpoint: String,
        message: String,
        partial: String,
    },
}

impl RemoteError {
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::InvalidUrl { .. } | Self::Refused { .. } => ErrorCode::InvalidRequest,
            Self::Unreachable { .. } => ErrorCode::RemoteUnreachable,
            Self::Tls { .. } => ErrorCode::Tls,
            Self::Unauthorized { .. } => ErrorCode::Unauthorized,
            Self::HostRefused { .. } => ErrorCode::Forbidden,
            Self::UnknownModel { .. } => ErrorCode::ModelNotServed,
            Self::ContextTooLong { .. } => ErrorCode::ContextOverflow,
            Self::Busy { .. } => ErrorCode::QueueFull,
            Self::Failed { .. } => ErrorCode::RemoteFailed,
        }
    }

    /// The answer received before a failure, if any.
    pub fn partial(&self) -> Option<&str> {
        match self {
            Self::Failed { partial, .. } if !partial.is_empty() => Some(partial),
            _ => None,
        }
    }

    /// A transport error of reqwest, sorted into TLS, unreachable or failed.
    pub(crate) fn transport(endpoint: &str, err: &reqwest::Error, partial: &str) -> Self {
        let endpoint = endpoint.to_string();
        if let Some(tls) = find_tls(err) {
            return Self::Tls {
                endpoint,
                message: tls.to_string(),
            };
        }
        // reqwest's own message alone says only "error sending request"; reqwest strips the
        // URL's credentials, and the key is sent in a header only.
        let message = jslm_core::error_chain::describe(err);
        if partial.is_empty() && (err.is_connect() || err.is_timeout()) {
            return Self::Unreachable { endpoint, message };
        }
        Self::Failed {
            endpoint,
            message,
            partial: partial.to_string(),
        }
    }
}

/// The rustls error in `err`'s causes, if the failure was the TLS handshake.
fn find_tls<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    jslm_core::error_chain::find::<rustls::Error>(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_partial_answers() {
        let failed = RemoteError::Failed {
            endpoint: "http://h/v1".into(),
            message: "connection reset".into(),
            partial: "途中まで".into(),
        };
        assert_eq!(failed.code(), ErrorCode::RemoteFailed);
        assert_eq!(failed.partial(), Some("途中まで"));
        assert!(
            failed.to_string().contains("after 4 characters"),
            "{failed}"
        );
        let busy = RemoteError::Busy {
            endpoint: "e".into(),
            retry_after: Some(3),
            message: "full".into(),
        };
        assert!(busy.to_string().contains("retry in 3 s"));
        assert_eq!(busy.code(), ErrorCode::QueueFull);
        let tls = std::io::Error::other(rustls::Error::General("bad cert".into()));
        assert!(find_tls(&tls).is_some());
        // As hyper wraps it: an io::Error in an io::Error.
        let nested = std::io::Error::other(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::DecryptError,
        ));
        assert!(find_tls(&nested).is_some());
        assert!(find_tls(&std::io::Error::other("plain")).is_none());
    }
}
