//! Copies of this model already on disk, found where other apps keep their models — the
//! Hugging Face cache, LM Studio's models folder, Ollama's store, llama.cpp's cache — and in
//! folders the user adds, so that they can be used in place (no copy, no second download).
//!
//! Only the folders in the list are read ([`default_folders`] plus the user's), each to a
//! bounded depth, never following folder links. Every `.gguf` found is identified by its own
//! header (the bounded reader): a llama-architecture file of this model's shape, whose
//! vocabulary (when it has one) is this model's and whose name says it is Japanese StableLM
//! Instruct Gamma. Where the file's sha256 is known from its store (the Hugging Face blob name,
//! Ollama's digest, llama.cpp's saved ETag), it can be verified once and the answer is
//! remembered ([`hashes::HashStore`]).

pub use jslm_engine::file_hash as hashes;
mod identify;
mod layouts;

pub use identify::Expected;

use jslm_core::Precision;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Which app keeps a folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The Hugging Face hub cache (`models--org--name/snapshots/<commit>/…`).
    HuggingFace,
    /// LM Studio (`<publisher>/<repo>/<file>.gguf`).
    LmStudio,
    /// Ollama (`manifests/…` naming blobs in `blobs/sha256-…`).
    Ollama,
    /// llama.cpp's download cache (`<org>_<repo>_<file>.gguf` with a `.json` beside).
    LlamaCpp,
    /// A folder the user added.
    Folder,
}

impl Source {
    pub fn label(self) -> &'static str {
        match self {
            Self::HuggingFace => "Hugging Face cache",
            Self::LmStudio => "LM Studio",
            Self::Ollama => "Ollama",
            Self::LlamaCpp => "llama.cpp cache",
            Self::Folder => "folder",
        }
    }
}

/// A folder to look in, and how it is laid out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScanFolder {
    pub source: Source,
    pub path: PathBuf,
}

/// Whether the file's bytes are the ones its store names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Verification {
    /// The store names no hash (LM Studio, a plain folder).
    NoHashKnown,
    /// A hash is known; not computed yet (`verify` was not asked for).
    NotChecked { expected_sha256: String },
    /// Computed (now or remembered from an earlier scan of the same file).
    Checked {
        expected_sha256: String,
        matches: bool,
    },
}

/// One copy of this model on disk.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FoundModel {
    /// The GGUF to load (for Ollama, the blob).
    pub path: PathBuf,
    pub source: Source,
    /// What the app calls it: `org/repo/file.gguf`, Ollama's `name:tag`, …
    pub name: String,
    pub size_bytes: u64,
    /// The file's own type (`general.file_type`, else its weights).
    pub precision: Precision,
    /// Its metadata carries this model's vocabulary (no tokenizer.json needed).
    pub has_vocabulary: bool,
    /// A tokenizer.json beside the file.
    pub tokenizer_json: Option<PathBuf>,
    pub verification: Verification,
}

/// A `.gguf` that was looked at and is not a usable copy of this model, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    pub path: PathBuf,
    pub reason: String,
}

/// What a scan found.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Discovery {
    pub found: Vec<FoundModel>,
    pub skipped: Vec<Skipped>,
}

