//! How the server listens and whom it answers, with the safe defaults: loopback only
//! (127.0.0.1:8642), an API key required for any other address, no CORS unless origins are
//! named, request bodies up to 1 MiB. (How many requests may wait is the model's [`Gate`]'s.)
//!
//! [`Gate`]: crate::gate::Gate

use crate::error::ServerError;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use subtle::ConstantTimeEq;

/// The port `jslm serve` listens on unless told otherwise.
pub const DEFAULT_PORT: u16 = 8642;
/// Largest request body, in bytes (a whole 4,096-token prompt is well under 64 KiB).
pub const DEFAULT_BODY_LIMIT: usize = 1 << 20;

/// An API key. Its `Debug` never shows it; it is compared in constant time.
#[derive(Clone)]
pub struct ApiKey(String);

impl ApiKey {
    /// A key that can travel in an `Authorization: Bearer` header: not empty, printable ASCII
    /// without spaces.
    pub fn new(key: impl Into<String>) -> Result<Self, ServerError> {
        let key = key.into();
        if key.is_empty() {
            return Err(ServerError::InvalidApiKey { reason: "is empty" });
        }
        if !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ServerError::InvalidApiKey {
                reason: "must be printable ASCII without spaces",
            });
        }
        Ok(Self(key))
    }

    /// Whether `given` is this key (constant time in the key's content).
    pub fn matches(&self, given: &str) -> bool {
        self.0.as_bytes().ct_eq(given.as_bytes()).into()
    }

    /// The key itself, for a client that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(***)")
    }
}

/// Where and how the server listens.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub host: IpAddr,
    /// 0 picks a free port (tests).
    pub port: u16,
    /// Required for a non-loopback `host`; when set, every request must send it.
    pub api_key: Option<ApiKey>,
    /// Origins allowed to call the server from a browser (CORS); empty: none.
    pub cors_origins: Vec<String>,
    /// Largest request body, in bytes.
    pub body_limit: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: DEFAULT_PORT,
            api_key: None,
            cors_origins: Vec::new(),
            body_limit: DEFAULT_BODY_LIMIT,
        }
    }
}

impl ServerConfig {
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::new(self.host, self.port)
    }

    /// Refuses what would be unsafe: a non-loopback address without a key, malformed origins.
    pub fn check(&self) -> Result<(), ServerError> {
        if !self.host.is_loopback() && self.api_key.is_none() {
            return Err(ServerError::ApiKeyRequired { host: self.host });
        }
        for origin in &self.cors_origins {
            let valid = ["http://", "https://"]
                .iter()
                .any(|s| origin.strip_prefix(s).is_some_and(|rest| !rest.is_empty()))
                && !origin.ends_with('/')
                && origin.bytes().all(|b| b.is_ascii_graphic());
            if !valid {
                return Err(ServerError::InvalidOrigin {
                    origin: origin.clone(),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_needs_no_key_other_addresses_do() {
        assert!(ServerConfig::default().check().is_ok());
        let ipv6 = ServerConfig {
            host: "::1".parse().unwrap(),
            ..Default::default()
        };
        assert!(ipv6.check().is_ok());
        for host in ["0.0.0.0", "192.168.1.5", "::"] {
            let open = ServerConfig {
                host: host.parse().unwrap(),
                ..Default::default()
            };
            let err = open.check().unwrap_err();
            assert_eq!(err.code(), jslm_core::ErrorCode::ApiKeyRequired, "{host}");
            let keyed = ServerConfig {
                api_key: Some(ApiKey::new("k3y").unwrap()),
                ..open
            };
            assert!(keyed.check().is_ok());
        }
    }

    #[test]
    fn keys_are_checked_compared_and_never_printed() {
        assert!(ApiKey::new("").is_err());
        assert!(ApiKey::new("with space").is_err());
        assert!(ApiKey::new("改行\n").is_err());
        let key = ApiKey::new("sk-local-123").unwrap();
        assert!(key.matches("sk-local-123"));
        assert!(!key.matches("sk-local-124"));
        assert!(!key.matches("sk-local-12"));
        assert!(!key.matches(""));
        let config = ServerConfig {
            api_key: Some(key),
            ..Default::default()
        };
        assert!(!format!("{config:?}").contains("sk-local"));
    }

    #[test]
    fn origins_must_be_origins() {
        for (origin, ok) in [
            ("http://localhost:3000", true),
            ("https://example.org", true),
            ("*", false),
            ("http://", false),
            ("http://x/", false),
            ("localhost:3000", false),
        ] {
            let config = ServerConfig {
                cors_origins: vec![origin.into()],
                ..Default::default()
            };
            assert_eq!(config.check().is_ok(), ok, "{origin}");
        }
    }
}
