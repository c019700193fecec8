//! Finding a model in the cache without the network: the commit from `refs/<revision>` (or,
//! when the selection is not complete there, the newest other commit where it is), and the
//! selection's own file list: a catalog model's fixed files plus the shards its safetensors
//! index names, the files asked for, or for a whole repo the list in jslm's manifest or, for
//! a repo Python `huggingface_hub` downloaded, the snapshot folder itself.

use crate::cache::{files_under, HfCache};
use crate::error::HubError;
use crate::manifest::Manifest;
use crate::repo::is_commit_hash;
use crate::request::{
    shards_from_index, DownloadedModel, LocalFile, ModelSpec, Selection, SkippedFile,
};

/// The model of `spec` if every one of its files is in the cache; companions that are missing
/// are reported in `skipped` (they are optional).
pub(crate) fn find_local_spec(
    cache: &HfCache,
    spec: &ModelSpec,
) -> Result<Option<DownloadedModel>, HubError> {
    let Some(mut model) = find_one(cache, spec)? else {
        return Ok(None);
    };
    for companion in &spec.companions {
        match find_one(cache, companion)? {
            Some(found) => model.companions.push(found),
            None => {
                if let Selection::Files(files) = &companion.selection {
                    for file in files {
                        model.skipped.push(SkippedFile {
                            repo: companion.repo.to_string(),
                            file: file.clone(),
                            code: jslm_core::ErrorCode::NotFound,
                            reason: "not in the cache".into(),
                        });
                    }
                }
            }
        }
    }
    Ok(Some(model))
}

fn find_one(cache: &HfCache, spec: &ModelSpec) -> Result<Option<DownloadedModel>, HubError> {
    let Some(commit) = cache.resolve_commit(&spec.repo, &spec.revision) else {
        return Ok(None);
    };
    if let Some(found) = find_at(cache, spec, &commit)? {
        return Ok(Some(found));
    }
    // `refs/<branch>` moves to a new commit as soon as a download of it starts (as in
    // huggingface_hub), also for another selection of the repo (a companion's tokenizer).
    // A selection that is complete only at an older commit is still the model: offline use
    // must find it. A pinned commit means exactly that commit.
    if is_commit_hash(&spec.revision) {
        return Ok(None);
    }
    for older in other_commits(cache, spec, &commit) {
        if let Some(found) = find_at(cache, spec, &older)? {
            return Ok(Some(found));
        }
    }
    Ok(None)
}

/// Commits of the repo other than `current` that have a manifest or a snapshot, newest first
/// (by the manifest's, else the snapshot folder's, modification time).
fn other_commits(cache: &HfCache, spec: &ModelSpec, current: &str) -> Vec<String> {
    let repo_dir = cache.repo_dir(&spec.repo);
    let mut found: Vec<(std::time::SystemTime, String)> = Vec::new();
    for folder in [repo_dir.join("snapshots"), repo_dir.join(".jslm")] {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            let commit = name.strip_suffix(".json").unwrap_or(&name).to_string();
            if commit == current || !is_commit_hash(&commit) {
                continue;
            }
            let time = entry
                .metadata()
                .and_then(|m| m.modified())
                .unwrap_or(std::time::UNIX_EPOCH);
            match found.iter_mut().find(|(_, c)| *c == commit) {
                Some(seen) => seen.0 = seen.0.max(time),
                None => found.push((time, commit)),
            }
        }
    }
    found.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    found.into_iter().map(|(_, c)| c).collect()
}

