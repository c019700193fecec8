//! Validated names that end up in URLs and cache paths: repo ids (`org/name`), revisions and
//! repo-relative file names. Everything that comes from a user or a server passes through here
//! before it touches the file system, so `../` can never escape the cache.

use crate::error::HubError;

/// A Hugging Face model repo id, `org/name`, checked against the hub's naming rules.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct RepoId(String);

impl RepoId {
    /// Parses `org/name`. Names use ASCII letters, digits, `-`, `_`, `.`; no `--` or `..`,
    /// and do not start or end with `-` or `.` (the hub's own rules), at most 96 characters each.
    pub fn parse(text: &str) -> Result<Self, HubError> {
        let invalid = |why: &str| HubError::InvalidRequest {
            message: format!("`{text}` is not a Hugging Face repo id ({why}); expected `org/name`"),
        };
        let text = text.trim();
        let (org, name) = text.split_once('/').ok_or_else(|| invalid("no `/`"))?;
        for part in [org, name] {
            if part.is_empty() || part.len() > 96 {
                return Err(invalid("empty or too long part"));
            }
            if !part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            {
                return Err(invalid(
                    "only letters, digits, `-`, `_` and `.` are allowed",
                ));
            }
            if part.contains("--") || part.contains("..") {
                return Err(invalid("`--` and `..` are not allowed"));
            }
            if part.starts_with(['-', '.']) || part.ends_with(['-', '.']) {
                return Err(invalid("a part cannot start or end with `-` or `.`"));
            }
        }
        Ok(Self(text.to_string()))
    }

    /// `org/name`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for RepoId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Checks a revision (branch, tag, `refs/pr/1`, or commit hash) before it becomes a path under
/// `refs/` or part of a URL.
pub fn validate_revision(revision: &str) -> Result<(), HubError> {
    let ok = !revision.is_empty()
        && revision.len() <= 256
        && revision
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..")
        && !revision.contains(['\\', '\0', '?', '#', '%'])
        && !revision.starts_with('/');
    if ok {
        Ok(())
    } else {
        Err(HubError::InvalidRequest {
            message: format!("`{revision}` is not a valid revision"),
        })
    }
}

/// True for a full 40-hex-digit commit hash.
pub fn is_commit_hash(revision: &str) -> bool {
    revision.len() == 40
        && revision
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Checks a repo-relative file name (`model-00001-of-00002.safetensors`, `onnx/model.onnx`)
/// before it becomes a URL and a path in the cache, whoever sent it (user, catalog, or the
/// hub's file list): relative, `/`-separated, at most 1,024 bytes; no empty, `.` or `..`
/// parts; no backslash, NUL or control character; and nothing Windows would read as a path
/// of its own: no `:` (drive prefixes `C:x`, alternate streams `x:y`), none of `<>"|?*`, no
/// part ending in `.` or space (Windows strips them), no reserved device name (`CON`, `NUL`,
/// `COM1`, `LPT1.txt`, ...).
pub fn validate_file_name(name: &str) -> Result<(), HubError> {
    let ok = !name.is_empty()
        && name.len() <= 1024
        && !name.starts_with('/')
        && !name
            .chars()
            .any(|c| c.is_control() || matches!(c, '\\' | ':' | '<' | '>' | '"' | '|' | '?' | '*'))
        && name.split('/').all(|part| {
            !part.is_empty()
                && part != "."
                && part != ".."
                && !part.ends_with(['.', ' '])
                && !is_windows_device_name(part)
        });
    if ok {
        Ok(())
    } else {
        Err(HubError::InvalidRequest {
            message: format!(
                "`{}` is not a valid file name inside a repo",
                name.chars().take(200).collect::<String>()
            ),
        })
    }
}

/// `CON`, `PRN`, `AUX`, `NUL`, `COM0`–`COM9`, `LPT0`–`LPT9` (also with superscript digits),
/// `CONIN$`, `CONOUT$`: with any extension, in any case, Windows opens the device instead.
fn is_windows_device_name(part: &str) -> bool {
    let stem = part
        .split('.')
        .next()
        .unwrap_or(part)
        .trim_end()
        .to_ascii_uppercase();
    if matches!(
        stem.as_str(),
        "CON" | "PRN" | "AUX" | "NUL" | "CONIN$" | "CONOUT$"
    ) {
        return true;
    }
    let mut chars = stem.chars();
    let prefix: String = chars.by_ref().take(3).collect();
    let rest: String = chars.collect();
    (prefix == "COM" || prefix == "LPT")
        && rest.chars().count() == 1
        && rest
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '¹' | '²' | '³'))
}

/// Percent-encodes one URL path segment (RFC 3986 unreserved characters stay as they are).
pub(crate) fn encode_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Encodes a repo file path for a URL, keeping `/` between segments.
pub(crate) fn encode_path(path: &str) -> String {
    path.split('/')
        .map(encode_segment)
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_ids() {
        for ok in [
            "stabilityai/japanese-stablelm-instruct-gamma-7b",
            "TheBloke/japanese-stablelm-instruct-gamma-7B-GGUF",
            "a/b.c_d",
        ] {
            assert_eq!(RepoId::parse(ok).expect(ok).as_str(), ok);
        }
        for bad in [
            "", "noslash", "a/b/c", "../x", "a/..", "a/b--c", "-a/b", "a/b.", "a/b c", "a/", "/b",
            "a/b%2F",
        ] {
            let err = RepoId::parse(bad).expect_err(bad);
            assert_eq!(err.code(), "invalid_request", "{bad}");
        }
    }

    #[test]
    fn revisions_and_files() {
        for ok in [
            "main",
            "v1.0",
            "refs/pr/1",
            "0123456789abcdef0123456789abcdef01234567",
        ] {
            validate_revision(ok).expect(ok);
        }
        for bad in ["", "../main", "a/../b", "/abs", "a\\b", "a?b", "a%2Fb"] {
            assert!(validate_revision(bad).is_err(), "{bad}");
        }
        for ok in [
            "config.json",
            "onnx/model.onnx",
            "a b.json",
            "CONFIG.json",
            "console.log",
            "com10.txt",
            "model-00001-of-00002.safetensors",
            ".gitattributes",
        ] {
            validate_file_name(ok).expect(ok);
        }
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a//b",
            "./a",
            "a\\b",
            // Regression (issue 14): accepted before, but paths of their own on Windows.
            "C:x",
            "C:\\Windows\\x",
            "model.gguf:hidden",
            "CON",
            "nul.txt",
            "sub/Com1.json",
            "LPT9",
            "com¹.txt",
            "CONOUT$",
            "trailing.",
            "trailing ",
            "a?b",
            "a*b",
            "a|b",
            "a\u{1b}b",
            "a\nb",
        ] {
            assert!(validate_file_name(bad).is_err(), "{bad:?}");
        }
        assert!(is_commit_hash("0123456789abcdef0123456789abcdef01234567"));
        assert!(!is_commit_hash("main"));
        assert!(!is_commit_hash("0123456789ABCDEF0123456789abcdef01234567"));
    }

    #[test]
    fn url_encoding() {
        assert_eq!(encode_path("onnx/model v2.onnx"), "onnx/model%20v2.onnx");
        assert_eq!(encode_segment("refs/pr/1"), "refs%2Fpr%2F1");
    }
}
