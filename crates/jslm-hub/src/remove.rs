//! Removing downloads from the cache without taking other models' files with them.
//!
//! One repo folder can hold several models' files: two GGUF variants of one repo, or the
//! official model and the tokenizer both GGUF catalog entries fetch from the official repo as
//! their companion. jslm's manifests ([`crate::manifest`]) record which selection asked for
//! which files, so removal works in two steps:
//!
//! 1. *Release* claims: the selection being cancelled or deleted stops being a model
//!    (`model = false`), and a model that gives up its companion removes its id from the
//!    companion selection's `companion_of`. Selections nothing claims any more leave the
//!    manifest.
//! 2. *Collect* what nothing uses: a snapshot entry is removed when no remaining selection of
//!    its commit names it; a blob (and its `.incomplete`) when no remaining manifest file and
//!    no remaining snapshot link leads to it.
//!
//! [`discard_download`] (cancel) removes only what the released selection named; snapshots
//! jslm has no manifest of (Python downloads) are never touched. [`delete_model`] (`jslm rm`,
//! the window's Delete) removes everything in the repo except the files other catalog models
//! still claim there (the GGUF builds' tokenizer in the official repo), and gives up the
//! deleted model's own companion claims in other repos. When nothing is left, the repo folder
//! goes, as before.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::cache::{files_under, HfCache};
use crate::catalog::catalog;
use crate::client::is_hex_digest;
use crate::error::HubError;
use crate::lock::FileLock;
use crate::manifest::{Manifest, ManifestSelection};
use crate::repo::RepoId;
use crate::request::{DownloadRequest, ModelSpec};

/// What a removal takes besides the released selections' files.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// Only the files of released selections (a cancel).
    Released,
    /// Everything no remaining selection claims, including snapshots without manifest and
    /// orphan blobs (a delete).
    Unclaimed,
}

/// Cancels a download for good: removes its partial files, and the files, links and manifest
/// entries of its selection that no other selection or snapshot uses. Returns the bytes freed.
/// A finished model sharing the repo (another variant, or a model whose companion files these
/// are) keeps every one of its files. Files another download is writing right now are left.
pub fn discard_download(cache: &HfCache, request: &DownloadRequest) -> Result<u64, HubError> {
    let spec = ModelSpec::from_request(request)?;
    let mut freed = release(cache, &spec.repo, Scope::Released, &|s| {
        if spec.owns(s) {
            s.model = false;
        }
    })?;
    let id = spec.entry.map(|e| e.id.clone());
    if let Some(id) = id {
        // The companions stay while another selection of the same catalog model (a finished
        // variant) still uses them.
        if !has_model_selection(cache, &spec.repo, &id) {
            for companion in &spec.companions {
                freed = freed.saturating_add(give_up_claim(cache, &companion.repo, &id)?);
            }
        }
    }
    Ok(freed)
}

/// Deletes a model from the cache: every revision, blob, partial file and manifest of `repo`,
/// except the files other catalog models claim there (their companions); then gives up the
/// companion files this model claims in other repos. Returns the bytes freed. Refuses with
/// `busy` while a download holds one of the repo's locks, and with `not_downloaded` when the
/// cache has no folder of `repo`.
pub fn delete_model(cache: &HfCache, repo: &RepoId) -> Result<u64, HubError> {
    let dir = cache.repo_dir(repo);
    if !dir.exists() {
        return Err(HubError::NotInCache {
            repo: repo.to_string(),
            cache: cache.root().to_path_buf(),
        });
    }
    let mut freed = release(cache, repo, Scope::Unclaimed, &|s| s.model = false)?;
    if let Some(entry) = catalog().find(repo.as_str()) {
        for companion in &entry.companions {
            let Ok(other) = RepoId::parse(&companion.repo) else {
                continue;
            };
            if cache.repo_dir(&other).exists() {
                freed = freed.saturating_add(give_up_claim(cache, &other, &entry.id)?);
            }
        }
    }
    Ok(freed)
}

/// Whether a manifest of `repo` still has a model selection of catalog model `id`.
fn has_model_selection(cache: &HfCache, repo: &RepoId, id: &str) -> bool {
    Manifest::load_all(cache, repo).iter().any(|m| {
        m.effective_selections()
            .iter()
            .any(|s| s.model && s.catalog_id.as_deref() == Some(id))
    })
}

