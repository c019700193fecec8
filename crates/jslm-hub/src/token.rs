//! [`HfToken`]: a Hugging Face access token that cannot leak by accident. `Debug` and `Display`
//! print a redacted form, it has no `Serialize`, and the only way to the secret is the
//! explicitly named [`HfToken::expose_secret`], used when building the `Authorization` header
//! (marked sensitive, so HTTP-level tracing prints `Sensitive` instead of the value).

use std::fmt;

/// Where a token was found; shown to users ("using the token from HF_TOKEN").
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenSource {
    /// The `HF_TOKEN` environment variable.
    Env,
    /// `HUGGING_FACE_HUB_TOKEN`, the older name huggingface_hub still reads.
    LegacyEnv,
    /// The huggingface_hub token file, `$HF_HOME/token`.
    HfHomeFile,
    /// The OS keychain entry written by `jslm login`.
    Keychain,
    /// The 0600 file written by `jslm login` where no keychain exists.
    AppFile,
    /// Given directly by the caller (e.g. `jslm login` before it is stored).
    Explicit,
}

impl fmt::Display for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TokenSource::Env => "the HF_TOKEN environment variable",
            TokenSource::LegacyEnv => "the HUGGING_FACE_HUB_TOKEN environment variable",
            TokenSource::HfHomeFile => "the huggingface_hub token file ($HF_HOME/token)",
            TokenSource::Keychain => "the OS keychain",
            TokenSource::AppFile => "JSLM's token file",
            TokenSource::Explicit => "the given token",
        })
    }
}

/// A Hugging Face access token. Redacted in every formatting path.
#[derive(Clone, PartialEq, Eq)]
pub struct HfToken {
    secret: String,
    source: TokenSource,
}

impl HfToken {
    /// Wraps a token, trimming surrounding whitespace (token files often end with a newline).
    /// Returns `None` for an empty string.
    pub fn new(secret: impl Into<String>, source: TokenSource) -> Option<Self> {
        let secret = secret.into();
        let trimmed = secret.trim();
        if trimmed.is_empty() {
            return None;
        }
        Some(Self {
            secret: trimmed.to_string(),
            source,
        })
    }

    /// The raw token. Only for the `Authorization` header and for storing it; never log it.
    pub fn expose_secret(&self) -> &str {
        &self.secret
    }

    /// Where this token came from.
    pub fn source(&self) -> TokenSource {
        self.source
    }

    /// A redacted form safe to show: the `hf_` prefix and the last two characters at most.
    pub fn redacted(&self) -> String {
        let chars: Vec<char> = self.secret.chars().collect();
        if chars.len() < 12 {
            return "***".to_string();
        }
        let prefix: String = if self.secret.starts_with("hf_") {
            "hf_".into()
        } else {
            String::new()
        };
        let tail: String = chars[chars.len() - 2..].iter().collect();
        format!("{prefix}***{tail}")
    }
}

impl fmt::Debug for HfToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HfToken")
            .field("secret", &self.redacted())
            .field("source", &self.source)
            .finish()
    }
}

impl fmt::Display for HfToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "hf_abcdefghijklmnopqrstuvwxyzSECRET";

    #[test]
    fn never_formats_the_secret() {
        let token = HfToken::new(format!("  {SECRET}\n"), TokenSource::Env).expect("token");
        assert_eq!(token.expose_secret(), SECRET);
        for text in [
            format!("{token}"),
            format!("{token:?}"),
            format!("{token:#?}"),
            token.redacted(),
        ] {
            assert!(!text.contains("SECRET"), "{text}");
            assert!(!text.contains("abcdefghijklmnop"), "{text}");
        }
        assert_eq!(token.redacted(), "hf_***ET");
    }

    #[test]
    fn empty_is_no_token_and_short_is_fully_hidden() {
        assert!(HfToken::new("  \n", TokenSource::Env).is_none());
        let short = HfToken::new("abc", TokenSource::Explicit).expect("token");
        assert_eq!(short.redacted(), "***");
    }
}
