//! The app's remembered settings: language, the last generation settings and preset, the last
//! model, how to load it, the window size, where the local server listens and where
//! generations run (this computer or a remote server). Stored as `settings.json` in the app
//! data dir. API keys are not settings: they live in the keychain ([`crate::keys`]).

use crate::error::AppResult;
use crate::json_file::{self, ReadError};
use jslm_core::Precision;
use jslm_engine::settings::Preset;
use jslm_engine::GenerationSettings;
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// UI language. Japanese first: the default for a fresh install.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Language {
    #[default]
    Ja,
    En,
}

/// Window size in logical pixels.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct WindowSize {
    pub width: f64,
    pub height: f64,
}

/// Where the window's local server listens. Whether it is on is not remembered: the switch is
/// off at every start (a listening socket only ever opens when the user turns it on).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServeSettings {
    /// Default 127.0.0.1; anything but loopback needs an API key.
    pub host: IpAddr,
    /// Default 8642 (`jslm serve`'s).
    pub port: u16,
}

impl Default for ServeSettings {
    fn default() -> Self {
        Self {
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: jslm_server::DEFAULT_PORT,
        }
    }
}

/// Where Generate runs.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Backend {
    /// The model loaded in this window.
    #[default]
    Local,
    /// An OpenAI-compatible server (`jslm serve`, vLLM, llama.cpp's server), sent the card's
    /// prompt through `/v1/completions`.
    Remote {
        /// Its base URL (`http://gpu-box:8000/v1`; `/v1` is added when missing).
        url: String,
        /// The model to ask for; `None`: the first the server lists.
        #[serde(default)]
        model: Option<String>,
    },
}

impl Backend {
    /// Refuses a remote URL that is not http(s) or carries credentials; normalises it to the
    /// base `…/v1` and an empty model name to `None`.
    pub fn checked(self) -> AppResult<Self> {
        match self {
            Self::Local => Ok(Self::Local),
            Self::Remote { url, model } => Ok(Self::Remote {
                url: jslm_remote::client::base_url(&url)?,
                model: model
                    .map(|m| m.trim().to_string())
                    .filter(|m| !m.is_empty()),
            }),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct AppSettings {
    pub language: Language,
    /// The settings of the last generation (seed included when the user fixed one).
    pub generation: GenerationSettings,
    pub preset: Preset,
    /// The model loaded last; loaded again at start.
    pub model_path: Option<PathBuf>,
    /// Its tokenizer, when not beside the weights (a GGUF from the catalog).
    pub model_tokenizer: Option<PathBuf>,
    /// The precision to run models at; `None` ("auto"): the device plan decides.
    #[serde(with = "jslm_runtime::choices::auto_precision")]
    pub precision: Option<Precision>,
    /// Blocks on an NVIDIA GPU, the rest on the CPU (`RunChoices::gpu_layers`); `None`
    /// ("auto"): the device plan decides.
    #[serde(with = "auto_count")]
    pub gpu_layers: Option<u32>,
    pub window: Option<WindowSize>,
    /// Folders the user added to look for models in, besides the apps' own (`found_models`).
    pub model_dirs: Vec<PathBuf>,
    pub serve: ServeSettings,
    pub backend: Backend,
}

/// What the UI may change in one `save_settings` call; absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SettingsPatch {
    pub language: Option<Language>,
    pub generation: Option<GenerationSettings>,
    pub preset: Option<Preset>,
    /// "auto" or a precision.
    #[serde(default, with = "patch_precision")]
    pub precision: Option<Option<Precision>>,
    /// "auto" or a number of blocks.
    #[serde(default, with = "patch_count")]
    pub gpu_layers: Option<Option<u32>>,
    pub serve: Option<ServeSettings>,
    pub backend: Option<Backend>,
}

/// A patch's precision: absent (leave it), "auto" (the plan decides) or a precision.
mod patch_precision {
    use super::*;
    use serde::Deserializer;

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Option<Precision>>, D::Error> {
        jslm_runtime::choices::auto_precision::deserialize(d).map(Some)
    }
}

/// An optional count where `None` is "auto" (as the window's selects write it).
mod auto_count {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(n: &Option<u32>, s: S) -> Result<S::Ok, S::Error> {
        match n {
            Some(n) => n.serialize(s),
            None => s.serialize_str("auto"),
        }
    }

    /// "auto" or null read as `None`; a number, or a number written as text, as itself.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Count {
            Number(u32),
            Text(String),
        }
        match Option::<Count>::deserialize(d)? {
            None => Ok(None),
            Some(Count::Number(n)) => Ok(Some(n)),
            Some(Count::Text(t)) if t == "auto" => Ok(None),
            Some(Count::Text(t)) => t.parse().map(Some).map_err(|_| {
                serde::de::Error::custom(format!(
                    "expected \"auto\" or a number of blocks, not {t:?}"
                ))
            }),
        }
    }
}

