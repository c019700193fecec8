//! Managing what is in the cache: list models (complete / partial with % / verified, disk use)
//! and delete one (blobs, snapshots, refs, partial files, manifest), refusing while a download
//! holds one of its locks.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::cache::HfCache;
use crate::catalog::catalog;
use crate::error::HubError;
use crate::lock::FileLock;
use crate::manifest::Manifest;
use crate::repo::RepoId;
use jslm_core::Container;

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
    /// Revisions, newest knowledge first is not tracked: sorted by commit.
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
        .map(|commit| {
            let refs = refs.get(&commit).cloned().unwrap_or_default();
            match manifests.get(&commit) {
                Some(manifest) => from_manifest(cache, repo, manifest, refs),
                None => from_snapshot(cache, repo, &commit, refs),
            }
        })
        .collect();
    let entry = catalog().find(repo.as_str());
    InstalledModel {
        repo: repo.to_string(),
        catalog_id: entry.map(|e| e.id.clone()),
        container: entry
            .map(|e| e.container)
            .or_else(|| manifests.values().find_map(|m| m.container)),
        disk_bytes: dir_size(&dir.join("blobs")),
        path: dir,
        revisions,
    }
}

fn from_manifest(
    cache: &HfCache,
    repo: &RepoId,
    manifest: &Manifest,
    refs: Vec<String>,
) -> InstalledRevision {
    let mut present = 0;
    let mut complete = true;
    for file in &manifest.files {
        let linked = cache.has_file(repo, &manifest.commit, &file.name);
        let blob = file_len(&cache.blob_path(repo, &file.etag));
        if linked && blob == Some(file.size) {
            present += file.size;
        } else {
            complete = false;
            present += blob.filter(|&b| b == file.size).unwrap_or_else(|| {
                file_len(&cache.incomplete_path(repo, &file.etag))
                    .unwrap_or(0)
                    .min(file.size)
            });
        }
    }
    let expected: u64 = manifest.files.iter().map(|f| f.size).sum();
    let status = if complete {
        InstallStatus::Complete {
            verified: manifest.files.iter().all(|f| f.verified),
        }
    } else {
        InstallStatus::Partial {
            percent: percent(present, expected),
        }
    };
    InstalledRevision {
        commit: manifest.commit.clone(),
        refs,
        status,
        files: manifest.files.len(),
        present_bytes: present,
        expected_bytes: Some(expected),
        snapshot_dir: cache.snapshot_dir(repo, &manifest.commit),
    }
}

fn from_snapshot(
    cache: &HfCache,
    repo: &RepoId,
    commit: &str,
    refs: Vec<String>,
) -> InstalledRevision {
    let snapshot = cache.snapshot_dir(repo, commit);
    let mut names = Vec::new();
    collect_links(&snapshot, &mut names);
    let mut present = 0;
    let mut ok = 0;
    for path in &names {
        if let Ok(meta) = std::fs::metadata(path) {
            present += meta.len();
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
    }
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        100.0
    } else {
        (part as f64 * 1000.0 / whole as f64).floor() / 10.0
    }
}

fn file_len(path: &Path) -> Option<u64> {
    std::fs::metadata(path).ok().map(|m| m.len())
}

fn collect_links(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
        if is_dir {
            collect_links(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .filter_map(|e| e.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum()
}

/// `refs/**` → commit → ref names.
fn read_refs(refs_dir: &Path) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut stack = vec![(refs_dir.to_path_buf(), String::new())];
    while let Some((dir, prefix)) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            let rel = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            };
            let path = entry.path();
            if path.is_dir() {
                stack.push((path, rel));
            } else if let Ok(commit) = std::fs::read_to_string(&path) {
                out.entry(commit.trim().to_string()).or_default().push(rel);
            }
        }
    }
    for names in out.values_mut() {
        names.sort();
    }
    out
}

/// Deletes a model from the cache. Returns the bytes freed. Refuses with `busy` while another
/// process downloads any of its files.
pub fn delete_model(cache: &HfCache, repo: &RepoId) -> Result<u64, HubError> {
    let dir = cache.repo_dir(repo);
    let lock_dir = cache.root().join(".locks").join(HfCache::folder_name(repo));
    if !dir.exists() {
        return Err(HubError::NotFound {
            what: crate::error::Missing::Repo,
            repo: repo.to_string(),
            revision: "any".into(),
            file: None,
        });
    }
    // Hold every lock of the repo while deleting, so no download is writing.
    let mut held = Vec::new();
    if let Ok(entries) = std::fs::read_dir(&lock_dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "lock") {
                match FileLock::try_acquire(&path)? {
                    Some(lock) => held.push(lock),
                    None => {
                        return Err(HubError::Busy {
                            what: repo.to_string(),
                        })
                    }
                }
            }
        }
    }
    let freed = dir_size(&dir.join("blobs"));
    std::fs::remove_dir_all(&dir).map_err(|e| HubError::io("delete", &dir, e))?;
    drop(held);
    match std::fs::remove_dir_all(&lock_dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => tracing::debug!(error = %e, "could not remove the lock folder"),
    }
    Ok(freed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::ManifestFile;

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
            "not_found"
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
