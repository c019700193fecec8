//! What the UI and every history entry record about a model: where it came from (path, Hugging
//! Face repo and revision when known), the sha256 of each weights file, and what runs (the
//! runtime's report: device, precision and why, threads, context).

use jslm_runtime::RunReport;
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
    /// Its name for display (a Hugging Face snapshot: the repo's name).
    pub name: String,
    /// `org/name` when the files sit in a Hugging Face cache snapshot.
    pub repo: Option<String>,
    /// The snapshot's commit hash.
    pub revision: Option<String>,
    /// The chosen weights files (before any in-app quantization) and their hashes.
    pub files: Vec<FileDigest>,
    /// What runs. `None` only in history entries written before it was recorded.
    #[serde(default)]
    pub run: Option<RunReport>,
}

/// Where a model came from, gathered before or while loading.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Provenance {
    pub repo: Option<String>,
    pub revision: Option<String>,
    pub files: Vec<FileDigest>,
}

impl ModelSummary {
    pub fn new(path: &Path, name: String, provenance: Provenance, run: RunReport) -> Self {
        Self {
            path: path.to_path_buf(),
            name,
            repo: provenance.repo,
            revision: provenance.revision,
            files: provenance.files,
            run: Some(run),
        }
    }

    #[cfg(test)]
    pub fn for_tests(path: &str) -> Self {
        Self {
            path: path.into(),
            name: path.rsplit('/').next().unwrap_or(path).into(),
            repo: None,
            revision: None,
            files: vec![],
            run: Some(RunReport::fixture(Path::new(path))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_from_before_the_run_report_still_read() {
        let old = r#"{"path":"/m/tiny","name":"tiny","repo":null,"revision":null,"files":[],
            "format":"safetensors","precision":"f32","quantization":null,"context_length":4096,
            "device":"cpu"}"#;
        let summary: ModelSummary = serde_json::from_str(old).unwrap();
        assert_eq!(summary.name, "tiny");
        assert_eq!(summary.run, None);
        let new = ModelSummary::for_tests("/m/tiny");
        let json = serde_json::to_value(&new).unwrap();
        assert_eq!(json["run"]["precision"], "f32");
        assert_eq!(json["run"]["device"]["kind"], "cpu");
        assert_eq!(json["run"]["threads"], 2);
    }
}
