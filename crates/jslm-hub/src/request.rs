//! What to download ([`DownloadRequest`], plain data a CLI or UI fills in), what came out
//! ([`DownloadedModel`]), and how a request maps to a repo, a revision and a file selection
//! ([`ModelSpec`]), using the catalog when the model is in it.

use std::path::{Path, PathBuf};

use crate::catalog::{catalog, CatalogEntry};
use crate::error::HubError;
use crate::manifest::ManifestSelection;
use crate::repo::{validate_file_name, validate_revision, RepoId};
use jslm_core::{Container, ErrorCode};

/// A download (or cache lookup) request.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DownloadRequest {
    /// A catalog id (`jslm-gamma-7b`) or any repo id (`org/name`).
    pub model: String,
    /// Branch, tag or commit; default: the catalog's revision policy, else `main`.
    #[serde(default)]
    pub revision: Option<String>,
    /// Files to fetch. For a catalog model with variants (GGUF), a file name or quant label
    /// (`Q8_0`) picks the variant. Empty: the catalog's default set, or every file of a repo
    /// that is not in the catalog.
    #[serde(default)]
    pub files: Vec<String>,
}

impl DownloadRequest {
    /// A request for `model` with defaults.
    pub fn new(model: impl Into<String>) -> Self {
        Self {
            model: model.into(),
            revision: None,
            files: Vec::new(),
        }
    }
}

/// One file in the cache.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LocalFile {
    /// Repo-relative name.
    pub name: String,
    /// Path in the snapshot folder (a symlink into `blobs/` on Unix).
    pub path: PathBuf,
    /// Size in bytes.
    pub size: u64,
}

/// A file that was not downloaded because it is optional (see [`crate::catalog::Companion`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SkippedFile {
    /// Repo id.
    pub repo: String,
    /// File name.
    pub file: String,
    /// The error code that caused the skip (`gated_no_token`, ...).
    pub code: ErrorCode,
    /// The error message.
    pub reason: String,
}

/// A model whose files are all in the cache.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DownloadedModel {
    /// Repo id.
    pub repo: String,
    /// Revision asked for.
    pub revision: String,
    /// Commit it is pinned to.
    pub commit: String,
    /// `snapshots/<commit>`.
    pub snapshot_dir: PathBuf,
    /// The files.
    pub files: Vec<LocalFile>,
    /// Engine path, from the catalog or guessed from file extensions.
    pub container: Option<Container>,
    /// Catalog id, if any.
    pub catalog_id: Option<String>,
    /// Bytes transferred by this call (0 when everything was cached).
    pub downloaded_bytes: u64,
    /// Files from other repos (a GGUF model's tokenizer).
    pub companions: Vec<DownloadedModel>,
    /// Optional files that could not be fetched.
    pub skipped: Vec<SkippedFile>,
}

impl DownloadedModel {
    /// Path of `name`, here or in a companion.
    pub fn file(&self, name: &str) -> Option<&Path> {
        self.files
            .iter()
            .find(|f| f.name == name)
            .map(|f| f.path.as_path())
            .or_else(|| self.companions.iter().find_map(|c| c.file(name)))
    }
}

/// Which files of a repo a request means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Selection {
    /// Catalog files plus the shards named by a safetensors index.
    Catalog {
        fixed: Vec<String>,
        shard_index: Option<String>,
    },
    /// Exactly these files.
    Files(Vec<String>),
    /// Everything in the repo.
    All,
}

/// A request resolved against the catalog: no network needed.
#[derive(Debug, Clone)]
pub(crate) struct ModelSpec {
    pub repo: RepoId,
    pub revision: String,
    pub entry: Option<&'static CatalogEntry>,
    pub selection: Selection,
    /// Optional extra repos (companions).
    pub companions: Vec<ModelSpec>,
    /// For a companion: the catalog id of the model it is fetched for.
    pub companion_of: Option<String>,
}

/// A catalog id or repo id → repo id and catalog entry.
pub fn resolve_model(model: &str) -> Result<(RepoId, Option<&'static CatalogEntry>), HubError> {
    match catalog().find(model) {
        Some(entry) => Ok((RepoId::parse(&entry.repo)?, Some(entry))),
        None => Ok((RepoId::parse(model)?, None)),
    }
}

