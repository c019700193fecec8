//! [`HubConfig`]: where the hub is, where the cache is, and how patient to be. Read from the
//! same environment variables as Python `huggingface_hub` (`constants.py`), so both tools agree
//! on one cache: `HF_ENDPOINT`, `HF_HOME`, `HF_HUB_CACHE` (or the older `HUGGINGFACE_HUB_CACHE`),
//! `HF_HUB_OFFLINE` (or `TRANSFORMERS_OFFLINE`), `HF_TOKEN_PATH`. Proxies come from
//! `HTTPS_PROXY`/`HTTP_PROXY`/`ALL_PROXY`/`NO_PROXY` (read by reqwest); a custom CA bundle from
//! `JSLM_CA_BUNDLE`, else `REQUESTS_CA_BUNDLE`, else `SSL_CERT_FILE`.

use std::path::PathBuf;
use std::time::Duration;

/// The public hub.
pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

/// Values huggingface_hub treats as true (`ENV_VARS_TRUE_VALUES`).
fn is_true(value: Option<String>) -> bool {
    value.is_some_and(|v| {
        matches!(
            v.trim().to_ascii_uppercase().as_str(),
            "1" | "ON" | "YES" | "TRUE"
        )
    })
}

/// How often and how patiently to retry dropped connections, stalls and 5xx answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per file without progress before giving up (an attempt that moved bytes resets
    /// the count). Default 10: with the default backoff that rides out about 2.5 minutes
    /// without a connection (a router restarting, a VPN reconnecting, a laptop waking up);
    /// 6 gave up after 31 s.
    pub max_attempts: u32,
    /// First backoff delay, doubled per attempt. Default 1 s.
    pub initial_backoff: Duration,
    /// Backoff ceiling. Default 30 s.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 10,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// Delay before retry number `attempt` (1-based): initial × 2^(attempt-1), capped.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u32
            .checked_shl(attempt.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }
}

/// Everything the hub client and the download manager need to know about the environment.
#[derive(Debug, Clone)]
pub struct HubConfig {
    /// Hub base URL without trailing slash. `HF_ENDPOINT`, default `https://huggingface.co`.
    pub endpoint: String,
    /// `HF_HOME`, default `$XDG_CACHE_HOME/huggingface` or `~/.cache/huggingface`.
    pub hf_home: PathBuf,
    /// The hub cache: `HF_HUB_CACHE`, default `$HF_HOME/hub`.
    pub cache_dir: PathBuf,
    /// The huggingface_hub token file: `HF_TOKEN_PATH`, default `$HF_HOME/token`.
    pub hf_token_path: PathBuf,
    /// `HF_HUB_OFFLINE`: never touch the network, use the cache only.
    pub offline: bool,
    /// Extra PEM root certificates (e.g. a corporate TLS-inspection CA), added to the system ones.
    pub ca_bundle: Option<PathBuf>,
    /// Whether `ca_bundle` was named for this app (`JSLM_CA_BUNDLE`): then a file that cannot be
    /// read is an error. One named by another tool's variable (`REQUESTS_CA_BUNDLE`,
    /// `SSL_CERT_FILE`, often set by conda or Homebrew, sometimes to a file since deleted) is
    /// used where it can be, and skipped with a warning where not: it must not stop downloads
    /// that the system's own certificates allow.
    pub ca_bundle_required: bool,
    /// TCP/TLS connect timeout. Default 10 s.
    pub connect_timeout: Duration,
    /// Longest silence while reading a response before the attempt counts as stalled. Default 30 s.
    pub read_timeout: Duration,
    /// Retry and backoff policy.
    pub retry: RetryPolicy,
    /// Minimum interval between `Progressed` events. Default 100 ms (≤ 10 events/s).
    pub progress_interval: Duration,
}

impl HubConfig {
    /// Reads the process environment.
    pub fn from_env() -> Self {
        Self::from_vars(|key| std::env::var(key).ok())
    }