/// A patch's count: absent (leave it), "auto" or a number.
mod patch_count {
    use serde::Deserializer;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<u32>>, D::Error> {
        super::auto_count::deserialize(d).map(Some)
    }
}

/// The settings in memory and on disk.
#[derive(Debug)]
pub struct SettingsStore {
    path: PathBuf,
    current: Mutex<AppSettings>,
}

impl SettingsStore {
    /// Loads `path`. A missing file gives the defaults. A file with values this version cannot
    /// read (a newer version's, a hand edit) keeps every field it can read and resets the
    /// others, is copied to `settings.json.bad` and rewritten; one that is not a JSON object
    /// is set aside as `settings.json.bad` and the defaults are used. A bad file never stops
    /// the app, and one bad value does not lose the model, folders and server settings.
    pub fn open(path: &Path) -> Self {
        let current = match json_file::read::<AppSettings>(path) {
            Ok(Some(s)) => s,
            Ok(None) => AppSettings::default(),
            Err(ReadError::Corrupt(reason)) => match salvage(path) {
                Some((settings, reset)) => {
                    let mut bad = path.as_os_str().to_owned();
                    bad.push(".bad");
                    let copied = std::fs::copy(path, &bad).is_ok();
                    let written = json_file::write_atomic(path, &settings).is_ok();
                    eprintln!(
                        "jslm-desktop: {} has values this version cannot read ({reason}); \
                         reset {reset:?} and kept the rest (original {}, rewritten: {written})",
                        path.display(),
                        if copied {
                            "copied beside it as .bad"
                        } else {
                            "not copied"
                        },
                    );
                    settings
                }
                None => {
                    let bad = json_file::set_aside(path);
                    eprintln!(
                        "jslm-desktop: {} is damaged ({reason}); kept as {} and using defaults",
                        path.display(),
                        bad.display()
                    );
                    AppSettings::default()
                }
            },
            Err(ReadError::Io(e)) => {
                eprintln!(
                    "jslm-desktop: cannot read {} ({e}); using defaults",
                    path.display()
                );
                AppSettings::default()
            }
        };
        Self {
            path: path.to_path_buf(),
            current: Mutex::new(current),
        }
    }

    pub fn get(&self) -> AppSettings {
        self.lock().clone()
    }

    /// Applies `change` and writes the file; on a write error the memory copy is still
    /// updated (the app keeps working) and the error is returned for the UI to show.
    ///
    /// The lock is held across the write: concurrent saves are written one after the other,
    /// in the order they changed the settings, so the file always ends as the memory copy.
    pub fn update(&self, change: impl FnOnce(&mut AppSettings)) -> AppResult<AppSettings> {
        let mut current = self.lock();
        change(&mut current);
        let snapshot = current.clone();
        json_file::write_atomic(&self.path, &snapshot)?;
        Ok(snapshot)
    }