impl ModelSpec {
    pub(crate) fn from_request(request: &DownloadRequest) -> Result<Self, HubError> {
        let (repo, entry) = resolve_model(&request.model)?;
        let revision = request
            .revision
            .clone()
            .or_else(|| entry.map(|e| e.revision.clone()))
            .unwrap_or_else(|| "main".to_string());
        validate_revision(&revision)?;
        let selection = match entry {
            Some(entry) if request.files.is_empty() => match entry.variant(None)? {
                Some(variant) => {
                    let mut files = entry.files.clone();
                    files.push(variant.file.clone());
                    Selection::Files(files)
                }
                None => Selection::Catalog {
                    fixed: entry.files.clone(),
                    shard_index: entry.shard_index.clone(),
                },
            },
            Some(entry) if !entry.variants.is_empty() => {
                let mut files = Vec::new();
                for wanted in &request.files {
                    match entry.variant(Some(wanted)) {
                        Ok(Some(variant)) => files.push(variant.file.clone()),
                        // Not a variant: any other file of the repo (a README, ...).
                        _ if wanted.contains('.') => files.push(wanted.clone()),
                        Ok(None) => files.push(wanted.clone()),
                        Err(err) => return Err(err),
                    }
                }
                Selection::Files(files)
            }
            _ if request.files.is_empty() => Selection::All,
            _ => Selection::Files(request.files.clone()),
        };
        if let Selection::Files(files) = &selection {
            for file in files {
                validate_file_name(file)?;
            }
        }
        let mut companions = Vec::new();
        for companion in entry.map(|e| e.companions.as_slice()).unwrap_or_default() {
            companions.push(ModelSpec {
                repo: RepoId::parse(&companion.repo)?,
                revision: companion.revision.clone(),
                entry: None,
                selection: Selection::Files(companion.files.clone()),
                companions: Vec::new(),
                companion_of: entry.map(|e| e.id.clone()),
            });
        }
        Ok(Self {
            repo,
            revision,
            entry,
            selection,
            companions,
            companion_of: None,
        })
    }

    /// The catalog model this download is, if any: not for a companion's files, which do not
    /// make their repo that repo's catalog model.
    pub(crate) fn model_catalog_id(&self) -> Option<String> {
        self.entry
            .filter(|_| self.companion_of.is_none())
            .map(|e| e.id.clone())
    }

    /// How the manifest records this selection once it resolved to `names`.
    pub(crate) fn manifest_selection(&self, names: &[String]) -> ManifestSelection {
        let key = match (&self.selection, self.entry) {
            (Selection::Catalog { .. }, Some(entry)) => ManifestSelection::catalog_key(&entry.id),
            (Selection::All, _) => "all".to_string(),
            _ => ManifestSelection::files_key(names),
        };
        let mut files = names.to_vec();
        files.sort();
        files.dedup();
        ManifestSelection {
            key,
            files,
            catalog_id: self.model_catalog_id(),
            model: self.companion_of.is_none(),
            companion_of: self.companion_of.iter().cloned().collect(),
            whole_repo: self.selection == Selection::All,
        }
    }

    /// Whether `selection` (from a manifest) is this spec's selection as a model: what a
    /// cancel of this download gives up.
    pub(crate) fn owns(&self, selection: &ManifestSelection) -> bool {
        if self.companion_of.is_some() || !selection.model {
            return false;
        }
        match (&self.selection, self.entry) {
            (Selection::Catalog { .. }, Some(entry)) => {
                selection.key == ManifestSelection::catalog_key(&entry.id)
            }
            (Selection::All, _) => selection.whole_repo,
            (Selection::Files(files), _) => selection.key == ManifestSelection::files_key(files),
            (Selection::Catalog { .. }, None) => false,
        }
    }

    /// The engine path for a set of file names.
    pub(crate) fn container(&self, names: &[String]) -> Option<Container> {
        if let Some(entry) = self.entry {
            return Some(entry.container);
        }
        if names.iter().any(|n| n.ends_with(".gguf")) {
            Some(Container::Gguf)
        } else if names.iter().any(|n| n.ends_with(".safetensors")) {
            Some(Container::Safetensors)
        } else {
            None
        }
    }
}

