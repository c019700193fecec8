//! jslm's download manifest, `<repo>/.jslm/<commit>.json`: the resolved file list with sizes and
//! etags, written before the first byte and updated as each file is verified. It lets `jslm
//! models` show "partial 42 %" and "verified", and lets `find_local` know which files make the
//! model. huggingface_hub ignores the `.jslm` folder (it only reads `blobs`, `refs`,
//! `snapshots`), and removes it along with the repo folder when it deletes a model.

use std::path::PathBuf;

use crate::cache::HfCache;
use crate::error::HubError;
use crate::lock::FileLock;
use crate::repo::RepoId;
use jslm_core::Container;

/// One file of a pinned download.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ManifestFile {
    /// Repo-relative name.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// Blob name: sha256 for LFS files, git blob id otherwise.
    pub etag: String,
    /// Whether `etag` is a sha256 of the content (LFS).
    pub lfs: bool,
    /// Whether jslm checked the content against `etag` after downloading it.
    pub verified: bool,
}

/// A pinned download: which commit, which files.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Manifest {
    /// Repo id.
    pub repo: String,
    /// The revision asked for (`main`).
    pub revision: String,
    /// The commit it resolved to.
    pub commit: String,
    /// Catalog id, if the model came from the catalog.
    #[serde(default)]
    pub catalog_id: Option<String>,
    /// How the weights are stored, if known (`engine_format` in manifests written before
    /// the rename).
    #[serde(default, alias = "engine_format")]
    pub container: Option<Container>,
    /// The files.
    pub files: Vec<ManifestFile>,
}

fn dir(cache: &HfCache, repo: &RepoId) -> PathBuf {
    cache.repo_dir(repo).join(".jslm")
}

fn path(cache: &HfCache, repo: &RepoId, commit: &str) -> PathBuf {
    dir(cache, repo).join(format!("{commit}.json"))
}

impl Manifest {
    /// Reads the manifest of `commit`, if jslm downloaded it.
    pub fn load(cache: &HfCache, repo: &RepoId, commit: &str) -> Option<Self> {
        let text = std::fs::read_to_string(path(cache, repo, commit)).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// All manifests of a repo (one per downloaded commit).
    pub fn load_all(cache: &HfCache, repo: &RepoId) -> Vec<Self> {
        let Ok(entries) = std::fs::read_dir(dir(cache, repo)) else {
            return Vec::new();
        };
        let mut out: Vec<Self> = entries
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().to_string();
                let commit = name.strip_suffix(".json")?;
                Self::load(cache, repo, commit)
            })
            .collect();
        out.sort_by(|a, b| a.commit.cmp(&b.commit));
        out
    }

    /// Writes (merging `verified` flags already on disk, so two concurrent downloads of one
    /// model do not erase each other's progress). Atomic: temp file + rename, under a lock.
    pub fn save(&self, cache: &HfCache, repo: &RepoId) -> Result<(), HubError> {
        let folder = dir(cache, repo);
        std::fs::create_dir_all(&folder).map_err(|e| HubError::io("create", &folder, e))?;
        let lock_path = folder.join(format!("{}.lock", self.commit));
        let _lock = loop {
            if let Some(lock) = FileLock::try_acquire(&lock_path)? {
                break lock;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        let mut merged = self.clone();
        if let Some(existing) = Self::load(cache, repo, &self.commit) {
            for file in &mut merged.files {
                file.verified |= existing
                    .files
                    .iter()
                    .any(|f| f.name == file.name && f.etag == file.etag && f.verified);
            }
        }
        let target = path(cache, repo, &self.commit);
        let tmp = folder.join(format!("{}.json.{}.tmp", self.commit, std::process::id()));
        let text = serde_json::to_string_pretty(&merged).map_err(|e| HubError::Protocol {
            what: "manifest".into(),
            message: e.to_string(),
        })?;
        std::fs::write(&tmp, text).map_err(|e| HubError::io("write", &tmp, e))?;
        std::fs::rename(&tmp, &target).map_err(|e| HubError::io("replace", &target, e))
    }

    /// Marks one file verified and saves.
    pub fn mark_verified(
        &mut self,
        cache: &HfCache,
        repo: &RepoId,
        name: &str,
    ) -> Result<(), HubError> {
        for file in &mut self.files {
            if file.name == name {
                file.verified = true;
            }
        }
        self.save(cache, repo)
    }

    /// Removes every manifest of a repo.
    pub fn remove_all(cache: &HfCache, repo: &RepoId) -> Result<(), HubError> {
        let folder = dir(cache, repo);
        match std::fs::remove_dir_all(&folder) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(HubError::io("remove", folder, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

    fn sample() -> Manifest {
        Manifest {
            repo: "a/b".into(),
            revision: "main".into(),
            commit: COMMIT.into(),
            catalog_id: None,
            container: Some(Container::Gguf),
            files: vec![
                ManifestFile {
                    name: "x.gguf".into(),
                    size: 10,
                    etag: "e1".into(),
                    lfs: true,
                    verified: false,
                },
                ManifestFile {
                    name: "c.json".into(),
                    size: 2,
                    etag: "e2".into(),
                    lfs: false,
                    verified: false,
                },
            ],
        }
    }

    #[test]
    fn save_load_and_merge_verified_flags() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = HfCache::new(dir.path());
        let repo = RepoId::parse("a/b").expect("id");
        let mut one = sample();
        one.save(&cache, &repo).expect("save");
        assert_eq!(Manifest::load(&cache, &repo, COMMIT), Some(one.clone()));
        one.mark_verified(&cache, &repo, "x.gguf").expect("mark");
        // A second writer with a stale view must not clear the flag.
        let stale = sample();
        stale.save(&cache, &repo).expect("save stale");
        let loaded = Manifest::load(&cache, &repo, COMMIT).expect("load");
        assert!(loaded.files[0].verified);
        assert!(!loaded.files[1].verified);
        assert_eq!(Manifest::load_all(&cache, &repo).len(), 1);
        Manifest::remove_all(&cache, &repo).expect("rm");
        assert!(Manifest::load(&cache, &repo, COMMIT).is_none());
    }
}
