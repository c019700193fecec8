//! jslm's download manifest, `<repo>/.jslm/<commit>.json`: the files jslm fetched at one commit
//! (sizes, etags, verified flags) and the *selections* that asked for them, written before the
//! first byte and updated as each file is verified. It lets `jslm models` show "partial 42 %"
//! and "verified". huggingface_hub ignores the `.jslm` folder (it only reads `blobs`, `refs`,
//! `snapshots`), and removes it along with the repo folder when it deletes a model.
//!
//! One commit of one repo is often downloaded by several selections: the two GGUF variants of a
//! repo, or the official model and the tokenizer that both GGUF catalog entries fetch from the
//! official repo as a companion. So one manifest per commit keeps the **union** of their files
//! (saving merges: files another selection listed stay, sizes/etags come from the newest save,
//! `verified` flags are kept) plus one [`ManifestSelection`] per selection, keyed by
//! [`ManifestSelection::key`]. Whether a *model* is complete is always asked of one selection's
//! files, never of the union: a tokenizer fetched as a companion does not make the official
//! model "complete", and a paused Q8 does not make a finished Q4 "partial".
//!
//! Manifests written before selections were recorded have `selections: []`; they are read as
//! one selection holding all their files ([`Manifest::effective_selections`]), a companion one
//! when the files are a catalog companion's and no catalog id was recorded.

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

/// One selection downloaded at a commit: a catalog model, a GGUF variant, a companion's files,
/// the whole repo, or files a user named.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ManifestSelection {
    /// Identity, stable across saves: `catalog:<id>` for a catalog model with a shard index
    /// (its shard list is known only after the index arrives), `all` for the whole repo, else
    /// `files:` and the sorted file names.
    pub key: String,
    /// Repo-relative names of the selection's files (for a catalog model: its fixed files, the
    /// index and the shards the index names).
    pub files: Vec<String>,
    /// The catalog model this selection is, if any.
    #[serde(default)]
    pub catalog_id: Option<String>,
    /// Asked for as a model by itself (not only as another model's companion).
    #[serde(default)]
    pub model: bool,
    /// Catalog ids of the models that fetched these files as their companion (a GGUF build's
    /// tokenizer), sorted. A selection with `model == false` and no such id is not needed.
    #[serde(default)]
    pub companion_of: Vec<String>,
    /// The whole repo was asked for (a repo outside the catalog, without `--files`).
    #[serde(default)]
    pub whole_repo: bool,
}

impl ManifestSelection {
    /// Whether anything still asks for this selection's files.
    pub fn is_needed(&self) -> bool {
        self.model || !self.companion_of.is_empty()
    }

    /// The key of catalog model `id` with a shard index.
    pub fn catalog_key(id: &str) -> String {
        format!("catalog:{id}")
    }

    /// The key of a selection of `files` that is not a catalog model with a shard index.
    pub fn files_key(files: &[String]) -> String {
        let mut sorted = files.to_vec();
        sorted.sort();
        sorted.dedup();
        format!("files:{}", sorted.join("\n"))
    }

    /// Merges what `newer` says of the same selection into `self`.
    fn merge(&mut self, newer: &ManifestSelection) {
        self.files = newer.files.clone();
        self.catalog_id = newer.catalog_id.clone().or(self.catalog_id.take());
        self.model |= newer.model;
        self.whole_repo |= newer.whole_repo;
        self.companion_of.extend(newer.companion_of.iter().cloned());
        self.companion_of.sort();
        self.companion_of.dedup();
    }
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
    /// The files of every selection (their union).
    pub files: Vec<ManifestFile>,
    /// The selections downloaded at this commit; empty in manifests written before they were
    /// recorded (see [`Manifest::effective_selections`]).
    #[serde(default)]
    pub selections: Vec<ManifestSelection>,
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
        // Its commit makes paths (its own file, a removal's snapshot): only a commit hash,
        // and only the one its file is named for.
        if !crate::repo::is_commit_hash(commit) {
            return None;
        }
        let text = std::fs::read_to_string(path(cache, repo, commit)).ok()?;
        serde_json::from_str::<Self>(&text)
            .ok()
            .filter(|m| m.commit == commit)
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

    /// The selections, reading a manifest written before selections were recorded as one
    /// selection of all its files: a companion's (of every catalog model whose companion on
    /// this repo lists them all) when it names no catalog id, else a model.
    pub fn effective_selections(&self) -> Vec<ManifestSelection> {
        if !self.selections.is_empty() {
            return self.selections.clone();
        }
        let names: Vec<String> = self.files.iter().map(|f| f.name.clone()).collect();
        let companion_of: Vec<String> = if self.catalog_id.is_some() {
            Vec::new()
        } else {
            crate::catalog::catalog()
                .models
                .iter()
                .filter(|m| {
                    m.companions.iter().any(|c| {
                        c.repo.eq_ignore_ascii_case(&self.repo)
                            && names.iter().all(|n| c.files.contains(n))
                    })
                })
                .map(|m| m.id.clone())
                .collect()
        };
        vec![ManifestSelection {
            key: ManifestSelection::files_key(&names),
            files: names,
            catalog_id: self.catalog_id.clone(),
            model: companion_of.is_empty(),
            companion_of,
            whole_repo: false,
        }]
    }

