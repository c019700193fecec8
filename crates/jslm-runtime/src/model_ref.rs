//! `ModelRef`: what a user names as "the model" — a folder, a GGUF file, a catalog id or a
//! Hugging Face repo id (with a revision and, for a GGUF repo, a file) — and `ModelSource`: the
//! files on disk it comes to, with its tokenizer and where in the hub cache they lie.

use jslm_hub::{DownloadRequest, DownloadedModel};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// A model as the user names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelRef {
    /// A Hugging Face folder (`config.json` + safetensors) or a GGUF file on disk.
    Path(PathBuf),
    /// A catalog id (`jslm-gamma-7b`) or repo id (`org/name`), from the Hugging Face cache.
    Hub {
        id: String,
        /// Branch, tag or commit; `None`: the catalog's policy, else `main`.
        revision: Option<String>,
        /// For a repo of GGUF files: which one (a file name or a precision such as `Q8_0`).
        variant: Option<String>,
    },
}

impl ModelRef {
    /// Reads what was typed: an existing path, anything that looks like one (absolute,
    /// relative with `.`/`~`, a `.gguf` name, more than one `/`) is a path; otherwise an id.
    pub fn parse(text: &str) -> Self {
        let text = text.trim();
        let path = expand_home(text);
        let looks_like_path = path.exists()
            || text.starts_with(['/', '.', '~', '\\'])
            || text.ends_with(".gguf")
            || text.split('/').count() > 2
            || text.contains(':');
        if looks_like_path || text.is_empty() {
            ModelRef::Path(path)
        } else {
            ModelRef::Hub {
                id: text.to_string(),
                revision: None,
                variant: None,
            }
        }
    }

    /// This reference with a revision (ignored for paths).
    pub fn with_revision(self, revision: Option<String>) -> Self {
        match self {
            ModelRef::Hub { id, variant, .. } => ModelRef::Hub {
                id,
                revision,
                variant,
            },
            path => path,
        }
    }

    /// The hub request for an id; `None` for a path.
    pub fn download_request(&self) -> Option<DownloadRequest> {
        match self {
            ModelRef::Path(_) => None,
            ModelRef::Hub {
                id,
                revision,
                variant,
            } => Some(DownloadRequest {
                model: id.clone(),
                revision: revision.clone(),
                files: variant.iter().cloned().collect(),
            }),
        }
    }
}

/// Trims `text` and expands a leading `~/`.
pub fn expand_home(text: &str) -> PathBuf {
    let text = text.trim();
    if let Some(rest) = text.strip_prefix("~/") {
        if let Some(home) = std::env::var_os("HOME") {
            return Path::new(&home).join(rest);
        }
    }
    PathBuf::from(text)
}

/// The files a model reference came to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModelSource {
    /// The folder (safetensors) or GGUF file the engine reads.
    pub weights: PathBuf,
    /// `tokenizer.json` when it is not beside the weights (a catalog GGUF's comes from the
    /// official repo's snapshot).
    pub tokenizer: Option<PathBuf>,
    /// `org/name` when the files are in the Hugging Face cache.
    pub repo: Option<String>,
    /// The snapshot's commit.
    pub revision: Option<String>,
}

impl ModelSource {
    /// Files on disk, as the user chose them (a path inside a Hugging Face cache snapshot
    /// still names its repo and commit).
    pub fn from_path(path: &Path, tokenizer: Option<PathBuf>) -> Self {
        let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        let snapshot = jslm_engine::description::hf_snapshot(&path);
        Self {
            weights: path,
            tokenizer,
            repo: snapshot.as_ref().map(|(repo, _)| repo.clone()),
            revision: snapshot.map(|(_, commit)| commit),
        }
    }

    /// A downloaded model: its GGUF file or its snapshot folder, and the tokenizer beside it
    /// or in a companion repo's snapshot.
    pub fn from_downloaded(model: &DownloadedModel) -> Self {
        let gguf = model
            .files
            .iter()
            .map(|f| model.snapshot_dir.join(&f.name))
            .find(|p| p.extension().is_some_and(|e| e == "gguf"));
        let weights = gguf.unwrap_or_else(|| model.snapshot_dir.clone());
        let beside = weights
            .parent()
            .map(|d| d.join("tokenizer.json"))
            .filter(|p| p.is_file());
        let tokenizer = match beside {
            Some(_) => None,
            None => std::iter::once(&model.snapshot_dir)
                .chain(model.companions.iter().map(|c| &c.snapshot_dir))
                .map(|d| d.join("tokenizer.json"))
                .find(|p| p.is_file()),
        };
        Self {
            weights,
            tokenizer,
            repo: Some(model.repo.clone()),
            revision: Some(model.commit.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_ids() {
        let cases = [
            ("jslm-gamma-7b", true),
            ("stabilityai/japanese-stablelm-instruct-gamma-7b", true),
            ("/models/tiny", false),
            ("./tiny", false),
            ("~/models/x", false),
            ("model.Q4_K_M.gguf", false),
            ("a/b/c", false),
            ("C:\\models\\x", false),
        ];
        for (text, is_id) in cases {
            let parsed = ModelRef::parse(text);
            assert_eq!(
                matches!(parsed, ModelRef::Hub { .. }),
                is_id,
                "{text}: {parsed:?}"
            );
        }
        let id = ModelRef::parse(" org/m ").with_revision(Some("v1".into()));
        let request = id.download_request().unwrap();
        assert_eq!(request.model, "org/m");
        assert_eq!(request.revision.as_deref(), Some("v1"));
        if let Some(home) = std::env::var_os("HOME") {
            assert_eq!(expand_home("~/m"), Path::new(&home).join("m"));
        }
        assert_eq!(expand_home("  /m/x \n"), PathBuf::from("/m/x"));
    }

    #[test]
    fn a_path_in_the_hub_cache_names_its_repo() {
        let source = ModelSource::from_path(
            Path::new("/c/models--org--name/snapshots/abc/model.gguf"),
            None,
        );
        assert_eq!(source.repo.as_deref(), Some("org/name"));
        assert_eq!(source.revision.as_deref(), Some("abc"));
        let plain = ModelSource::from_path(Path::new("/m/tiny"), None);
        assert_eq!(plain.repo, None);
    }
}
