//! The API keys the window keeps: the local server's (clients must send it as
//! `Authorization: Bearer KEY`) and the remote backend's (sent to the remote server). Each is
//! one `jslm_hub::SecretStore`, as the Hugging Face token is: the OS keychain (service `jslm`,
//! users `server-api-key` / `remote-api-key`), else a 0600 file in the app data dir
//! (`keys/`). The webview only ever learns whether a key is set; keys never reach a log, a
//! reply or an error message.

use crate::error::AppResult;
use jslm_hub::SecretStore;
use jslm_server::ApiKey;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Which key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyKind {
    /// The local server's.
    Server,
    /// The remote backend's.
    Remote,
}

/// What the webview may know about the keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct KeyStatus {
    pub server: bool,
    pub remote: bool,
}

#[derive(Debug)]
pub struct ApiKeys {
    server: SecretStore,
    remote: SecretStore,
}

impl ApiKeys {
    /// Keys in the keychain when `use_keychain`, else (or when it fails) in `data_dir/keys/`.
    pub fn new(data_dir: &Path, use_keychain: bool) -> Self {
        let dir = data_dir.join("keys");
        Self {
            server: SecretStore::new("server-api-key", dir.join("server_api_key"), use_keychain),
            remote: SecretStore::new("remote-api-key", dir.join("remote_api_key"), use_keychain),
        }
    }

    fn store(&self, kind: KeyKind) -> &SecretStore {
        match kind {
            KeyKind::Server => &self.server,
            KeyKind::Remote => &self.remote,
        }
    }

    pub fn status(&self) -> AppResult<KeyStatus> {
        Ok(KeyStatus {
            server: self.server.get()?.is_some(),
            remote: self.remote.get()?.is_some(),
        })
    }

    /// Stores `key` (trimmed) after checking that it can travel in an HTTP header.
    pub fn set(&self, kind: KeyKind, key: &str) -> AppResult<KeyStatus> {
        let key = ApiKey::new(key.trim())?;
        self.store(kind).save(key.expose())?;
        self.status()
    }

    pub fn clear(&self, kind: KeyKind) -> AppResult<KeyStatus> {
        self.store(kind).delete()?;
        self.status()
    }

    /// The key the local server requires, if one is set.
    pub fn server_key(&self) -> AppResult<Option<ApiKey>> {
        self.key(KeyKind::Server)
    }

    /// The key sent to the remote server, if one is set.
    pub fn remote_key(&self) -> AppResult<Option<ApiKey>> {
        self.key(KeyKind::Remote)
    }

    fn key(&self, kind: KeyKind) -> AppResult<Option<ApiKey>> {
        match self.store(kind).get()? {
            Some((secret, _)) => Ok(Some(ApiKey::new(secret.expose_secret())?)),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_kept_apart_checked_and_only_reported_as_set() {
        let dir = tempfile::tempdir().unwrap();
        let keys = ApiKeys::new(dir.path(), false);
        assert_eq!(
            keys.status().unwrap(),
            KeyStatus {
                server: false,
                remote: false
            }
        );
        let status = keys.set(KeyKind::Server, " sk-local-1 ").unwrap();
        assert!(status.server && !status.remote);
        assert_eq!(keys.server_key().unwrap().unwrap().expose(), "sk-local-1");
        assert!(keys.remote_key().unwrap().is_none());
        let json = serde_json::to_string(&keys.status().unwrap()).unwrap();
        assert!(!json.contains("sk-local"), "{json}");
        // Not sendable in a header: refused, nothing stored.
        let err = keys.set(KeyKind::Remote, "two words").unwrap_err();
        assert_eq!(err.code(), "invalid_request");
        assert!(!err.to_string().contains("two words"));
        assert!(!keys.status().unwrap().remote);
        keys.set(KeyKind::Remote, "sk-remote").unwrap();
        assert!(!keys.clear(KeyKind::Server).unwrap().server);
        assert_eq!(keys.remote_key().unwrap().unwrap().expose(), "sk-remote");
    }
}