/// Shard file names from a `model.safetensors.index.json` (`weight_map` values), sorted,
/// deduplicated, validated, relative to the index's folder.
pub(crate) fn shards_from_index(index_name: &str, json: &[u8]) -> Result<Vec<String>, HubError> {
    #[derive(serde::Deserialize)]
    struct Index {
        weight_map: std::collections::BTreeMap<String, String>,
    }
    let index: Index = serde_json::from_slice(json).map_err(|e| HubError::Protocol {
        what: index_name.to_string(),
        message: format!("not a safetensors index: {e}"),
    })?;
    let folder = index_name
        .rsplit_once('/')
        .map(|(dir, _)| format!("{dir}/"))
        .unwrap_or_default();
    let mut shards: Vec<String> = index
        .weight_map
        .into_values()
        .map(|f| format!("{folder}{f}"))
        .collect();
    shards.sort();
    shards.dedup();
    for shard in &shards {
        validate_file_name(shard)?;
    }
    if shards.is_empty() {
        return Err(HubError::Protocol {
            what: index_name.to_string(),
            message: "the index names no shards".into(),
        });
    }
    Ok(shards)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_requests_resolve_to_selections() {
        let official =
            ModelSpec::from_request(&DownloadRequest::new("jslm-gamma-7b")).expect("spec");
        assert_eq!(
            official.repo.as_str(),
            "stabilityai/japanese-stablelm-instruct-gamma-7b"
        );
        assert_eq!(official.revision, "main");
        assert!(
            matches!(&official.selection, Selection::Catalog { shard_index: Some(i), .. } if i == "model.safetensors.index.json")
        );

        let gguf = ModelSpec::from_request(&DownloadRequest::new(
            "TheBloke/japanese-stablelm-instruct-gamma-7B-GGUF",
        ))
        .expect("spec");
        assert_eq!(
            gguf.selection,
            Selection::Files(vec![
                "japanese-stablelm-instruct-gamma-7b.Q4_K_M.gguf".into()
            ])
        );
        assert_eq!(gguf.companions.len(), 1);

        let q8 = DownloadRequest {
            model: "jslm-gamma-7b-gguf".into(),
            revision: Some("v1".into()),
            files: vec!["Q8_0".into()],
        };
        let q8 = ModelSpec::from_request(&q8).expect("spec");
        assert_eq!(
            q8.selection,
            Selection::Files(vec!["japanese-stablelm-instruct-gamma-7b.Q8_0.gguf".into()])
        );
        assert_eq!(q8.revision, "v1");

        let bad = DownloadRequest {
            model: "jslm-gamma-7b-gguf".into(),
            revision: None,
            files: vec!["Q9".into()],
        };
        assert_eq!(
            ModelSpec::from_request(&bad).expect_err("no Q9").code(),
            "invalid_request"
        );
    }

    #[test]
    fn other_repos_and_bad_input() {
        let any = ModelSpec::from_request(&DownloadRequest::new("org/model")).expect("spec");
        assert_eq!(any.selection, Selection::All);
        assert!(any.entry.is_none());
        let one = DownloadRequest {
            model: "org/model".into(),
            revision: None,
            files: vec!["a.gguf".into()],
        };
        let one = ModelSpec::from_request(&one).expect("spec");
        assert_eq!(one.container(&["a.gguf".into()]), Some(Container::Gguf));
        for bad in [
            DownloadRequest::new("not a repo"),
            DownloadRequest {
                model: "org/model".into(),
                revision: Some("../x".into()),
                files: vec![],
            },
            DownloadRequest {
                model: "org/model".into(),
                revision: None,
                files: vec!["../../etc/passwd".into()],
            },
        ] {
            assert_eq!(
                ModelSpec::from_request(&bad).expect_err("bad").code(),
                "invalid_request"
            );
        }
    }

    #[test]
    fn shards_come_from_the_index() {
        let json = br#"{"metadata": {"total_size": 1}, "weight_map": {
            "a": "model-00002-of-00002.safetensors", "b": "model-00001-of-00002.safetensors",
            "c": "model-00001-of-00002.safetensors"}}"#;
        assert_eq!(
            shards_from_index("model.safetensors.index.json", json).expect("shards"),
            vec![
                "model-00001-of-00002.safetensors",
                "model-00002-of-00002.safetensors"
            ]
        );
        assert_eq!(
            shards_from_index("sub/i.json", br#"{"weight_map": {"a": "x.safetensors"}}"#)
                .expect("s"),
            vec!["sub/x.safetensors"]
        );
        assert!(shards_from_index("i.json", br#"{"weight_map": {"a": "../x"}}"#).is_err());
        assert!(shards_from_index("i.json", b"{}").is_err());
        assert!(shards_from_index("i.json", br#"{"weight_map": {}}"#).is_err());
    }
}
