//! Where the Hugging Face token comes from, in order: `HF_TOKEN`, the huggingface_hub token file
//! (`$HF_HOME/token`, shared with `huggingface-cli login`), then jslm's own store: the OS
//! keychain (`keyring`: macOS Keychain, Windows Credential Manager, Secret Service on Linux) or,
//! where no keychain answers, a file readable only by its owner (0600). `jslm login` writes to
//! jslm's own store; `jslm logout` removes it and never touches the files of other tools.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::config::HubConfig;
use crate::error::HubError;
use crate::token::{HfToken, TokenSource};

const KEYRING_SERVICE: &str = "jslm";
const KEYRING_USER: &str = "huggingface-token";

/// Reads, saves and deletes the token. Cheap to construct; does no I/O until asked.
#[derive(Debug, Clone)]
pub struct TokenStore {
    env_token: Option<HfToken>,
    hf_token_path: PathBuf,
    app_file: PathBuf,
    use_keychain: bool,
}

impl TokenStore {
    /// The store for this process: `HF_TOKEN` from the environment, the config's token path,
    /// and the keychain unless `JSLM_KEYCHAIN=off` (then only the 0600 file is used; its path is
    /// `JSLM_TOKEN_FILE`, default `<config dir>/jslm/hf_token`).
    pub fn from_env(config: &HubConfig) -> Self {
        let env_token = std::env::var("HF_TOKEN")
            .ok()
            .and_then(|t| HfToken::new(t, TokenSource::Env));
        let use_keychain = !matches!(
            std::env::var("JSLM_KEYCHAIN")
                .map(|v| v.to_ascii_lowercase())
                .as_deref(),
            Ok("off" | "0" | "false" | "no")
        );
        let app_file = std::env::var_os("JSLM_TOKEN_FILE")
            .map(PathBuf::from)
            .unwrap_or_else(|| default_app_file(config));
        Self::new(
            env_token,
            config.hf_token_path.clone(),
            app_file,
            use_keychain,
        )
    }

    /// A store with explicit locations (tests, embedding).
    pub fn new(
        env_token: Option<HfToken>,
        hf_token_path: PathBuf,
        app_file: PathBuf,
        use_keychain: bool,
    ) -> Self {
        Self {
            env_token,
            hf_token_path,
            app_file,
            use_keychain,
        }
    }

    /// The first token found, in the documented order; `None` if there is none anywhere.
    pub fn find(&self) -> Result<Option<HfToken>, HubError> {
        if let Some(token) = &self.env_token {
            return Ok(Some(token.clone()));
        }
        if let Some(token) = read_token_file(&self.hf_token_path, TokenSource::HfHomeFile)? {
            return Ok(Some(token));
        }
        if self.use_keychain {
            if let Some(token) = keychain_get() {
                return Ok(Some(token));
            }
        }
        read_token_file(&self.app_file, TokenSource::AppFile)
    }

    /// Saves the token to jslm's store: the keychain when it works, else the 0600 file.
    /// Returns where it went.
    pub fn save(&self, token: &HfToken) -> Result<TokenSource, HubError> {
        if self.use_keychain && keychain_set(token) {
            // Do not leave an older copy in the file fallback.
            remove_file_if_exists(&self.app_file)?;
            return Ok(TokenSource::Keychain);
        }
        write_private_file(&self.app_file, token.expose_secret())?;
        Ok(TokenSource::AppFile)
    }

    /// Removes the token from jslm's store. Returns the places it was removed from, and the
    /// places that still provide a token (which `logout` does not touch: `HF_TOKEN` and the
    /// huggingface_hub token file) so the user can be told.
    pub fn delete(&self) -> Result<(Vec<TokenSource>, Vec<TokenSource>), HubError> {
        let mut removed = Vec::new();
        if self.use_keychain && keychain_delete() {
            removed.push(TokenSource::Keychain);
        }
        if remove_file_if_exists(&self.app_file)? {
            removed.push(TokenSource::AppFile);
        }
        let mut remaining = Vec::new();
        if self.env_token.is_some() {
            remaining.push(TokenSource::Env);
        }
        if read_token_file(&self.hf_token_path, TokenSource::HfHomeFile)?.is_some() {
            remaining.push(TokenSource::HfHomeFile);
        }
        Ok((removed, remaining))
    }

    /// The huggingface_hub token file this store reads.
    pub fn hf_token_path(&self) -> &Path {
        &self.hf_token_path
    }

