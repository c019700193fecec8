//! What is in the cache: every model with its revisions (complete / partial with % /
//! verified, disk use). A revision's status is that of the model selections jslm downloaded
//! there, each counted on its own files (see [`crate::manifest`]); deleting is in
//! [`crate::remove`].

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::cache::{files_under, HfCache};
use crate::catalog::catalog;
use crate::error::HubError;
use crate::manifest::Manifest;
use crate::repo::RepoId;
use jslm_core::Container;

pub use crate::remove::{delete_model, discard_download};

/// State of one downloaded revision.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum InstallStatus {
    /// Every file is present. `verified`: jslm checked every file's sha256/git oid.
    Complete { verified: bool },
    /// Some files are missing or partial.
    Partial { percent: f64 },
}

/// One revision (commit) of a model in the cache.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct InstalledRevision {
    /// Commit hash.
    pub commit: String,
    /// Branches/tags pointing to it (`main`).
    pub refs: Vec<String>,
    /// Complete or partial.
    pub status: InstallStatus,
    /// Number of files (expected files when a manifest exists).
    pub files: usize,
    /// Bytes present (complete files plus partial downloads).
    pub present_bytes: u64,
    /// Total bytes, when known (jslm's manifest).
    pub expected_bytes: Option<u64>,
    /// `snapshots/<commit>`.
    pub snapshot_dir: PathBuf,
    /// The models downloaded at this commit, each with its own status (a GGUF repo's
    /// variants); empty for a snapshot jslm has no manifest of.
    #[serde(default)]
    pub selections: Vec<InstalledSelection>,
}

/// One model selection of a revision: a catalog model, a GGUF variant, files a user named.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct InstalledSelection {
    /// Catalog id, if the selection is a catalog model.
    pub catalog_id: Option<String>,
    /// Its files.
    pub files: Vec<String>,
    /// Complete or partial, counting only these files.
    pub status: InstallStatus,
}

/// A model in the cache.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct InstalledModel {
    /// Repo id.
    pub repo: String,
    /// Catalog id, if the repo is in the catalog.
    pub catalog_id: Option<String>,
    /// Engine path, if known.
    pub container: Option<Container>,
    /// `<cache>/models--org--name`.
    pub path: PathBuf,
    /// Bytes used on disk by blobs and partial downloads.
    pub disk_bytes: u64,
    /// Bytes of partial downloads (`blobs/*.incomplete`), included in `disk_bytes`. A repo
    /// that holds only another model's companion files has `disk_bytes > 0`, no revision and
    /// no partial bytes: not downloaded.
    #[serde(default)]
    pub partial_bytes: u64,
    /// Revisions that hold (part of) a model, sorted by commit. A commit where only another
    /// model's companion files were fetched (the official repo's tokenizer for a GGUF build)
    /// is not listed: it is no download of this repo's model.
    pub revisions: Vec<InstalledRevision>,
}

/// Lists every model in the cache.
pub fn list_installed(cache: &HfCache) -> Result<Vec<InstalledModel>, HubError> {
    let mut out = Vec::new();
    for repo in cache.model_repos()? {
        out.push(inspect(cache, &repo));
    }
    Ok(out)
}

