//! The sha256 of each weights file, for the history ("which exact model wrote this?").
//!
//! Hashing 14 GB takes most of a minute, so results are kept in `file-hashes.json` in the app
//! data dir, keyed by absolute path and reused while the file's size and modification time are
//! unchanged. Files in a Hugging Face cache are named by their hash and cost nothing (the
//! engine's `file_sha256` reads the blob name).

use crate::json_file::{self, ReadError};
use crate::model_summary::{FileDigest, Provenance};
use jslm_engine::description::hf_snapshot;
use jslm_engine::quantize::file_sha256;
use jslm_engine::EngineError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Entry {
    len: u64,
    /// Modification time in nanoseconds since the Unix epoch.
    modified_ns: u128,
    sha256: String,
}

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
        let mut cache = self.read();
        let mut changed = false;
        let mut files = Vec::with_capacity(shards.len());
        for shard in shards {
            let key = shard.to_string_lossy().into_owned();
            let stamp = stamp(shard);
            let cached = match (cache.get(&key), stamp) {
                (Some(e), Some((len, modified_ns)))
                    if e.len == len && e.modified_ns == modified_ns =>
                {
                    Some(e.sha256.clone())
                }
                _ => None,
            };
            let sha256 = match cached {
                Some(h) => h,
                None => {
                    on_hashing(shard);
                    let hash = file_sha256(shard)?;
                    if let Some((len, modified_ns)) = stamp {
                        cache.insert(
                            key,
                            Entry {
                                len,
                                modified_ns,
                                sha256: hash.clone(),
                            },
                        );
                        changed = true;
                    }
                    hash
                }
            };
            files.push(FileDigest {
                name: shard
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                sha256,
            });
        }
        if changed {
            // Only a cache: failing to write it costs a re-hash next time, nothing more.
            if let Err(e) = json_file::write_atomic(&self.path, &cache) {
                eprintln!("jslm-desktop: could not save file hashes: {e}");
            }
        }
        let snapshot = shards.first().and_then(|s| hf_snapshot(s));
        Ok(Provenance {
            repo: snapshot.as_ref().map(|(r, _)| r.clone()),
            revision: snapshot.map(|(_, c)| c),
            files,
        })
    }

    fn read(&self) -> BTreeMap<String, Entry> {
        match json_file::read(&self.path) {
            Ok(Some(map)) => map,
            Ok(None) | Err(ReadError::Corrupt(_)) | Err(ReadError::Io(_)) => BTreeMap::new(),
        }
    }
}

fn stamp(path: &Path) -> Option<(u64, u128)> {
    let meta = std::fs::metadata(path).ok()?;
    let modified = meta.modified().ok()?.duration_since(UNIX_EPOCH).ok()?;
    Some((meta.len(), modified.as_nanos()))
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