    /// Writes, merged with the manifest on disk: the union of both file lists (this one's
    /// sizes/etags win), `verified` flags kept, selections merged by key. So two downloads of
    /// one commit, of one selection or of two, never erase each other's files or progress.
    /// Atomic: temp file + rename, under a lock.
    pub fn save(&self, cache: &HfCache, repo: &RepoId) -> Result<(), HubError> {
        Self::update(cache, repo, &self.commit, |existing| {
            let mut merged = self.clone();
            if let Some(existing) = existing {
                for file in &mut merged.files {
                    file.verified |= existing
                        .files
                        .iter()
                        .any(|f| f.name == file.name && f.etag == file.etag && f.verified);
                }
                for file in &existing.files {
                    if !merged.files.iter().any(|f| f.name == file.name) {
                        merged.files.push(file.clone());
                    }
                }
                let mut selections = existing.effective_selections();
                for newer in &self.selections {
                    match selections.iter_mut().find(|s| s.key == newer.key) {
                        Some(old) => old.merge(newer),
                        None => selections.push(newer.clone()),
                    }
                }
                merged.selections = selections;
                merged.catalog_id = merged.catalog_id.or(existing.catalog_id);
                merged.container = merged.container.or(existing.container);
            }
            Some(merged)
        })
    }

    /// Read-modify-write of the manifest of `commit` under its lock: `change` gets what is on
    /// disk and returns what to write (`None`: delete the manifest).
    pub fn update(
        cache: &HfCache,
        repo: &RepoId,
        commit: &str,
        change: impl FnOnce(Option<Manifest>) -> Option<Manifest>,
    ) -> Result<(), HubError> {
        let folder = dir(cache, repo);
        std::fs::create_dir_all(&folder).map_err(|e| HubError::io("create", &folder, e))?;
        let lock_path = folder.join(format!("{commit}.lock"));
        let _lock = loop {
            if let Some(lock) = FileLock::try_acquire(&lock_path)? {
                break lock;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        let target = path(cache, repo, commit);
        let Some(next) = change(Self::load(cache, repo, commit)) else {
            return match std::fs::remove_file(&target) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(HubError::io("remove", &target, e)),
            };
        };
        let tmp = folder.join(format!("{commit}.json.{}.tmp", std::process::id()));
        let text = serde_json::to_string_pretty(&next).map_err(|e| HubError::Protocol {
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
            selections: Vec::new(),
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

    /// A manifest's commit makes paths: one that is not the commit its file is named for
    /// (here one that climbs out of the cache) is not read.
    #[test]
    fn a_manifest_is_read_only_for_its_own_commit() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = HfCache::new(dir.path());
        let repo = RepoId::parse("a/b").expect("id");
        sample().save(&cache, &repo).expect("save");
        assert_eq!(Manifest::load_all(&cache, &repo).len(), 1);
        let mut crafted = serde_json::to_value(sample()).expect("json");
        crafted["commit"] = "../../../elsewhere".into();
        std::fs::write(path(&cache, &repo, COMMIT), crafted.to_string()).expect("write");
        assert!(Manifest::load(&cache, &repo, COMMIT).is_none());
        assert!(Manifest::load_all(&cache, &repo).is_empty());
        assert!(Manifest::load(&cache, &repo, "../x").is_none());
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

    #[test]
    fn two_selections_of_one_commit_keep_the_union_and_old_manifests_still_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = HfCache::new(dir.path());
        let repo = RepoId::parse("a/b").expect("id");
        let file = |name: &str| ManifestFile {
            name: name.into(),
            size: 1,
            etag: format!("e-{name}"),
            lfs: false,
            verified: false,
        };
        let selection = |names: &[&str], model: bool| {
            let files: Vec<String> = names.iter().map(|n| n.to_string()).collect();
            ManifestSelection {
                key: ManifestSelection::files_key(&files),
                files,
                catalog_id: None,
                model,
                companion_of: if model { vec![] } else { vec!["gguf".into()] },
                whole_repo: false,
            }
        };
        let mut q4 = sample();
        q4.files = vec![file("q4.gguf")];
        q4.selections = vec![selection(&["q4.gguf"], true)];
        q4.save(&cache, &repo).expect("save q4");
        let mut tok = sample();
        tok.container = None;
        tok.files = vec![file("tokenizer.json")];
        tok.selections = vec![selection(&["tokenizer.json"], false)];
        tok.save(&cache, &repo).expect("save tokenizer");
        let loaded = Manifest::load(&cache, &repo, COMMIT).expect("load");
        let names: Vec<&str> = loaded.files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["tokenizer.json", "q4.gguf"], "the union");
        assert_eq!(loaded.selections.len(), 2);
        assert_eq!(
            loaded.container,
            Some(Container::Gguf),
            "kept from the model"
        );
        // The same selection again merges into one.
        q4.save(&cache, &repo).expect("save again");
        assert_eq!(
            Manifest::load(&cache, &repo, COMMIT)
                .expect("load")
                .selections
                .len(),
            2
        );

        // A manifest from before selections: one selection of all its files; a companion's
        // when the files are a catalog companion's and no catalog id was recorded.
        let legacy = r#"{"repo": "stabilityai/japanese-stablelm-instruct-gamma-7b",
            "revision": "main", "commit": "c", "files": [
            {"name": "tokenizer.json", "size": 1, "etag": "e", "lfs": false, "verified": true}]}"#;
        let legacy: Manifest = serde_json::from_str(legacy).expect("old manifest parses");
        let selections = legacy.effective_selections();
        assert_eq!(selections.len(), 1);
        assert!(!selections[0].model, "the GGUF builds' tokenizer");
        assert!(selections[0]
            .companion_of
            .contains(&"jslm-gamma-7b-gguf".to_string()));
        let mut model = sample();
        model.selections.clear();
        let selections = model.effective_selections();
        assert!(selections[0].model);
        assert_eq!(selections[0].files, ["x.gguf", "c.json"]);
    }
}