/// Inspects one model (which may be absent: then it has no revisions and 0 bytes).
pub fn inspect(cache: &HfCache, repo: &RepoId) -> InstalledModel {
    let dir = cache.repo_dir(repo);
    let refs = read_refs(&dir.join("refs"));
    let manifests: BTreeMap<String, Manifest> = Manifest::load_all(cache, repo)
        .into_iter()
        .map(|m| (m.commit.clone(), m))
        .collect();
    let mut commits: BTreeSet<String> = manifests.keys().cloned().collect();
    if let Ok(entries) = std::fs::read_dir(dir.join("snapshots")) {
        commits.extend(
            entries
                .flatten()
                .filter(|e| e.path().is_dir())
                .map(|e| e.file_name().to_string_lossy().to_string()),
        );
    }
    let revisions = commits
        .into_iter()
        .filter_map(|commit| {
            let refs = refs.get(&commit).cloned().unwrap_or_default();
            match manifests.get(&commit) {
                Some(manifest) => from_manifest(cache, repo, manifest, refs),
                None => Some(from_snapshot(cache, repo, &commit, refs)),
            }
        })
        .collect();
    let (disk_bytes, partial_bytes) = blob_bytes(&dir.join("blobs"));
    let entry = catalog().find(repo.as_str());
    InstalledModel {
        repo: repo.to_string(),
        catalog_id: entry.map(|e| e.id.clone()),
        container: entry
            .map(|e| e.container)
            .or_else(|| manifests.values().find_map(|m| m.container)),
        disk_bytes,
        partial_bytes,
        path: dir,
        revisions,
    }
}

/// A revision from jslm's manifest: its status is that of its model selections, each counted
/// on its own files (see [`crate::manifest`]). `None` when only companion files were fetched.
fn from_manifest(
    cache: &HfCache,
    repo: &RepoId,
    manifest: &Manifest,
    refs: Vec<String>,
) -> Option<InstalledRevision> {
    let models: Vec<_> = manifest
        .effective_selections()
        .into_iter()
        .filter(|s| s.model)
        .collect();
    if models.is_empty() {
        return None;
    }
    let mut union: Vec<String> = models.iter().flat_map(|s| s.files.clone()).collect();
    union.sort();
    union.dedup();
    let selections: Vec<InstalledSelection> = models
        .iter()
        .map(|s| InstalledSelection {
            catalog_id: s.catalog_id.clone(),
            files: s.files.clone(),
            status: files_state(cache, repo, manifest, &s.files).status(),
        })
        .collect();
    let all = files_state(cache, repo, manifest, &union);
    // Complete when one model is (verified when one complete model is); else the best partial.
    let complete = selections
        .iter()
        .filter_map(|s| match s.status {
            InstallStatus::Complete { verified } => Some(verified),
            InstallStatus::Partial { .. } => None,
        })
        .reduce(|a, b| a || b);
    let status = match complete {
        Some(verified) => InstallStatus::Complete { verified },
        None => InstallStatus::Partial {
            percent: selections
                .iter()
                .filter_map(|s| match s.status {
                    InstallStatus::Partial { percent } => Some(percent),
                    InstallStatus::Complete { .. } => None,
                })
                .fold(0.0, f64::max),
        },
    };
    Some(InstalledRevision {
        commit: manifest.commit.clone(),
        refs,
        status,
        files: union.len(),
        present_bytes: all.present,
        expected_bytes: Some(all.expected),
        snapshot_dir: cache.snapshot_dir(repo, &manifest.commit),
        selections,
    })
}

/// What is there of some files of a manifest.
struct FilesState {
    complete: bool,
    verified: bool,
    present: u64,
    expected: u64,
}

impl FilesState {
    fn status(&self) -> InstallStatus {
        if self.complete {
            InstallStatus::Complete {
                verified: self.verified,
            }
        } else {
            InstallStatus::Partial {
                percent: percent(self.present, self.expected),
            }
        }
    }
}

fn files_state(
    cache: &HfCache,
    repo: &RepoId,
    manifest: &Manifest,
    names: &[String],
) -> FilesState {
    let mut state = FilesState {
        complete: !names.is_empty(),
        verified: true,
        present: 0,
        expected: 0,
    };
    for name in names {
        let Some(file) = manifest.files.iter().find(|f| &f.name == name) else {
            // Named before its size was known (a catalog model whose index is on its way).
            state.complete = false;
            continue;
        };
        state.expected = state.expected.saturating_add(file.size);
        state.verified &= file.verified;
        // The snapshot entry's own size, following links: a copy cut short is not the file.
        let pointer = file_len(&cache.pointer_path(repo, &manifest.commit, &file.name));
        let blob = file_len(&cache.blob_path(repo, &file.etag));
        let present = if pointer == Some(file.size) {
            file.size
        } else {
            state.complete = false;
            blob.filter(|&b| b == file.size).unwrap_or_else(|| {
                file_len(&cache.incomplete_path(repo, &file.etag))
                    .unwrap_or(0)
                    .min(file.size)
            })
        };
        state.present = state.present.saturating_add(present);
    }
    state
}

