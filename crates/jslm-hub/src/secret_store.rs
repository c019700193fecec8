//! One secret in jslm's own store: the OS keychain (`keyring`: macOS Keychain, Windows
//! Credential Manager, Secret Service on Linux, service `jslm`, one user name per secret) or,
//! where no keychain answers, a file readable only by its owner (0600), replaced atomically.
//!
//! The Hugging Face token ([`crate::TokenStore`]) and the desktop app's API keys (the local
//! server's, the remote backend's) are each one [`SecretStore`]; only the names differ.
//! Secrets go in and out as plain `&str`/[`Secret`]; nothing here formats one.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::HubError;

const KEYRING_SERVICE: &str = "jslm";

/// Where a secret is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SecretPlace {
    /// The OS keychain.
    Keychain,
    /// The 0600 file.
    File,
}

/// A secret read back from a store. `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The secret itself: only for an `Authorization` header or a comparison; never log it.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// One named secret: keychain entry `jslm`/`keychain_user`, else `file`.
#[derive(Debug, Clone)]
pub struct SecretStore {
    keychain_user: String,
    file: PathBuf,
    use_keychain: bool,
}

impl SecretStore {
    pub fn new(keychain_user: impl Into<String>, file: PathBuf, use_keychain: bool) -> Self {
        Self {
            keychain_user: keychain_user.into(),
            file,
            use_keychain,
        }
    }

    /// Whether the keychain may be used: not when `JSLM_KEYCHAIN` is `off`, `0`, `false` or
    /// `no` (then only the 0600 file is used).
    pub fn keychain_from_env() -> bool {
        !matches!(
            std::env::var("JSLM_KEYCHAIN")
                .map(|v| v.to_ascii_lowercase())
                .as_deref(),
            Ok("off" | "0" | "false" | "no")
        )
    }

    pub fn uses_keychain(&self) -> bool {
        self.use_keychain
    }

    /// The fallback file.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// The secret (surrounding whitespace trimmed) and where it was, or `None`.
    pub fn get(&self) -> Result<Option<(Secret, SecretPlace)>, HubError> {
        if self.use_keychain {
            if let Some(secret) = self.keychain_get() {
                return Ok(Some((secret, SecretPlace::Keychain)));
            }
        }
        Ok(read_secret_file(&self.file)?.map(|s| (s, SecretPlace::File)))
    }

    /// Saves `secret` (trimmed; refused when empty): the keychain when it works, else the
    /// 0600 file. Returns where it went.
    pub fn save(&self, secret: &str) -> Result<SecretPlace, HubError> {
        let secret = secret.trim();
        if secret.is_empty() {
            return Err(HubError::TokenStore {
                message: "refusing to store an empty secret".into(),
            });
        }
        if self.use_keychain && self.keychain_set(secret) {
            // Do not leave an older copy in the file fallback.
            remove_file_if_exists(&self.file)?;
            return Ok(SecretPlace::Keychain);
        }
        write_private_file(&self.file, secret)?;
        Ok(SecretPlace::File)
    }

    /// Removes the secret from both places; returns those it was removed from.
    pub fn delete(&self) -> Result<Vec<SecretPlace>, HubError> {
        let mut removed = Vec::new();
        if self.use_keychain && self.keychain_delete() {
            removed.push(SecretPlace::Keychain);
        }
        if remove_file_if_exists(&self.file)? {
            removed.push(SecretPlace::File);
        }
        Ok(removed)
    }

    fn keychain_entry(&self) -> Option<keyring::Entry> {
        match keyring::Entry::new(KEYRING_SERVICE, &self.keychain_user) {
            Ok(entry) => Some(entry),
            Err(err) => {
                tracing::debug!(error = %err, "no OS keychain available");
                None
            }
        }
    }

    fn keychain_get(&self) -> Option<Secret> {
        let entry = self.keychain_entry()?;
        match entry.get_password() {
            Ok(secret) => non_empty(&secret),
            Err(keyring::Error::NoEntry) => None,
            Err(err) => {
                tracing::debug!(error = %err, "OS keychain not readable; using the file fallback");
                None
            }
        }
    }

    fn keychain_set(&self, secret: &str) -> bool {
        let Some(entry) = self.keychain_entry() else {
            return false;
        };
        match entry.set_password(secret) {
            // Some stores accept writes they cannot read back (no persistence): check.
            Ok(()) => matches!(entry.get_password(), Ok(back) if back == secret),
            Err(err) => {
                tracing::debug!(error = %err, "OS keychain not writable; using the 0600 file");
                false
            }
        }
    }

    fn keychain_delete(&self) -> bool {
        let Some(entry) = self.keychain_entry() else {
            return false;
        };
        match entry.delete_credential() {
            Ok(()) => true,
            Err(keyring::Error::NoEntry) => false,
            Err(err) => {
                tracing::debug!(error = %err, "OS keychain not available for delete");
                false
            }
        }
    }
}

fn non_empty(text: &str) -> Option<Secret> {
    let trimmed = text.trim();
    (!trimmed.is_empty()).then(|| Secret(trimmed.to_string()))
}

/// Reads a secret file (`None` when absent or blank).
pub(crate) fn read_secret_file(path: &Path) -> Result<Option<Secret>, HubError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(non_empty(&text)),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(HubError::TokenStore {
            message: format!("cannot read {}: {err}", path.display()),
        }),
    }
}

pub(crate) fn remove_file_if_exists(path: &Path) -> Result<bool, HubError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(err) => Err(HubError::TokenStore {
            message: format!("cannot remove {}: {err}", path.display()),
        }),
    }
}

/// Writes `secret` to `path` so that only the owner can read it, replacing any old file
/// atomically (the temporary file is created 0600 before the secret is written).
pub(crate) fn write_private_file(path: &Path, secret: &str) -> Result<(), HubError> {
    let fail = |what: &str, err: std::io::Error| HubError::TokenStore {
        message: format!("cannot {what} {}: {err}", path.display()),
    };
    let dir = path.parent().ok_or_else(|| HubError::TokenStore {
        message: format!("bad secret path {}", path.display()),
    })?;
    std::fs::create_dir_all(dir).map_err(|e| fail("create the folder of", e))?;
    let tmp = path.with_extension("tmp-write");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp).map_err(|e| fail("create", e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // `mode` only applies to new files; an old leftover temp file keeps its mode otherwise.
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(|e| fail("restrict", e))?;
    }
    file.write_all(secret.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| fail("write", e))?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(|e| fail("replace", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_get_delete_in_a_private_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SecretStore::new("test-key", dir.path().join("k").join("api_key"), false);
        assert!(store.get().expect("get").is_none());
        assert!(store.save("  \n").is_err());
        assert_eq!(
            store.save(" sk-secret-1\n").expect("save"),
            SecretPlace::File
        );
        let (secret, place) = store.get().expect("get").expect("some");
        assert_eq!(
            (secret.expose_secret(), place),
            ("sk-secret-1", SecretPlace::File)
        );
        assert!(!format!("{secret:?} {secret}").contains("sk-secret"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(store.file())
                .expect("meta")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(store.delete().expect("delete"), vec![SecretPlace::File]);
        assert!(store.get().expect("get").is_none());
        assert!(store.delete().expect("delete").is_empty());
    }
}