    /// Checks a patch from the UI (generation settings are validated by the engine's rules)
    /// and saves it.
    pub fn apply(&self, patch: SettingsPatch) -> AppResult<AppSettings> {
        if let Some(g) = &patch.generation {
            g.validate()?;
        }
        let backend = patch.backend.map(Backend::checked).transpose()?;
        self.update(|s| {
            if let Some(v) = patch.language {
                s.language = v;
            }
            if let Some(v) = patch.generation {
                s.generation = v;
            }
            if let Some(v) = patch.preset {
                s.preset = v;
            }
            if let Some(v) = patch.precision {
                s.precision = v;
            }
            if let Some(v) = patch.gpu_layers {
                s.gpu_layers = v;
            }
            if let Some(v) = patch.serve {
                s.serve = v;
            }
            if let Some(v) = backend {
                s.backend = v;
            }
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, AppSettings> {
        // Settings are plain data: a panic elsewhere cannot leave them half-written.
        self.current.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The settings of a JSON object some of whose fields this version cannot read: each field
/// taken from the file where it reads, else left at its default; also the names reset.
/// `None` when the file is not a JSON object.
fn salvage(path: &Path) -> Option<(AppSettings, Vec<String>)> {
    use serde_json::Value;
    let bytes = std::fs::read(path).ok()?;
    let Ok(Value::Object(file)) = serde_json::from_slice::<Value>(&bytes) else {
        return None;
    };
    let mut kept = serde_json::to_value(AppSettings::default()).ok()?;
    let mut reset = Vec::new();
    for (key, value) in file {
        let mut trial = kept.clone();
        trial[key.as_str()] = value;
        if serde_json::from_value::<AppSettings>(trial.clone()).is_ok() {
            kept = trial;
        } else {
            reset.push(key);
        }
    }
    Some((serde_json::from_value(kept).ok()?, reset))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_japanese_and_the_model_card() {
        let s = AppSettings::default();
        assert_eq!(s.language, Language::Ja);
        assert_eq!(s.generation, GenerationSettings::default());
        assert_eq!(s.preset, Preset::Card);
        assert_eq!(s.precision, None);
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["precision"], "auto");
    }

    #[test]
    fn patch_saves_and_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.json");
        let store = SettingsStore::open(&path);
        let generation = GenerationSettings {
            seed: Some(7),
            ..GenerationSettings::greedy(32)
        };
        store
            .apply(SettingsPatch {
                language: Some(Language::En),
                generation: Some(generation.clone()),
                preset: Some(Preset::Greedy),
                ..Default::default()
            })
            .unwrap();
        let reopened = SettingsStore::open(&path).get();
        assert_eq!(reopened.language, Language::En);
        assert_eq!(reopened.generation, generation);
        assert_eq!(reopened.preset, Preset::Greedy);
    }

    #[test]
    fn invalid_generation_settings_are_refused_and_not_saved() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.json");
        let store = SettingsStore::open(&path);
        let err = store
            .apply(SettingsPatch {
                generation: Some(GenerationSettings {
                    top_p: 1.5,
                    ..Default::default()
                }),
                ..Default::default()
            })
            .unwrap_err();
        assert_eq!(err.code(), "invalid_setting");
        assert_eq!(store.get(), AppSettings::default());
        assert!(!path.exists());
    }

    #[test]
    fn serve_and_backend_settings_default_check_and_persist() {
        let s = AppSettings::default();
        assert_eq!(s.serve.host.to_string(), "127.0.0.1");
        assert_eq!(s.serve.port, 8642);
        assert_eq!(s.backend, Backend::Local);
        // Settings written before these existed still load, with the defaults.
        let old: AppSettings = serde_json::from_str(r#"{"language": "en"}"#).unwrap();
        assert_eq!((old.serve, old.backend), (s.serve, Backend::Local));

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.json");
        let store = SettingsStore::open(&path);
        let patch: SettingsPatch = serde_json::from_str(
            r#"{"serve": {"host": "0.0.0.0", "port": 9000},
                "backend": {"kind": "remote", "url": "http://gpu-box:8000/", "model": " "}}"#,
        )
        .unwrap();
        store.apply(patch).unwrap();
        let reopened = SettingsStore::open(&path).get();
        assert_eq!(reopened.serve.port, 9000);
        assert_eq!(
            reopened.backend,
            Backend::Remote {
                url: "http://gpu-box:8000/v1".into(),
                model: None
            }
        );
        for url in ["gpu-box:8000", "http://user:pw@h/v1", ""] {
            let patch: SettingsPatch = serde_json::from_value(serde_json::json!(
                {"backend": {"kind": "remote", "url": url}}
            ))
            .unwrap();
            let err = store.apply(patch).unwrap_err();
            assert_eq!(err.code(), "invalid_request", "{url}");
        }
        let patch: SettingsPatch =
            serde_json::from_str(r#"{"backend": {"kind": "local"}}"#).unwrap();
        assert_eq!(store.apply(patch).unwrap().backend, Backend::Local);
    }

    #[test]
    fn damaged_file_is_set_aside() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.json");
        std::fs::write(&path, "{ not json").unwrap();
        let store = SettingsStore::open(&path);
        assert_eq!(store.get(), AppSettings::default());
        assert!(dir.path().join("settings.json.bad").is_file());
    }

    /// A value this version cannot read (here a precision from a newer version) resets that
    /// field only: the model, the folders and the server settings stay.
    #[test]
    fn one_unreadable_value_resets_only_its_field() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.json");
        let original = r#"{"language": "en", "model_path": "/models/m.gguf",
            "precision": "q9_future", "model_dirs": ["/models"],
            "serve": {"port": 9000}, "a_newer_field": 1}"#;
        std::fs::write(&path, original).unwrap();
        let expected = AppSettings {
            language: Language::En,
            model_path: Some("/models/m.gguf".into()),
            model_dirs: vec!["/models".into()],
            serve: ServeSettings {
                port: 9000,
                ..Default::default()
            },
            ..Default::default()
        };
        assert_eq!(SettingsStore::open(&path).get(), expected);
        let bad = dir.path().join("settings.json.bad");
        assert_eq!(std::fs::read_to_string(bad).unwrap(), original);
        // Rewritten: the next start reads it as it is.
        assert_eq!(SettingsStore::open(&path).get(), expected);
    }