fn from_snapshot(
    cache: &HfCache,
    repo: &RepoId,
    commit: &str,
    refs: Vec<String>,
) -> InstalledRevision {
    let snapshot = cache.snapshot_dir(repo, commit);
    let names = files_under(&snapshot);
    let mut present = 0;
    let mut ok = 0;
    for (_, path) in &names {
        if let Ok(meta) = std::fs::metadata(path) {
            present = u64::saturating_add(present, meta.len());
            ok += 1;
        }
    }
    let status = if ok == names.len() {
        InstallStatus::Complete { verified: false }
    } else {
        InstallStatus::Partial {
            percent: percent(ok as u64, names.len() as u64),
        }
    };
    InstalledRevision {
        commit: commit.to_string(),
        refs,
        status,
        files: names.len(),
        present_bytes: present,
        expected_bytes: None,
        snapshot_dir: snapshot,
        selections: Vec::new(),
    }
}

/// Of a partial download: with no size known yet (a catalog model stopped before its index
/// arrived) nothing is known to be there, so 0 %, never 100 %.
fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        (part as f64 * 1000.0 / whole as f64).floor() / 10.0
    }
}

fn file_len(path: &Path) -> Option<u64> {
    std::fs::metadata(path).ok().map(|m| m.len())
}

/// (all bytes, bytes of `*.incomplete`) of the files in `blobs/`.
fn blob_bytes(dir: &Path) -> (u64, u64) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return (0, 0);
    };
    let mut all = 0u64;
    let mut partial = 0u64;
    for entry in entries.flatten() {
        let Ok(meta) = entry.metadata() else { continue };
        if !meta.is_file() {
            continue;
        }
        all = all.saturating_add(meta.len());
        if entry.file_name().to_string_lossy().ends_with(".incomplete") {
            partial = partial.saturating_add(meta.len());
        }
    }
    (all, partial)
}

