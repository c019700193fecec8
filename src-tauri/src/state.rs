//! Everything the commands share: where files live, the remembered settings, the history, the
//! model host, the local server and the API keys. Managed by Tauri as one value.

use crate::drops::DropWatch;
use crate::error::{AppError, AppResult};
use crate::history::HistoryStore;
use crate::host::ModelHost;
use crate::hub::HubState;
use crate::keys::ApiKeys;
use crate::launch::LaunchOptions;
use crate::prefill::PrefillSlot;
use crate::serving::Serving;
use crate::settings::SettingsStore;
use jslm_runtime::{expand_home, LoadPlaces, RunChoices};
use std::path::PathBuf;
use std::sync::Arc;

/// The app's files.
#[derive(Debug, Clone)]
pub struct AppPaths {
    pub data_dir: PathBuf,
    /// In-app quantized models: `JSLM_CACHE_DIR/quantized` or `<cache dir>/jslm/quantized`,
    /// the same place the `jslm` CLI uses, so a model quantized by one is reused by the other.
    pub quantized_dir: PathBuf,
}

impl AppPaths {
    pub fn settings(&self) -> PathBuf {
        self.data_dir.join("settings.json")
    }
    pub fn history(&self) -> PathBuf {
        self.data_dir.join("history.jsonl")
    }
}

#[derive(Debug)]
pub struct AppState {
    pub paths: AppPaths,
    launch_model: Option<PathBuf>,
    pub settings: SettingsStore,
    pub history: Arc<HistoryStore>,
    pub host: ModelHost,
    /// Prompt work ahead of Generate; the next load stops and joins it.
    pub prefill: PrefillSlot,
    pub hub: HubState,
    /// Where files dropped on the window are reported.
    pub drops: DropWatch,
    /// The window's local server (off until the user turns it on) and its queue.
    pub serving: Serving,
    pub keys: ApiKeys,
}

impl AppState {
    pub fn open(paths: AppPaths, launch: &LaunchOptions, hub: HubState) -> Self {
        let history = match HistoryStore::open(&paths.history()) {
            Ok(h) => h,
            Err(e) => {
                // Better a window without past runs than no window; saving a run will
                // report the same problem to the user.
                eprintln!("jslm-desktop: history unavailable: {e}");
                HistoryStore::unreadable(&paths.history())
            }
        };
        Self {
            keys: ApiKeys::new(&paths.data_dir, hub.uses_keychain()),
            serving: Serving::new(),
            settings: SettingsStore::open(&paths.settings()),
            history: Arc::new(history),
            host: ModelHost::new(),
            prefill: PrefillSlot::default(),
            hub,
            drops: DropWatch::default(),
            launch_model: launch.model.clone(),
            paths,
        }
    }

    /// The model to load: the path the user entered, else `--model`/`JSLM_MODEL`, else the
    /// model loaded last time.
    /// Made absolute, so that the path remembered for the next start does not depend on the
    /// folder the app was started from.
    pub fn model_path(&self, requested: Option<&str>) -> AppResult<PathBuf> {
        let path = match requested.filter(|t| !t.trim().is_empty()) {
            Some(text) => expand_home(text),
            None => self.configured_model_path().ok_or(AppError::NoModelPath)?,
        };
        Ok(std::path::absolute(&path).unwrap_or(path))
    }

    /// What `load_model` without a path would load.
    pub fn configured_model_path(&self) -> Option<PathBuf> {
        self.launch_model
            .clone()
            .or_else(|| self.settings.get().model_path)
    }

    /// What hardware detection looks at: free disk space where models are cached, and the
    /// VRAM the loaded model holds (plans count it as free: a load releases it first).
    pub fn detect_options(&self) -> jslm_hardware::DetectOptions {
        let mut options = crate::commands::model::detect_options(self.paths.quantized_dir.clone());
        options.own_vram = self
            .host
            .ready_model()
            .and_then(|m| m.summary.run.as_ref()?.own_vram())
            .into_iter()
            .collect();
        options
    }

    /// The tokenizer to use with `path`: the one remembered with it, if it is the remembered
    /// model (a catalog GGUF keeps its tokenizer in the companion repo's snapshot).
    pub fn tokenizer_for(&self, path: &std::path::Path) -> Option<PathBuf> {
        let s = self.settings.get();
        match (&s.model_path, s.model_tokenizer) {
            (Some(p), Some(t)) if p == path => Some(t),
            _ => None,
        }
    }

    pub fn load_places(&self) -> LoadPlaces {
        LoadPlaces {
            quantized_dir: self.paths.quantized_dir.clone(),
        }
    }

    /// How the user wants models to run (the window's precision and GPU-block settings; the
    /// rest is the plan's), plus `force` for "load anyway".
    pub fn run_choices(&self, force: bool) -> RunChoices {
        let settings = self.settings.get();
        RunChoices {
            precision: settings.precision,
            gpu_layers: settings.gpu_layers,
            force,
            ..RunChoices::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(dir: &std::path::Path, model: Option<&str>) -> AppState {
        let hub = HubState::new(
            jslm_hub::HubConfig::with_endpoint_and_cache("http://127.0.0.1:9", dir.join("hub")),
            jslm_hub::TokenStore::new(None, dir.join("t1"), dir.join("t2"), false),
        );
        AppState::open(
            AppPaths {
                data_dir: dir.to_path_buf(),
                quantized_dir: dir.join("q"),
            },
            &LaunchOptions {
                model: model.map(PathBuf::from),
                ..Default::default()
            },
            hub,
        )
    }

    #[test]
    fn model_path_precedence() {
        let dir = tempfile::tempdir().unwrap();
        let s = state(dir.path(), None);
        assert_eq!(s.model_path(None).unwrap_err().code(), "no_model_path");
        assert_eq!(
            s.model_path(Some("  ")).unwrap_err().code(),
            "no_model_path"
        );
        s.settings
            .update(|x| x.model_path = Some("/saved".into()))
            .unwrap();
        assert_eq!(s.model_path(None).unwrap(), PathBuf::from("/saved"));
        assert_eq!(
            s.model_path(Some(" /typed ")).unwrap(),
            PathBuf::from("/typed")
        );
        let relative = s.model_path(Some("models/tiny")).unwrap();
        assert!(relative.is_absolute());
        assert!(relative.ends_with("models/tiny"));

        let launched = state(dir.path(), Some("/launch"));
        assert_eq!(launched.model_path(None).unwrap(), PathBuf::from("/launch"));
    }

    #[test]
    fn unreadable_history_still_opens() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("history.jsonl")).unwrap();
        let s = state(dir.path(), None);
        assert!(s.history.list().is_empty());
    }
}