/// The folders the apps use by default on this computer, from `env` (a variable's value) and
/// the user's `home`; only those that exist. `env` is read for `HF_HUB_CACHE`/`HF_HOME`,
/// `OLLAMA_MODELS`, `LLAMA_CACHE`, `XDG_CACHE_HOME` and `LOCALAPPDATA`.
pub fn default_folders(
    env: &dyn Fn(&str) -> Option<PathBuf>,
    home: Option<&Path>,
    hf_cache: &Path,
) -> Vec<ScanFolder> {
    let mut out = vec![ScanFolder {
        source: Source::HuggingFace,
        path: hf_cache.to_path_buf(),
    }];
    if let Some(home) = home {
        for p in [".lmstudio/models", ".cache/lm-studio/models"] {
            out.push(ScanFolder {
                source: Source::LmStudio,
                path: home.join(p),
            });
        }
    }
    match env("OLLAMA_MODELS") {
        Some(p) => out.push(ScanFolder {
            source: Source::Ollama,
            path: p,
        }),
        None => {
            if let Some(home) = home {
                out.push(ScanFolder {
                    source: Source::Ollama,
                    path: home.join(".ollama/models"),
                });
            }
            if cfg!(target_os = "linux") {
                // The Linux installer's service account.
                out.push(ScanFolder {
                    source: Source::Ollama,
                    path: PathBuf::from("/usr/share/ollama/.ollama/models"),
                });
            }
        }
    }
    let llama_cache = env("LLAMA_CACHE").or_else(|| {
        if cfg!(target_os = "windows") {
            env("LOCALAPPDATA").map(|d| d.join("llama.cpp"))
        } else if cfg!(target_os = "macos") {
            home.map(|h| h.join("Library/Caches/llama.cpp"))
        } else {
            env("XDG_CACHE_HOME")
                .or_else(|| home.map(|h| h.join(".cache")))
                .map(|d| d.join("llama.cpp"))
        }
    });
    if let Some(path) = llama_cache {
        out.push(ScanFolder {
            source: Source::LlamaCpp,
            path,
        });
    }
    out.retain(|f| f.path.is_dir());
    out.dedup_by(|a, b| a.path == b.path);
    out
}

/// The folders to scan for this user: the apps' own on this computer ([`default_folders`]
/// from the process environment and home folder, unless `with_defaults` is false), then
/// `added` (the user's folders) and `JSLM_MODEL_DIRS` (separated like `PATH`), each once.
/// The CLI and the window both scan exactly these.
pub fn user_folders(with_defaults: bool, added: &[PathBuf], hf_cache: &Path) -> Vec<ScanFolder> {
    let mut folders = if with_defaults {
        let env = |k: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        default_folders(&env, dirs::home_dir().as_deref(), hf_cache)
    } else {
        Vec::new()
    };
    let from_env = std::env::var_os("JSLM_MODEL_DIRS")
        .map(|v| std::env::split_paths(&v).collect::<Vec<_>>())
        .unwrap_or_default();
    for path in added.iter().cloned().chain(from_env) {
        let path = crate::expand_home(&path.to_string_lossy());
        if !folders.iter().any(|f| f.path == path) {
            folders.push(ScanFolder {
                source: Source::Folder,
                path,
            });
        }
    }
    folders
}

/// Looks in `folders` (and nowhere else) for copies of the model `expected` describes.
/// With `verify`, files whose store names a sha256 are hashed (once: `hashes` remembers).
pub fn discover(
    folders: &[ScanFolder],
    expected: &Expected,
    hashes: &mut hashes::HashStore,
    verify: bool,
) -> Discovery {
    let mut discovery = Discovery::default();
    let mut seen = std::collections::BTreeSet::new();
    for folder in folders {
        for candidate in layouts::candidates(folder) {
            // The same file reached twice (a folder listed twice, a link): once.
            let key = std::fs::canonicalize(&candidate.path).unwrap_or(candidate.path.clone());
            if !seen.insert(key) {
                continue;
            }
            match identify::identify(&candidate, expected) {
                Ok(identity) => {
                    let verification = match &candidate.expected_sha256 {
                        None => Verification::NoHashKnown,
                        Some(expected_sha256) => {
                            match hashes.check(&candidate.path, expected_sha256, verify) {
                                Some(matches) => Verification::Checked {
                                    expected_sha256: expected_sha256.clone(),
                                    matches,
                                },
                                None => Verification::NotChecked {
                                    expected_sha256: expected_sha256.clone(),
                                },
                            }
                        }
                    };
                    discovery.found.push(FoundModel {
                        tokenizer_json: candidate
                            .path
                            .parent()
                            .map(|d| d.join("tokenizer.json"))
                            .filter(|t| t.is_file()),
                        path: candidate.path,
                        source: folder.source,
                        name: candidate.name,
                        size_bytes: identity.size_bytes,
                        precision: identity.precision,
                        has_vocabulary: identity.has_vocabulary,
                        verification,
                    });
                }
                Err(reason) => discovery.skipped.push(Skipped {
                    path: candidate.path,
                    reason,
                }),
            }
        }
    }
    discovery
}

#[cfg(test)]
mod tests;