/// The model of `spec` at `commit`, if every file of its selection is there.
fn find_at(
    cache: &HfCache,
    spec: &ModelSpec,
    commit: &str,
) -> Result<Option<DownloadedModel>, HubError> {
    let snapshot = cache.snapshot_dir(&spec.repo, commit);
    let manifest = Manifest::load(cache, &spec.repo, commit);
    // The manifest holds the files of every selection of this commit: it only says which
    // files a whole-repo request means. A catalog model's files come from the catalog and
    // its index, whatever else was fetched at this commit.
    let candidates: Vec<Vec<String>> = match &spec.selection {
        Selection::Files(files) => vec![files.clone()],
        Selection::Catalog { fixed, shard_index } => {
            let mut names = fixed.clone();
            if let Some(index) = shard_index {
                let path = cache.pointer_path(&spec.repo, commit, index);
                let Ok(json) = std::fs::read(&path) else {
                    return Ok(None);
                };
                names.push(index.clone());
                names.extend(shards_from_index(index, &json)?);
            }
            vec![names]
        }
        Selection::All => match &manifest {
            None => {
                let mut names: Vec<String> = files_under(&snapshot)
                    .into_iter()
                    .map(|(name, _)| name)
                    .collect();
                names.sort();
                vec![names]
            }
            Some(manifest) => {
                // The whole repo if it was fetched; else any model selection fetched here
                // (`jslm download org/x --files a.gguf`, then `--model org/x`).
                let mut selections = manifest.effective_selections();
                selections.retain(|s| s.whole_repo || s.model);
                selections.sort_by_key(|s| !s.whole_repo);
                selections.into_iter().map(|s| s.files).collect()
            }
        },
    };
    for names in candidates {
        if let Some(files) = present(cache, spec, commit, &names, manifest.as_ref()) {
            return Ok(Some(DownloadedModel {
                repo: spec.repo.to_string(),
                revision: spec.revision.clone(),
                commit: commit.to_string(),
                snapshot_dir: snapshot,
                container: spec.container(&names),
                catalog_id: spec.entry.map(|e| e.id.clone()),
                files,
                downloaded_bytes: 0,
                companions: Vec::new(),
                skipped: Vec::new(),
            }));
        }
    }
    Ok(None)
}

/// The files `names` at `commit`, if every one is there (and, where jslm's manifest knows its
/// size, has that size).
fn present(
    cache: &HfCache,
    spec: &ModelSpec,
    commit: &str,
    names: &[String],
    manifest: Option<&Manifest>,
) -> Option<Vec<LocalFile>> {
    if names.is_empty() {
        return None;
    }
    let mut files = Vec::with_capacity(names.len());
    for name in names {
        let path = cache.pointer_path(&spec.repo, commit, name);
        // `metadata` follows the symlink: a dangling link (blob deleted) is "missing".
        let meta = std::fs::metadata(&path).ok()?;
        if !meta.is_file() {
            return None;
        }
        // Where links are not allowed the snapshot holds a copy: a short one (a copy cut off)
        // is not the file.
        let expected = manifest.and_then(|m| m.files.iter().find(|f| &f.name == name));
        if expected.is_some_and(|f| f.size != meta.len()) {
            return None;
        }
        files.push(LocalFile {
            name: name.clone(),
            path,
            size: meta.len(),
        });
    }
    Some(files)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::DownloadRequest;

    const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

    fn put(cache: &HfCache, spec: &ModelSpec, name: &str, etag: &str, content: &[u8]) {
        let blob = cache.blob_path(&spec.repo, etag);
        std::fs::create_dir_all(blob.parent().expect("parent")).expect("mkdir");
        std::fs::write(&blob, content).expect("write");
        cache
            .link_pointer(&spec.repo, COMMIT, name, etag)
            .expect("link");
    }

    #[test]
    fn finds_a_python_style_snapshot_via_refs_and_the_index() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = HfCache::new(dir.path());
        let spec = ModelSpec::from_request(&DownloadRequest::new("jslm-gamma-7b")).expect("spec");
        assert!(find_local_spec(&cache, &spec).expect("ok").is_none());
        cache.write_ref(&spec.repo, "main", COMMIT).expect("ref");
        for (i, f) in [
            "config.json",
            "generation_config.json",
            "tokenizer.json",
            "tokenizer_config.json",
            "special_tokens_map.json",
        ]
        .iter()
        .enumerate()
        {
            put(&cache, &spec, f, &format!("e{i}"), b"{}");
        }
        // No index yet: incomplete.
        assert!(find_local_spec(&cache, &spec).expect("ok").is_none());
        put(&cache, &spec, "model.safetensors.index.json", "ix", br#"{"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}"#);
        put(
            &cache,
            &spec,
            "model-00001-of-00002.safetensors",
            "s1",
            b"1",
        );
        assert!(
            find_local_spec(&cache, &spec).expect("ok").is_none(),
            "second shard missing"
        );
        put(
            &cache,
            &spec,
            "model-00002-of-00002.safetensors",
            "s2",
            b"22",
        );
        let found = find_local_spec(&cache, &spec)
            .expect("ok")
            .expect("complete");
        assert_eq!(found.commit, COMMIT);
        assert_eq!(found.files.len(), 8);
        assert_eq!(
            found
                .file("model-00002-of-00002.safetensors")
                .map(|p| std::fs::read(p).expect("read")),
            Some(b"22".to_vec())
        );
        // A deleted blob makes the model incomplete again.
        std::fs::remove_file(cache.blob_path(&spec.repo, "s1")).expect("rm");
        assert!(find_local_spec(&cache, &spec).expect("ok").is_none());
    }
}