/// Step 1 and 2 of the module docs for one repo.
fn release(
    cache: &HfCache,
    repo: &RepoId,
    scope: Scope,
    give_up: &dyn Fn(&mut ManifestSelection),
) -> Result<u64, HubError> {
    let dir = cache.repo_dir(repo);
    if !dir.exists() {
        return Ok(0);
    }
    // A delete holds every lock of the repo, so that no download writes meanwhile; a cancel
    // takes the lock of each blob it removes and leaves a blob someone is writing.
    let mut held = Vec::new();
    if scope == Scope::Unclaimed {
        let lock_dir = cache.root().join(".locks").join(HfCache::folder_name(repo));
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
    }

    // Step 1, per commit: what is released, what is kept.
    let mut released_names: BTreeSet<(String, String)> = BTreeSet::new(); // (commit, name)
    let mut released_etags: BTreeSet<String> = BTreeSet::new();
    let mut kept_names: BTreeSet<(String, String)> = BTreeSet::new();
    let mut kept_etags: BTreeSet<String> = BTreeSet::new();
    for before in Manifest::load_all(cache, repo) {
        let commit = before.commit.clone();
        Manifest::update(cache, repo, &commit, |current| {
            let mut manifest = current?;
            let mut selections = manifest.effective_selections();
            for s in &mut selections {
                give_up(s);
            }
            let (keep, gone): (Vec<_>, Vec<_>) =
                selections.into_iter().partition(|s| s.is_needed());
            let keep_names: BTreeSet<&String> = keep.iter().flat_map(|s| &s.files).collect();
            for name in gone.iter().flat_map(|s| &s.files) {
                if !keep_names.contains(name) {
                    released_names.insert((commit.clone(), name.clone()));
                }
            }
            for file in &manifest.files {
                if keep_names.contains(&file.name) {
                    kept_etags.insert(file.etag.clone());
                } else if (scope == Scope::Unclaimed
                    || gone.iter().any(|s| s.files.contains(&file.name)))
                    // The etag names the blob to remove: a manifest on disk must not be able
                    // to point it outside `blobs/` (the hub's etags are hex digests).
                    && is_hex_digest(&file.etag)
                {
                    released_etags.insert(file.etag.clone());
                }
            }
            kept_names.extend(keep_names.iter().map(|n| (commit.clone(), (*n).clone())));
            manifest.files.retain(|f| keep_names.contains(&f.name));
            manifest.selections = keep;
            (!manifest.selections.is_empty()).then_some(manifest)
        })?;
    }

    // Step 2: snapshot entries.
    let snapshots = dir.join("snapshots");
    let mut pointers: Vec<(String, String, PathBuf)> = Vec::new(); // (commit, name, path)
    if let Ok(entries) = std::fs::read_dir(&snapshots) {
        for entry in entries.flatten() {
            let commit = entry.file_name().to_string_lossy().to_string();
            for (name, path) in files_under(&entry.path()) {
                pointers.push((commit.clone(), name, path));
            }
        }
    }
    for (commit, name, path) in &pointers {
        let key = (commit.clone(), name.clone());
        let remove = if kept_names.contains(&key) {
            false
        } else {
            match scope {
                Scope::Unclaimed => true,
                Scope::Released => released_names.contains(&key),
            }
        };
        if remove {
            if let Some(etag) = link_target(path) {
                released_etags.insert(etag);
            }
            remove_file(path)?;
        } else if let Some(etag) = link_target(path) {
            kept_etags.insert(etag);
        }
    }
    // Blobs: those released and not kept; a delete also takes blobs nothing names.
    let blobs = dir.join("blobs");
    if scope == Scope::Unclaimed {
        if let Ok(entries) = std::fs::read_dir(&blobs) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().to_string();
                let etag = name
                    .strip_suffix(".incomplete")
                    .unwrap_or(&name)
                    .to_string();
                released_etags.insert(etag);
            }
        }
    }
    let mut freed = 0u64;
    for etag in released_etags.difference(&kept_etags) {
        let _lock = if scope == Scope::Released {
            match FileLock::try_acquire(&cache.lock_path(repo, etag))? {
                Some(lock) => Some(lock),
                None => continue, // another download is writing it
            }
        } else {
            None
        };
        for path in [
            cache.blob_path(repo, etag),
            cache.incomplete_path(repo, etag),
        ] {
            if let Ok(meta) = std::fs::symlink_metadata(&path) {
                freed = freed.saturating_add(meta.len());
                remove_file(&path)?;
            }
        }
    }

    // Tidy: empty snapshot folders, refs to commits that are gone, and the repo when empty.
    prune_empty(&snapshots);
    let remaining_manifests: BTreeSet<String> = Manifest::load_all(cache, repo)
        .into_iter()
        .map(|m| m.commit)
        .collect();
    let refs_dir = dir.join("refs");
    for (_, path) in files_under(&refs_dir) {
        let Ok(commit) = std::fs::read_to_string(&path) else {
            continue;
        };
        let commit = commit.trim();
        if !snapshots.join(commit).exists() && !remaining_manifests.contains(commit) {
            remove_file(&path)?;
        }
    }
    prune_empty(&refs_dir);
    let empty = |p: &Path| std::fs::read_dir(p).map_or(true, |mut e| e.next().is_none());
    if empty(&snapshots) && empty(&blobs) && remaining_manifests.is_empty() {
        std::fs::remove_dir_all(&dir).map_err(|e| HubError::io("delete", &dir, e))?;
        drop(held);
        let lock_dir = cache.root().join(".locks").join(HfCache::folder_name(repo));
        if let Err(e) = std::fs::remove_dir_all(&lock_dir) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::debug!(error = %e, "could not remove the lock folder");
            }
        }
    }
    Ok(freed)
}