    /// Reads configuration through `var` (the environment, or a map in tests).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Self {
        let non_empty = |key: &str| var(key).filter(|v| !v.trim().is_empty());
        let home = dirs::home_dir().unwrap_or_else(|| PathBuf::from("."));
        // As huggingface_hub reads them: `expandvars(expanduser(value))`, so that
        // HF_HOME="~/hf" (quoted in a .profile, a systemd unit, a .env file) is the same folder
        // for both, not `./~/hf` under whatever folder the app started in.
        let expand = |value: String| expand_user_and_vars(&value, &home, &var);
        let xdg_cache = non_empty("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| home.join(".cache"));
        let hf_home = non_empty("HF_HOME")
            .map(expand)
            .unwrap_or_else(|| xdg_cache.join("huggingface"));
        let cache_dir = non_empty("HF_HUB_CACHE")
            .or_else(|| non_empty("HUGGINGFACE_HUB_CACHE"))
            .map(expand)
            .unwrap_or_else(|| hf_home.join("hub"));
        let hf_token_path = non_empty("HF_TOKEN_PATH")
            .map(expand)
            .unwrap_or_else(|| hf_home.join("token"));
        let endpoint = non_empty("HF_ENDPOINT").unwrap_or_else(|| DEFAULT_ENDPOINT.to_string());
        let ca_bundle_required = non_empty("JSLM_CA_BUNDLE").is_some();
        let ca_bundle = non_empty("JSLM_CA_BUNDLE")
            .or_else(|| non_empty("REQUESTS_CA_BUNDLE"))
            .or_else(|| non_empty("SSL_CERT_FILE"))
            .map(PathBuf::from);
        Self {
            endpoint: endpoint.trim().trim_end_matches('/').to_string(),
            hf_home,
            cache_dir,
            hf_token_path,
            offline: is_true(var("HF_HUB_OFFLINE")) || is_true(var("TRANSFORMERS_OFFLINE")),
            ca_bundle,
            ca_bundle_required,
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(30),
            retry: RetryPolicy::default(),
            progress_interval: Duration::from_millis(100),
        }
    }

    /// A configuration for tests and embedding: given endpoint and cache, nothing from the
    /// environment except the home directory for unused defaults.
    pub fn with_endpoint_and_cache(endpoint: &str, cache_dir: impl Into<PathBuf>) -> Self {
        let cache_dir = cache_dir.into();
        let hf_home = cache_dir
            .parent()
            .map(PathBuf::from)
            .unwrap_or_else(|| cache_dir.clone());
        let mut config = Self::from_vars(|_| None);
        config.endpoint = endpoint.trim_end_matches('/').to_string();
        config.hf_token_path = hf_home.join("token");
        config.hf_home = hf_home;
        config.cache_dir = cache_dir;
        config
    }

    /// The model page users open to accept a gated model's terms.
    pub fn model_url(&self, repo: &str) -> String {
        format!("{}/{}", self.endpoint, repo)
    }
}

/// Python's `os.path.expandvars(os.path.expanduser(value))`: a leading `~` (alone or before a
/// separator) is the home folder; `$NAME` and `${NAME}` (and `%NAME%` on Windows) are
/// variables, and one that is not set stays as written. Written out rather than taken from a
/// crate because it must match Python's rules exactly (the same variable makes the same
/// folder for both), which the shell-expansion crates do not (`%NAME%`, unset variables).
fn expand_user_and_vars(
    value: &str,
    home: &std::path::Path,
    var: &impl Fn(&str) -> Option<String>,
) -> PathBuf {
    let is_sep = |c: char| c == '/' || (cfg!(windows) && c == '\\');
    let mut text = match value.strip_prefix('~') {
        Some(rest) if rest.is_empty() || rest.starts_with(is_sep) => {
            format!("{}{rest}", home.display())
        }
        _ => value.to_string(),
    };
    if text.contains('$') || (cfg!(windows) && text.contains('%')) {
        text = expand_vars(&text, var);
    }
    PathBuf::from(text)
}

