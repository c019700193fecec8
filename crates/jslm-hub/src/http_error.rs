//! Turns a hub HTTP error answer into a typed [`HubError`]. The hub says what went wrong in
//! `X-Error-Code` (`GatedRepo`, `RepoNotFound`, `RevisionNotFound`, `EntryNotFound`) and
//! `X-Error-Message`; the status says whether a token is missing/invalid (401) or lacks access
//! (403). Same rules as huggingface_hub's `hf_raise_for_status`.

use reqwest::header::HeaderMap;
use reqwest::StatusCode;

use crate::error::{HubError, Missing};

/// What a request was about, for error messages.
#[derive(Debug, Clone)]
pub(crate) struct RequestContext {
    pub repo: String,
    pub revision: String,
    pub file: Option<String>,
    /// Whether an `Authorization` header was sent on the request that failed.
    pub token_sent: bool,
    /// Where to accept the terms (`{endpoint}/{repo}`).
    pub model_url: String,
    /// Where the token came from, for "token rejected" messages.
    pub token_source: Option<String>,
}

impl RequestContext {
    /// `repo/file@revision` for messages.
    pub fn what(&self) -> String {
        match &self.file {
            Some(file) => format!("{}/{} ({})", self.repo, file, self.revision),
            None => format!("{} ({})", self.repo, self.revision),
        }
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// True for answers worth retrying: 5xx, 429 Too Many Requests, 408 Request Timeout.
pub(crate) fn is_retryable(status: StatusCode) -> bool {
    status.is_server_error()
        || status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
}

/// Maps an error status to a [`HubError`] (callers handle 2xx, 3xx and 416 themselves).
pub(crate) fn map_status(
    status: StatusCode,
    headers: &HeaderMap,
    ctx: &RequestContext,
) -> HubError {
    let code = header(headers, "x-error-code").unwrap_or("");
    let message = header(headers, "x-error-message").unwrap_or("").to_string();
    let not_found = |what: Missing| HubError::NotFound {
        what,
        repo: ctx.repo.clone(),
        revision: ctx.revision.clone(),
        file: ctx.file.clone(),
    };
    match (status.as_u16(), code) {
        (_, "RevisionNotFound") => not_found(Missing::Revision),
        (_, "EntryNotFound") => not_found(Missing::File),
        (_, "RepoNotFound") => not_found(Missing::Repo),
        (401, _) if ctx.token_sent => HubError::TokenInvalid {
            repo: ctx.repo.clone(),
            source_hint: ctx
                .token_source
                .as_ref()
                .map(|s| format!(" (the token came from {s})"))
                .unwrap_or_default(),
        },
        (401, _) => HubError::GatedNoToken {
            repo: ctx.repo.clone(),
            model_url: ctx.model_url.clone(),
        },
        (403, "GatedRepo") => HubError::GatedNotAccepted {
            repo: ctx.repo.clone(),
            model_url: ctx.model_url.clone(),
        },
        (403, _) => HubError::Forbidden {
            repo: ctx.repo.clone(),
            message: if message.is_empty() {
                "the token does not grant access (a fine-grained token needs read access to this repo)".to_string()
            } else {
                message
            },
        },
        (404, _) if ctx.file.is_some() => not_found(Missing::File),
        (404, _) => not_found(Missing::Repo),
        (s, _) if is_retryable(status) => HubError::Server {
            what: ctx.what(),
            status: s,
            attempts: 1,
        },
        (s, _) => HubError::Protocol {
            what: ctx.what(),
            message: format!(
                "HTTP {s}{}",
                if message.is_empty() {
                    String::new()
                } else {
                    format!(": {message}")
                }
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    fn ctx(token_sent: bool, file: Option<&str>) -> RequestContext {
        RequestContext {
            repo: "org/model".into(),
            revision: "main".into(),
            file: file.map(String::from),
            token_sent,
            model_url: "https://huggingface.co/org/model".into(),
            token_source: Some("HF_TOKEN".into()),
        }
    }

    #[test]
    fn status_and_error_code_table() {
        // (status, X-Error-Code, token sent, file, expected code, expected text fragment)
        type Row<'a> = (u16, &'a str, bool, Option<&'a str>, &'a str, &'a str);
        let table: &[Row] = &[
            (
                401,
                "GatedRepo",
                false,
                Some("f"),
                "gated_no_token",
                "no Hugging Face token is set",
            ),
            (
                401,
                "GatedRepo",
                true,
                Some("f"),
                "token_invalid",
                "rejected",
            ),
            (401, "", true, None, "token_invalid", "HF_TOKEN"),
            (
                403,
                "GatedRepo",
                true,
                Some("f"),
                "gated_not_accepted",
                "https://huggingface.co/org/model",
            ),
            (403, "", true, Some("f"), "forbidden", "fine-grained"),
            (
                401,
                "RepoNotFound",
                false,
                None,
                "not_found",
                "repository org/model",
            ),
            (
                404,
                "RepoNotFound",
                true,
                None,
                "not_found",
                "repository org/model",
            ),
            (
                404,
                "RevisionNotFound",
                false,
                Some("f"),
                "not_found",
                "revision main",
            ),
            (
                404,
                "EntryNotFound",
                false,
                Some("f"),
                "not_found",
                "file f",
            ),
            (404, "", false, Some("f"), "not_found", "file f"),
            (500, "", false, Some("f"), "server", "500"),
            (429, "", false, Some("f"), "server", "429"),
            (418, "", false, Some("f"), "protocol", "418"),
        ];
        for &(status, code, token_sent, file, want_code, fragment) in table {
            let mut headers = HeaderMap::new();
            if !code.is_empty() {
                headers.insert("x-error-code", HeaderValue::from_static(code));
            }
            let err = map_status(
                StatusCode::from_u16(status).expect("status"),
                &headers,
                &ctx(token_sent, file),
            );
            assert_eq!(err.code(), want_code, "{status} {code} {token_sent}");
            assert!(err.to_string().contains(fragment), "{status} {code}: {err}");
        }
    }

    #[test]
    fn retryable_statuses() {
        for (s, want) in [
            (500, true),
            (502, true),
            (503, true),
            (429, true),
            (408, true),
            (404, false),
            (401, false),
        ] {
            assert_eq!(
                is_retryable(StatusCode::from_u16(s).expect("status")),
                want,
                "{s}"
            );
        }
    }
}