    /// Regression (issue 14): saves released the lock before writing and shared one
    /// temporary name per process, so concurrent saves failed (`rename` of a temporary file
    /// another save had already moved), left an older state on disk than in memory, or left
    /// temporary files behind.
    #[test]
    fn concurrent_saves_never_corrupt_or_leave_temporary_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.json");
        let store = std::sync::Arc::new(SettingsStore::open(&path));
        let threads: Vec<_> = (0..8u64)
            .map(|t| {
                let store = store.clone();
                std::thread::spawn(move || {
                    for i in 0..100u64 {
                        store
                            .update(|s| {
                                s.generation.seed = Some(t * 1000 + i);
                                s.window = Some(WindowSize {
                                    width: (t * 1000 + i) as f64,
                                    height: 600.0,
                                });
                            })
                            .expect("every save succeeds");
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let on_disk: AppSettings = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(on_disk, store.get(), "the file ends as the memory copy");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["settings.json".to_string()]);
    }

    /// The GPU-block setting: "auto" or a number, in the file and in a patch; older files
    /// without it are "auto"; anything else is refused, not read as "auto".
    #[test]
    fn gpu_layers_are_auto_or_a_number() {
        assert_eq!(
            serde_json::to_value(AppSettings::default()).unwrap()["gpu_layers"],
            "auto"
        );
        let eight: SettingsPatch = serde_json::from_str(r#"{"gpu_layers": 8}"#).unwrap();
        assert_eq!(eight.gpu_layers, Some(Some(8)));
        let text: SettingsPatch = serde_json::from_str(r#"{"gpu_layers": "12"}"#).unwrap();
        assert_eq!(text.gpu_layers, Some(Some(12)));
        let auto: SettingsPatch = serde_json::from_str(r#"{"gpu_layers": "auto"}"#).unwrap();
        assert_eq!(auto.gpu_layers, Some(None));
        let absent: SettingsPatch = serde_json::from_str("{}").unwrap();
        assert_eq!(absent.gpu_layers, None);
        for bad in [
            r#"{"gpu_layers": -1}"#,
            r#"{"gpu_layers": "all"}"#,
            r#"{"gpu_layers": 1.5}"#,
        ] {
            assert!(serde_json::from_str::<SettingsPatch>(bad).is_err(), "{bad}");
        }
        let old: AppSettings = serde_json::from_str(r#"{"precision": "q8_0"}"#).unwrap();
        assert_eq!(old.gpu_layers, None);
        let dir = tempfile::tempdir().unwrap();
        let store = SettingsStore::open(&dir.path().join("settings.json"));
        let saved = store
            .apply(serde_json::from_str(r#"{"gpu_layers": 16}"#).unwrap())
            .unwrap();
        assert_eq!(saved.gpu_layers, Some(16));
        let reopened = SettingsStore::open(&dir.path().join("settings.json"));
        assert_eq!(reopened.get().gpu_layers, Some(16));
    }

    #[test]
    fn unknown_fields_in_a_patch_are_rejected() {
        let r: Result<SettingsPatch, _> = serde_json::from_str(r#"{"model_path": "/etc"}"#);
        assert!(
            r.is_err(),
            "the webview must not set the model path through settings"
        );
        let q: SettingsPatch = serde_json::from_str(r#"{"precision": "q4_k_m"}"#).unwrap();
        assert_eq!(q.precision, Some(Some(Precision::Q4KM)));
        let auto: SettingsPatch = serde_json::from_str(r#"{"precision": "auto"}"#).unwrap();
        assert_eq!(auto.precision, Some(None));
        let none: SettingsPatch = serde_json::from_str(r#"{"language": "en"}"#).unwrap();
        assert_eq!(none.precision, None);
        // Settings saved before this version keep their precision.
        let old: AppSettings = serde_json::from_str(r#"{"precision": "q8_0"}"#).unwrap();
        assert_eq!(old.precision, Some(Precision::Q8_0));
    }
}
