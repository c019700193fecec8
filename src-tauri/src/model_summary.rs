//! What the UI and every history entry record about a model: where it came from (path, Hugging
//! Face repo and revision when known), the sha256 of each weights file, and how it runs.

use jslm_engine::ModelInfo;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// One weights file and its sha256 (lowercase hex).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileDigest {
    pub name: String,
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelSummary {
    /// The folder or GGUF file the user chose.
    pub path: PathBuf,
    /// Its last path component, for display.
    pub name: String,
    /// `org/name` when the files sit in a Hugging Face cache snapshot.
    pub repo: Option<String>,
    /// The snapshot's commit hash.
    pub revision: Option<String>,
    /// The chosen weights files (before any in-app quantization) and their hashes.
    pub files: Vec<FileDigest>,
    /// Format of what runs: "safetensors" or "gguf".
    pub format: String,
    /// Element type or GGUF quantization of what runs ("f32", "Q4K", ...).
    pub precision: String,
    /// In-app quantization applied at load ("q4_k_m", "q8_0"), if any.
    pub quantization: Option<String>,
    /// Tokens of prompt + output the model computes exactly.
    pub context_length: usize,
    /// "cpu", "cuda:0", ...
    pub device: String,
}

/// Where a model came from, gathered before or while loading.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Provenance {
    pub repo: Option<String>,
    pub revision: Option<String>,
    pub files: Vec<FileDigest>,
}

impl ModelSummary {
    pub fn new(
        path: &Path,
        provenance: Provenance,
        info: &ModelInfo,
        quantization: Option<&str>,
    ) -> Self {
        Self {
            path: path.to_path_buf(),
            name: display_name(path),
            repo: provenance.repo,
            revision: provenance.revision,
            files: provenance.files,
            format: info.format.to_string(),
            precision: info.precision.clone(),
            quantization: quantization.map(str::to_string),
            context_length: info.context_length,
            device: info.device.clone(),
        }
    }

    #[cfg(test)]
    pub fn for_tests(path: &str) -> Self {
        Self {
            path: path.into(),
            name: display_name(Path::new(path)),
            repo: None,
            revision: None,
            files: vec![],
            format: "safetensors".into(),
            precision: "f32".into(),
            quantization: None,
            context_length: 4096,
            device: "cpu".into(),
        }
    }
}

/// `(org/name, commit)` when `path` lies in a Hugging Face cache snapshot
/// (`…/models--org--name/snapshots/<commit>/…`), the layout `huggingface_hub` writes.
pub fn hf_snapshot(path: &Path) -> Option<(String, String)> {
    let parts: Vec<String> = path
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let i = parts.iter().rposition(|c| c == "snapshots")?;
    let repo = parts.get(i.checked_sub(1)?)?.strip_prefix("models--")?;
    let commit = parts.get(i + 1)?;
    Some((repo.replacen("--", "/", 1), commit.clone()))
}

/// The last component of `path`; for a Hugging Face snapshot folder (named by its commit) the
/// repo's name is more telling.
fn display_name(path: &Path) -> String {
    if let Some((repo, _)) = hf_snapshot(path) {
        return repo;
    }
    path.components()
        .next_back()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names() {
        let cases = [
            ("/models/tiny-mistral", "tiny-mistral"),
            ("/m/model-q4.gguf", "model-q4.gguf"),
            (
                "/c/models--stabilityai--japanese-stablelm-instruct-gamma-7b/snapshots/0123abc",
                "stabilityai/japanese-stablelm-instruct-gamma-7b",
            ),
            ("/", "/"),
        ];
        for (path, name) in cases {
            assert_eq!(display_name(Path::new(path)), name, "{path}");
        }
    }

    #[test]
    fn snapshots() {
        assert_eq!(
            hf_snapshot(Path::new(
                "/c/models--org--a--b/snapshots/c0ffee/model.safetensors"
            )),
            Some(("org/a--b".to_string(), "c0ffee".to_string()))
        );
        assert_eq!(hf_snapshot(Path::new("/c/snapshots/x")), None);
        assert_eq!(hf_snapshot(Path::new("/c/models--o--n/snapshots")), None);
        assert_eq!(hf_snapshot(Path::new("/plain/folder")), None);
    }
}
