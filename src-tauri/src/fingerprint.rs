//! The sha256 of each weights file, for the history ("which exact model wrote this?").
//!
//! Hashing 14 GB takes most of a minute, so results are kept in `file-hashes.json` beside the
//! quantized copies (one store with the quantizer and the CLI), keyed by absolute path and
//! reused while the file's size and modification time are unchanged. Files in a Hugging Face cache are named by their hash and cost nothing (the
//! engine's `HashStore` reads the blob name).

use crate::model_summary::{FileDigest, Provenance};
use jslm_engine::description::hf_snapshot;
use jslm_engine::file_hash::HashStore;
use jslm_engine::EngineError;
use std::path::{Path, PathBuf};

/// The cache file; a damaged or unreadable one is treated as empty (hashes are recomputed).
#[derive(Debug)]
pub struct FingerprintCache {
    path: PathBuf,
}

impl FingerprintCache {
    pub fn new(path: PathBuf) -> Self {
        Self { path }
    }

    /// Repo, revision and per-file hashes of `shards`, hashing only files not seen before.
    /// `on_hashing` is called before a file is actually read (so the UI can say why it waits).
    pub fn provenance(
        &self,
        shards: &[PathBuf],
        mut on_hashing: impl FnMut(&Path),
    ) -> Result<Provenance, EngineError> {
        let mut hashes = HashStore::open(&self.path);
        let mut files = Vec::with_capacity(shards.len());
        for shard in shards {
            if hashes.known(shard).is_none() {
                on_hashing(shard);
            }
            files.push(FileDigest {
                name: shard
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                sha256: hashes.sha256(shard)?,
            });
        }
        // Only a cache: failing to write it costs a re-hash next time, nothing more.
        if let Err(e) = hashes.save() {
            eprintln!("jslm-desktop: could not save file hashes: {e}");
        }
        let snapshot = shards.first().and_then(|s| hf_snapshot(s));
        Ok(Provenance {
            repo: snapshot.as_ref().map(|(r, _)| r.clone()),
            revision: snapshot.map(|(_, c)| c),
            files,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // sha256("hello")
    const HELLO: &str = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

    #[test]
    fn hashes_once_and_rehashes_a_changed_file() {
        let dir = tempfile::tempdir().unwrap();
        let weights = dir.path().join("model.safetensors");
        std::fs::write(&weights, b"hello").unwrap();
        let cache = FingerprintCache::new(dir.path().join("file-hashes.json"));

        let mut hashed = 0;
        let p = cache
            .provenance(std::slice::from_ref(&weights), |_| hashed += 1)
            .unwrap();
        assert_eq!(hashed, 1);
        assert_eq!(p.files[0].sha256, HELLO);
        assert_eq!(p.files[0].name, "model.safetensors");
        assert_eq!(p.repo, None);

        let again = cache
            .provenance(std::slice::from_ref(&weights), |_| hashed += 1)
            .unwrap();
        assert_eq!(hashed, 1, "second call must come from the cache");
        assert_eq!(again, p);

        std::fs::write(&weights, b"hello, changed").unwrap();
        let changed = cache
            .provenance(std::slice::from_ref(&weights), |_| hashed += 1)
            .unwrap();
        assert_eq!(hashed, 2);
        assert_ne!(changed.files[0].sha256, HELLO);
    }

    #[test]
    fn damaged_cache_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let weights = dir.path().join("w.gguf");
        std::fs::write(&weights, b"hello").unwrap();
        let cache_path = dir.path().join("file-hashes.json");
        std::fs::write(&cache_path, b"{{{").unwrap();
        let cache = FingerprintCache::new(cache_path);
        let p = cache.provenance(&[weights], |_| {}).unwrap();
        assert_eq!(p.files[0].sha256, HELLO);
    }

    #[test]
    fn missing_file_is_an_engine_error() {
        let dir = tempfile::tempdir().unwrap();
        let cache = FingerprintCache::new(dir.path().join("h.json"));
        let err = cache
            .provenance(&[dir.path().join("nope")], |_| {})
            .unwrap_err();
        assert!(
            ["io", "missing_file"].contains(&err.code().as_str()),
            "{}",
            err.code()
        );
    }
}