/// `refs/**` → commit → ref names.
fn read_refs(refs_dir: &Path) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, path) in files_under(refs_dir) {
        if let Ok(commit) = std::fs::read_to_string(&path) {
            out.entry(commit.trim().to_string()).or_default().push(name);
        }
    }
    for names in out.values_mut() {
        names.sort();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lock::FileLock;
    use crate::manifest::{ManifestFile, ManifestSelection};

    const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

    #[test]
    fn partial_then_complete_then_deleted() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = HfCache::new(dir.path());
        let repo = RepoId::parse("org/m").expect("id");
        cache.write_ref(&repo, "main", COMMIT).expect("ref");
        let mut manifest = Manifest {
            repo: "org/m".into(),
            revision: "main".into(),
            commit: COMMIT.into(),
            catalog_id: None,
            container: Some(Container::Gguf),
            selections: Vec::new(),
            files: vec![
                ManifestFile {
                    name: "a.gguf".into(),
                    size: 100,
                    etag: "ea".into(),
                    lfs: true,
                    verified: false,
                },
                ManifestFile {
                    name: "b.json".into(),
                    size: 100,
                    etag: "eb".into(),
                    lfs: false,
                    verified: false,
                },
            ],
        };
        manifest.save(&cache, &repo).expect("save");
        let blobs = cache.repo_dir(&repo).join("blobs");
        std::fs::create_dir_all(&blobs).expect("mkdir");
        std::fs::write(blobs.join("ea.incomplete"), vec![0u8; 50]).expect("partial");
        let m = inspect(&cache, &repo);
        assert_eq!(m.revisions.len(), 1);
        assert_eq!(
            m.revisions[0].status,
            InstallStatus::Partial { percent: 25.0 }
        );
        assert_eq!(m.revisions[0].refs, vec!["main".to_string()]);
        assert_eq!(m.disk_bytes, 50);

        std::fs::remove_file(blobs.join("ea.incomplete")).expect("rm");
        std::fs::write(blobs.join("ea"), vec![0u8; 100]).expect("blob");
        std::fs::write(blobs.join("eb"), vec![0u8; 100]).expect("blob");
        cache
            .link_pointer(&repo, COMMIT, "a.gguf", "ea")
            .expect("link");
        cache
            .link_pointer(&repo, COMMIT, "b.json", "eb")
            .expect("link");
        assert_eq!(
            inspect(&cache, &repo).revisions[0].status,
            InstallStatus::Complete { verified: false }
        );
        manifest.mark_verified(&cache, &repo, "a.gguf").expect("v");
        manifest.mark_verified(&cache, &repo, "b.json").expect("v");
        let listed = list_installed(&cache).expect("list");
        assert_eq!(listed.len(), 1);
        assert_eq!(
            listed[0].revisions[0].status,
            InstallStatus::Complete { verified: true }
        );
        assert_eq!(listed[0].disk_bytes, 200);

        // A held lock (a running download) blocks deletion.
        let lock = FileLock::try_acquire(&cache.lock_path(&repo, "ea"))
            .expect("io")
            .expect("free");
        assert_eq!(
            delete_model(&cache, &repo).expect_err("busy").code(),
            "download_busy"
        );
        drop(lock);
        assert_eq!(delete_model(&cache, &repo).expect("deleted"), 200);
        assert!(list_installed(&cache).expect("list").is_empty());
        assert_eq!(
            delete_model(&cache, &repo).expect_err("gone").code(),
            "not_downloaded"
        );
    }

    #[test]
    fn a_selection_stopped_before_its_sizes_are_known_is_0_percent() {
        // A catalog model stopped while its shard index downloads: the manifest names files
        // whose sizes are not known yet. Nothing of them is there: 0 %, not 100 %.
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = HfCache::new(dir.path());
        let repo = RepoId::parse("org/sharded").expect("id");
        cache.write_ref(&repo, "main", COMMIT).expect("ref");
        Manifest {
            repo: "org/sharded".into(),
            revision: "main".into(),
            commit: COMMIT.into(),
            catalog_id: None,
            container: None,
            selections: vec![ManifestSelection {
                key: ManifestSelection::catalog_key("sharded"),
                files: vec![
                    "config.json".to_string(),
                    "model.safetensors.index.json".to_string(),
                ],
                catalog_id: Some("sharded".into()),
                model: true,
                companion_of: Vec::new(),
                whole_repo: false,
            }],
            files: Vec::new(),
        }
        .save(&cache, &repo)
        .expect("save");
        assert_eq!(
            inspect(&cache, &repo).revisions[0].status,
            InstallStatus::Partial { percent: 0.0 }
        );
    }

    #[cfg(unix)]
    #[test]
    fn python_style_snapshot_without_manifest() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = HfCache::new(dir.path());
        let repo = RepoId::parse("org/py").expect("id");
        let blobs = cache.repo_dir(&repo).join("blobs");
        std::fs::create_dir_all(&blobs).expect("mkdir");
        std::fs::write(blobs.join("e1"), b"abc").expect("blob");
        cache
            .link_pointer(&repo, COMMIT, "x.json", "e1")
            .expect("link");
        cache
            .link_pointer(&repo, COMMIT, "gone.json", "missing")
            .expect("dangling link");
        let m = inspect(&cache, &repo);
        assert_eq!(
            m.revisions[0].status,
            InstallStatus::Partial { percent: 50.0 }
        );
        std::fs::remove_file(cache.pointer_path(&repo, COMMIT, "gone.json")).expect("rm");
        assert_eq!(
            inspect(&cache, &repo).revisions[0].status,
            InstallStatus::Complete { verified: false }
        );
    }
}