    /// jslm's fallback token file.
    pub fn app_file(&self) -> &Path {
        &self.app_file
    }
}

fn default_app_file(config: &HubConfig) -> PathBuf {
    dirs::config_dir()
        .unwrap_or_else(|| config.hf_home.clone())
        .join("jslm")
        .join("hf_token")
}

fn read_token_file(path: &Path, source: TokenSource) -> Result<Option<HfToken>, HubError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(HfToken::new(text, source)),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(HubError::TokenStore {
            message: format!("cannot read {}: {err}", path.display()),
        }),
    }
}

fn remove_file_if_exists(path: &Path) -> Result<bool, HubError> {
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
fn write_private_file(path: &Path, secret: &str) -> Result<(), HubError> {
    let fail = |what: &str, err: std::io::Error| HubError::TokenStore {
        message: format!("cannot {what} {}: {err}", path.display()),
    };
    let dir = path.parent().ok_or_else(|| HubError::TokenStore {
        message: format!("bad token path {}", path.display()),
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

fn keychain_entry() -> Option<keyring::Entry> {
    match keyring::Entry::new(KEYRING_SERVICE, KEYRING_USER) {
        Ok(entry) => Some(entry),
        Err(err) => {
            tracing::debug!(error = %err, "no OS keychain available");
            None
        }
    }
}

fn keychain_get() -> Option<HfToken> {
    let entry = keychain_entry()?;
    match entry.get_password() {
        Ok(secret) => HfToken::new(secret, TokenSource::Keychain),
        Err(keyring::Error::NoEntry) => None,
        Err(err) => {
            tracing::debug!(error = %err, "OS keychain not readable; using the token file fallback");
            None
        }
    }
}

fn keychain_set(token: &HfToken) -> bool {
    let Some(entry) = keychain_entry() else {
        return false;
    };
    match entry.set_password(token.expose_secret()) {
        // Some stores accept writes they cannot read back (no persistence): check.
        Ok(()) => matches!(entry.get_password(), Ok(back) if back == token.expose_secret()),
        Err(err) => {
            tracing::debug!(error = %err, "OS keychain not writable; using the 0600 token file");
            false
        }
    }
}

fn keychain_delete() -> bool {
    let Some(entry) = keychain_entry() else {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn store(dir: &Path, env: Option<&str>) -> TokenStore {
        TokenStore::new(
            env.and_then(|t| HfToken::new(t, TokenSource::Env)),
            dir.join("hf_home").join("token"),
            dir.join("config").join("jslm").join("hf_token"),
            false,
        )
    }

    #[test]
    fn lookup_order_env_then_hf_home_then_app_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = store(dir.path(), None);
        assert!(s.find().expect("find").is_none());

        let app = HfToken::new("hf_app_token_value_1234", TokenSource::Explicit).expect("t");
        assert_eq!(s.save(&app).expect("save"), TokenSource::AppFile);
        let found = s.find().expect("find").expect("some");
        assert_eq!(
            (found.expose_secret(), found.source()),
            ("hf_app_token_value_1234", TokenSource::AppFile)
        );

        std::fs::create_dir_all(dir.path().join("hf_home")).expect("mkdir");
        std::fs::write(
            dir.path().join("hf_home").join("token"),
            "hf_home_token_value_99\n",
        )
        .expect("write");
        let found = s.find().expect("find").expect("some");
        assert_eq!(
            (found.expose_secret(), found.source()),
            ("hf_home_token_value_99", TokenSource::HfHomeFile)
        );

        let s = store(dir.path(), Some("hf_env_token_value_0000"));
        let found = s.find().expect("find").expect("some");
        assert_eq!(found.source(), TokenSource::Env);
    }

    #[cfg(unix)]
    #[test]
    fn app_file_is_private_and_logout_reports_remaining() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let s = store(dir.path(), Some("hf_env_token_value_0000"));
        let t = HfToken::new("hf_app_token_value_1234", TokenSource::Explicit).expect("t");
        s.save(&t).expect("save");
        let mode = std::fs::metadata(s.app_file())
            .expect("meta")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
        let (removed, remaining) = s.delete().expect("delete");
        assert_eq!(removed, vec![TokenSource::AppFile]);
        assert_eq!(remaining, vec![TokenSource::Env]);
        assert!(!s.app_file().exists());
        let (removed, _) = s.delete().expect("delete again");
        assert!(removed.is_empty());
    }
}