fn expand_vars(text: &str, var: &impl Fn(&str) -> Option<String>) -> String {
    // ASCII names, as posixpath matches them (`re.ASCII`): `$USERのモデル` is `$USER`, then text.
    let is_name = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(|c| c == '$' || (cfg!(windows) && c == '%')) {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let (name, written_len) = if rest[i..].starts_with('%') {
            match after.find('%') {
                Some(end) if end > 0 => (&after[..end], end + 2),
                _ => ("", 1),
            }
        } else if let Some(braced) = after.strip_prefix('{') {
            match braced.find('}') {
                Some(end) => (&braced[..end], end + 3),
                None => ("", 1),
            }
        } else {
            let end = after.find(|c: char| !is_name(c)).unwrap_or(after.len());
            (&after[..end], end + 1)
        };
        match var(name).filter(|_| !name.is_empty()) {
            Some(value) => out.push_str(&value),
            None => out.push_str(&rest[i..i + written_len]),
        }
        rest = &rest[i + written_len..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn config(pairs: &[(&str, &str)]) -> HubConfig {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        HubConfig::from_vars(|k| map.get(k).cloned())
    }

    #[test]
    fn follows_huggingface_hub_precedence() {
        let c = config(&[("HF_HOME", "/h")]);
        assert_eq!(c.cache_dir, PathBuf::from("/h/hub"));
        assert_eq!(c.hf_token_path, PathBuf::from("/h/token"));
        let c = config(&[("HF_HOME", "/h"), ("HF_HUB_CACHE", "/c")]);
        assert_eq!(c.cache_dir, PathBuf::from("/c"));
        let c = config(&[("HF_HOME", "/h"), ("HUGGINGFACE_HUB_CACHE", "/old")]);
        assert_eq!(c.cache_dir, PathBuf::from("/old"));
        let c = config(&[("XDG_CACHE_HOME", "/x")]);
        assert_eq!(c.hf_home, PathBuf::from("/x/huggingface"));
        let c = config(&[("HF_TOKEN_PATH", "/t/tok")]);
        assert_eq!(c.hf_token_path, PathBuf::from("/t/tok"));
    }

    #[test]
    fn paths_expand_home_and_variables_as_huggingface_hub_does() {
        let home = dirs::home_dir().unwrap_or_else(|| PathBuf::from("."));
        let c = config(&[("HF_HOME", "~/hf")]);
        assert_eq!(c.hf_home, home.join("hf"));
        assert_eq!(c.cache_dir, home.join("hf").join("hub"));
        let c = config(&[("HF_HOME", "~")]);
        assert_eq!(c.hf_home, home);
        let c = config(&[("DATA", "/mnt/d"), ("HF_HUB_CACHE", "$DATA/hub")]);
        assert_eq!(c.cache_dir, PathBuf::from("/mnt/d/hub"));
        let c = config(&[("DATA", "/mnt/d"), ("HF_TOKEN_PATH", "${DATA}/tok")]);
        assert_eq!(c.hf_token_path, PathBuf::from("/mnt/d/tok"));
        // Unset variables, a `~` inside and a lone `$` stay as written, as in Python; so does
        // `~user` here (Python would look the user up).
        for kept in [
            "$NOPE/hub",
            "${NOPE}/x",
            "~other/hub",
            "/a/~/b",
            "/a/$",
            "/a/${open",
        ] {
            assert_eq!(
                config(&[("HF_HUB_CACHE", kept)]).cache_dir,
                PathBuf::from(kept)
            );
        }
        let c = config(&[("A", "1"), ("HF_HUB_CACHE", "/x/$A$A-${A}_$A_")]);
        assert_eq!(c.cache_dir, PathBuf::from("/x/11-1_$A_"));
        let c = config(&[("U", "u"), ("HF_HUB_CACHE", "/data/$Uのモデル")]);
        assert_eq!(c.cache_dir, PathBuf::from("/data/uのモデル"));
    }

    #[test]
    fn endpoint_offline_and_ca() {
        let c = config(&[]);
        assert_eq!(c.endpoint, DEFAULT_ENDPOINT);
        assert!(!c.offline);
        let c = config(&[
            ("HF_ENDPOINT", "http://127.0.0.1:9/"),
            ("HF_HUB_OFFLINE", "yes"),
        ]);
        assert_eq!(c.endpoint, "http://127.0.0.1:9");
        assert!(c.offline);
        for (value, offline) in [
            ("1", true),
            ("ON", true),
            ("true", true),
            ("0", false),
            ("", false),
            ("no", false),
        ] {
            assert_eq!(
                config(&[("HF_HUB_OFFLINE", value)]).offline,
                offline,
                "{value}"
            );
        }
        let c = config(&[("SSL_CERT_FILE", "/s.pem"), ("JSLM_CA_BUNDLE", "/j.pem")]);
        assert_eq!(c.ca_bundle, Some(PathBuf::from("/j.pem")));
        assert!(c.ca_bundle_required);
        let c = config(&[("SSL_CERT_FILE", "/s.pem")]);
        assert_eq!(c.ca_bundle, Some(PathBuf::from("/s.pem")));
        assert!(!c.ca_bundle_required);
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let p = RetryPolicy {
            max_attempts: 5,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(5),
        };
        let got: Vec<u64> = (1..=5).map(|a| p.backoff(a).as_secs()).collect();
        assert_eq!(got, vec![1, 2, 4, 5, 5]);
        assert_eq!(p.backoff(100), Duration::from_secs(5));
    }
}
