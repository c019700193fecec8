//! Where the Hugging Face token comes from, in order: `HF_TOKEN` (set for this run, so the most
//! deliberate), then jslm's own store — the token the user gave this app with `jslm login` or
//! in the window: the OS keychain or, where no keychain answers, a file readable only by its
//! owner (0600), one [`SecretStore`] as the desktop app's API keys are — then the
//! huggingface_hub token file (`$HF_HOME/token`, shared with `huggingface-cli login`), which
//! may be an older token of another tool: it must not silently override the one just pasted.
//! `jslm login` writes to jslm's own store; `jslm logout` removes it and never touches the
//! files of other tools. Callers show [`HfToken::source`] of [`TokenStore::find`]'s token, so
//! users see which one is used.

use std::path::{Path, PathBuf};

use crate::config::HubConfig;
use crate::error::HubError;
use crate::secret_store::{read_secret_file, SecretPlace, SecretStore};
use crate::token::{HfToken, TokenSource};

const KEYRING_USER: &str = "huggingface-token";

/// `HF_TOKEN`, else the older name `HUGGING_FACE_HUB_TOKEN` that huggingface_hub still reads
/// (tools and CI setups of its era set only that one). An empty value counts as unset.
fn env_token(var: impl Fn(&str) -> Option<String>) -> Option<HfToken> {
    [
        ("HF_TOKEN", TokenSource::Env),
        ("HUGGING_FACE_HUB_TOKEN", TokenSource::LegacyEnv),
    ]
    .into_iter()
    .find_map(|(key, source)| var(key).and_then(|t| HfToken::new(t, source)))
}

/// Reads, saves and deletes the token. Cheap to construct; does no I/O until asked.
#[derive(Debug, Clone)]
pub struct TokenStore {
    env_token: Option<HfToken>,
    hf_token_path: PathBuf,
    /// jslm's own place: the keychain, else the 0600 file.
    own: SecretStore,
}

impl TokenStore {
    /// The store for this process: `HF_TOKEN` from the environment, the config's token path,
    /// and the keychain unless `JSLM_KEYCHAIN=off` (then only the 0600 file is used; its path is
    /// `JSLM_TOKEN_FILE`, default `<config dir>/jslm/hf_token`).
    pub fn from_env(config: &HubConfig) -> Self {
        let env_token = env_token(|key| std::env::var(key).ok());
        let app_file = std::env::var_os("JSLM_TOKEN_FILE")
            .map(PathBuf::from)
            .unwrap_or_else(|| default_app_file(config));
        Self::new(
            env_token,
            config.hf_token_path.clone(),
            app_file,
            SecretStore::keychain_from_env(),
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
            own: SecretStore::new(KEYRING_USER, app_file, use_keychain),
        }
    }

    /// The first token found, in the documented order (`HF_TOKEN`, jslm's store, then
    /// huggingface_hub's file); `None` if there is none anywhere.
    pub fn find(&self) -> Result<Option<HfToken>, HubError> {
        if let Some(token) = &self.env_token {
            return Ok(Some(token.clone()));
        }
        if let Some(token) = self
            .own
            .get()?
            .and_then(|(secret, place)| HfToken::new(secret.expose_secret(), source_of(place)))
        {
            return Ok(Some(token));
        }
        read_token_file(&self.hf_token_path, TokenSource::HfHomeFile)
    }

    /// Saves the token to jslm's store: the keychain when it works, else the 0600 file.
    /// Returns where it went.
    pub fn save(&self, token: &HfToken) -> Result<TokenSource, HubError> {
        self.own.save(token.expose_secret()).map(source_of)
    }

    /// Removes the token from jslm's store. Returns the places it was removed from, and the
    /// places that still provide a token (which `logout` does not touch: `HF_TOKEN` and the
    /// huggingface_hub token file) so the user can be told.
    pub fn delete(&self) -> Result<(Vec<TokenSource>, Vec<TokenSource>), HubError> {
        let removed = self.own.delete()?.into_iter().map(source_of).collect();
        let mut remaining = Vec::new();
        if let Some(token) = &self.env_token {
            // HF_TOKEN or HUGGING_FACE_HUB_TOKEN: the one that is set.
            remaining.push(token.source());
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

    /// Whether jslm's own store uses the OS keychain (other secrets follow the same choice).
    pub fn uses_keychain(&self) -> bool {
        self.own.uses_keychain()
    }

    /// jslm's fallback token file.
    pub fn app_file(&self) -> &Path {
        self.own.file()
    }
}

fn source_of(place: SecretPlace) -> TokenSource {
    match place {
        SecretPlace::Keychain => TokenSource::Keychain,
        SecretPlace::File => TokenSource::AppFile,
    }
}

fn default_app_file(config: &HubConfig) -> PathBuf {
    dirs::config_dir()
        .unwrap_or_else(|| config.hf_home.clone())
        .join("jslm")
        .join("hf_token")
}

fn read_token_file(path: &Path, source: TokenSource) -> Result<Option<HfToken>, HubError> {
    Ok(read_secret_file(path)?.and_then(|s| HfToken::new(s.expose_secret(), source)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_older_variable_name_is_read_after_hf_token() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |key: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == key)
                    .map(|(_, v)| v.to_string())
            }
        };
        let legacy = env_token(vars(&[("HUGGING_FACE_HUB_TOKEN", "hf_old")])).expect("found");
        assert_eq!(legacy.expose_secret(), "hf_old");
        assert_eq!(legacy.source(), TokenSource::LegacyEnv);
        let both = env_token(vars(&[
            ("HUGGING_FACE_HUB_TOKEN", "hf_old"),
            ("HF_TOKEN", "hf_new"),
        ]))
        .expect("found");
        assert_eq!(
            (both.expose_secret(), both.source()),
            ("hf_new", TokenSource::Env)
        );
        assert!(env_token(vars(&[("HF_TOKEN", " ")])).is_none());
    }

    fn store(dir: &Path, env: Option<&str>) -> TokenStore {
        TokenStore::new(
            env.and_then(|t| HfToken::new(t, TokenSource::Env)),
            dir.join("hf_home").join("token"),
            dir.join("config").join("jslm").join("hf_token"),
            false,
        )
    }

    #[test]
    fn lookup_order_env_then_app_store_then_hf_home() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = store(dir.path(), None);
        assert!(s.find().expect("find").is_none());

        // An older token of huggingface-cli: used while jslm has none of its own.
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

        // The token the user gives this app wins over that file.
        let app = HfToken::new("hf_app_token_value_1234", TokenSource::Explicit).expect("t");
        assert_eq!(s.save(&app).expect("save"), TokenSource::AppFile);
        let found = s.find().expect("find").expect("some");
        assert_eq!(
            (found.expose_secret(), found.source()),
            ("hf_app_token_value_1234", TokenSource::AppFile)
        );
        // No token in the Debug output of what is found.
        assert!(!format!("{found:?}").contains("app_token_value"));

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
