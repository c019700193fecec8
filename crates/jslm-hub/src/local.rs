//! Finding a model in the cache without the network: the commit from `refs/<revision>`, the
//! file list from jslm's manifest or, for a model Python `huggingface_hub` downloaded, from the
//! catalog (plus the shards its safetensors index names) or the snapshot folder itself.

use std::path::Path;

use crate::cache::HfCache;
use crate::error::HubError;
use crate::manifest::Manifest;
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
    let snapshot = cache.snapshot_dir(&spec.repo, &commit);
    let manifest = Manifest::load(cache, &spec.repo, &commit);
    let names: Vec<String> = match (&spec.selection, &manifest) {
        (Selection::Files(files), _) => files.clone(),
        (_, Some(manifest)) => manifest.files.iter().map(|f| f.name.clone()).collect(),
        (Selection::Catalog { fixed, shard_index }, None) => {
            let mut names = fixed.clone();
            if let Some(index) = shard_index {
                let path = cache.pointer_path(&spec.repo, &commit, index);
                let Ok(json) = std::fs::read(&path) else {
                    return Ok(None);
                };
                names.push(index.clone());
                names.extend(shards_from_index(index, &json)?);
            }
            names
        }
        (Selection::All, None) => {
            let mut names = Vec::new();
            walk(&snapshot, "", &mut names);
            names.sort();
            names
        }
    };
    if names.is_empty() {
        return Ok(None);
    }
    let mut files = Vec::with_capacity(names.len());
    for name in &names {
        let path = cache.pointer_path(&spec.repo, &commit, name);
        // `metadata` follows the symlink: a dangling link (blob deleted) is "missing".
        let Ok(meta) = std::fs::metadata(&path) else {
            return Ok(None);
        };
        if !meta.is_file() {
            return Ok(None);
        }
        files.push(LocalFile {
            name: name.clone(),
            path,
            size: meta.len(),
        });
    }
    Ok(Some(DownloadedModel {
        repo: spec.repo.to_string(),
        revision: spec.revision.clone(),
        commit,
        snapshot_dir: snapshot,
        container: spec.container(&names),
        catalog_id: spec.entry.map(|e| e.id.clone()),
        files,
        downloaded_bytes: 0,
        companions: Vec::new(),
        skipped: Vec::new(),
    }))
}

/// Repo-relative names of the files under `dir`.
fn walk(dir: &Path, prefix: &str, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        let rel = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}/{name}")
        };
        let path = entry.path();
        if path.is_dir() {
            walk(&path, &rel, out);
        } else {
            out.push(rel);
        }
    }
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