/// The blob a snapshot symlink leads to (its last path component), if it is a symlink.
fn link_target(path: &Path) -> Option<String> {
    let target = std::fs::read_link(path).ok()?;
    Some(target.file_name()?.to_string_lossy().to_string())
}

fn remove_file(path: &Path) -> Result<(), HubError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(HubError::io("remove", path, e)),
    }
}

/// Catalog model `id` no longer needs its companion files in `repo`: they go unless another
/// model still claims them. Returns the bytes freed.
fn give_up_claim(cache: &HfCache, repo: &RepoId, id: &str) -> Result<u64, HubError> {
    release(cache, repo, Scope::Released, &|s| {
        s.companion_of.retain(|c| c != id)
    })
}

/// Removes empty folders below `dir` (not `dir` itself).
fn prune_empty(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            let path = entry.path();
            prune_empty(&path);
            let _ = std::fs::remove_dir(&path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::ManifestFile;

    /// A manifest on disk names the blobs a removal deletes: an etag that is no hub digest
    /// (here one that climbs out of `blobs/`) is never made into a path to remove.
    #[test]
    fn a_crafted_etag_removes_nothing_outside_the_blobs() {
        let dir = tempfile::tempdir().unwrap();
        let cache = HfCache::new(dir.path().join("hub"));
        let repo = RepoId::parse("a/b").unwrap();
        let outside = dir.path().join("outside");
        std::fs::write(&outside, b"the user's file").unwrap();
        let crafted = "../../../outside".to_string();
        std::fs::create_dir_all(cache.repo_dir(&repo).join("blobs")).unwrap();
        assert_eq!(
            cache.blob_path(&repo, &crafted).canonicalize().unwrap(),
            outside.canonicalize().unwrap(),
            "the path the etag would make"
        );
        let files = vec!["x.gguf".to_string()];
        Manifest {
            repo: "a/b".into(),
            revision: "main".into(),
            commit: "0123456789abcdef0123456789abcdef01234567".into(),
            catalog_id: None,
            container: None,
            files: vec![ManifestFile {
                name: "x.gguf".into(),
                size: 15,
                etag: crafted,
                lfs: true,
                verified: true,
            }],
            selections: vec![ManifestSelection {
                key: ManifestSelection::files_key(&files),
                files,
                catalog_id: None,
                model: true,
                companion_of: Vec::new(),
                whole_repo: false,
            }],
        }
        .save(&cache, &repo)
        .unwrap();
        assert_eq!(
            Manifest::load_all(&cache, &repo).len(),
            1,
            "the manifest is read"
        );
        delete_model(&cache, &repo).unwrap();
        assert!(outside.is_file(), "a file outside the cache was removed");
    }
}
