//! sha256 of model files, computed once and remembered. Hashing 14 GB takes most of a minute
//! (minutes on a slow disk), so each answer is kept in a small JSON file keyed by the file's
//! canonical path, size and modification time, and reused until one of them changes. One
//! store each for the in-app quantizer's source files, the window's history fingerprints and
//! the CLI's found models.
//!
//! A file in a Hugging Face cache is a link to `blobs/<sha256>`: [`sha256_of_name`] reads the
//! hash from the name for free. [`HashStore::check`] (verifying a file found on disk) reads the
//! bytes instead: there a name is a claim, not a proof.

use crate::error::{EngineError, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Entry {
    /// `len` in the window's `file-hashes.json` before this store replaced its own.
    #[serde(alias = "len")]
    size: u64,
    modified_ns: u128,
    sha256: String,
}

/// Remembered hashes; [`HashStore::save`] writes them back.
#[derive(Debug, Default)]
pub struct HashStore {
    file: Option<PathBuf>,
    entries: BTreeMap<PathBuf, Entry>,
    /// Files hashed by this store (not taken from memory), for reports and tests.
    pub hashed: Vec<PathBuf>,
}

/// Size and modification time of `path`, as remembered.
fn stamp(path: &Path) -> Option<(u64, u128)> {
    let meta = std::fs::metadata(path).ok()?;
    let modified_ns = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    Some((meta.len(), modified_ns))
}

fn key(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

impl HashStore {
    /// The store kept in `file` (missing or unreadable: empty, rewritten on save).
    pub fn open(file: &Path) -> Self {
        let entries = std::fs::read(file)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        Self {
            file: Some(file.to_path_buf()),
            entries,
            hashed: Vec::new(),
        }
    }

    /// A store that remembers nothing between runs.
    pub fn in_memory() -> Self {
        Self::default()
    }

    /// `path`'s sha256 without reading it: from a Hugging Face blob name, or remembered while
    /// the file is unchanged.
    pub fn known(&self, path: &Path) -> Option<String> {
        if let Some(sha256) = sha256_of_name(path) {
            return Some(sha256);
        }
        let (size, modified_ns) = stamp(path)?;
        self.entries
            .get(&key(path))
            .filter(|e| e.size == size && e.modified_ns == modified_ns)
            .map(|e| e.sha256.clone())
    }

    /// `path`'s sha256: [`Self::known`], else read and remembered.
    pub fn sha256(&mut self, path: &Path) -> Result<String> {
        if let Some(sha256) = self.known(path) {
            return Ok(sha256);
        }
        self.compute(path).map_err(|e| EngineError::io(path, e))
    }

    /// Whether `path`'s sha256 is `expected`: remembered when the file is unchanged, computed
    /// from its bytes when `compute`, else `None`.
    pub fn check(&mut self, path: &Path, expected: &str, compute: bool) -> Option<bool> {
        let (size, modified_ns) = stamp(path)?;
        if let Some(e) = self.entries.get(&key(path)) {
            if e.size == size && e.modified_ns == modified_ns {
                return Some(e.sha256.eq_ignore_ascii_case(expected));
            }
        }
        if !compute {
            return None;
        }
        let sha256 = self.compute(path).ok()?;
        Some(sha256.eq_ignore_ascii_case(expected))
    }

    fn compute(&mut self, path: &Path) -> std::io::Result<String> {
        // Stamped before reading: a file changed while it is read is hashed again next time.
        let (size, modified_ns) =
            stamp(path).ok_or_else(|| std::io::Error::other("no metadata"))?;
        let sha256 = sha256_file(path)?;
        self.hashed.push(path.to_path_buf());
        self.entries.insert(
            key(path),
            Entry {
                size,
                modified_ns,
                sha256: sha256.clone(),
            },
        );
        Ok(sha256)
    }

    /// Writes the remembered hashes back (through a temporary file, renamed).
    pub fn save(&self) -> std::io::Result<()> {
        let Some(file) = &self.file else {
            return Ok(());
        };
        if self.hashed.is_empty() {
            // Nothing new: no write (scans without --verify never touch the file).
            return Ok(());
        }
        if let Some(dir) = file.parent() {
            std::fs::create_dir_all(dir)?;
        }
        // Two processes may save at once (the window refreshes its list while the CLI runs):
        // each writes its own partial file, so neither renames the other's away.
        static SAVES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = SAVES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let partial = file.with_extension(format!("json.{}-{n}.partial", std::process::id()));
        std::fs::write(&partial, serde_json::to_vec_pretty(&self.entries)?)?;
        std::fs::rename(&partial, file)
    }
}

/// The sha256 a Hugging Face cache link names: `snapshots/<commit>/<file>` → `blobs/<sha256>`.
pub fn sha256_of_name(path: &Path) -> Option<String> {
    let target = std::fs::read_link(path).ok()?;
    let name = target.file_name()?.to_str()?;
    (name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| name.to_ascii_lowercase())
}

/// sha256 of the file's bytes, as lowercase hex.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    // sha256("hello")
    const HELLO: &str = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

    #[test]
    fn hashes_once_remembers_and_rehashes_a_changed_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("w.safetensors");
        std::fs::write(&file, b"hello").unwrap();
        let store_file = dir.path().join("hashes.json");
        let mut store = HashStore::open(&store_file);
        assert_eq!(store.known(&file), None);
        assert_eq!(store.sha256(&file).unwrap(), HELLO);
        assert_eq!(store.hashed.len(), 1);
        store.save().unwrap();
        // Another run: remembered, not read.
        let mut again = HashStore::open(&store_file);
        assert_eq!(again.known(&file).as_deref(), Some(HELLO));
        assert_eq!(again.sha256(&file).unwrap(), HELLO);
        assert!(again.hashed.is_empty());
        assert_eq!(again.check(&file, HELLO, false), Some(true));
        // Changed (size and time): read again.
        std::fs::write(&file, b"hello!").unwrap();
        assert_eq!(again.known(&file), None);
        assert_ne!(again.sha256(&file).unwrap(), HELLO);
        assert_eq!(again.hashed.len(), 1);
        assert!(again.sha256(&dir.path().join("none")).is_err());
    }

    #[test]
    fn the_windows_older_hash_file_still_reads() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("w.gguf");
        std::fs::write(&file, b"hello").unwrap();
        let (size, modified_ns) = stamp(&file).unwrap();
        let key = key(&file);
        let old = format!(
            r#"{{"{}": {{"len": {size}, "modified_ns": {modified_ns}, "sha256": "{HELLO}"}}}}"#,
            key.display()
        );
        let store_file = dir.path().join("file-hashes.json");
        std::fs::write(&store_file, old).unwrap();
        assert_eq!(
            HashStore::open(&store_file).known(&file).as_deref(),
            Some(HELLO)
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_hub_link_names_its_hash_and_check_still_reads_the_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = dir.path().join("blobs");
        std::fs::create_dir(&blobs).unwrap();
        // A blob whose name claims another content.
        let claimed = "a".repeat(64);
        std::fs::write(blobs.join(&claimed), b"hello").unwrap();
        let link = dir.path().join("model.safetensors");
        std::os::unix::fs::symlink(format!("blobs/{claimed}"), &link).unwrap();
        let mut store = HashStore::in_memory();
        assert_eq!(store.sha256(&link).unwrap(), claimed);
        assert!(store.hashed.is_empty());
        assert_eq!(store.check(&link, &claimed, true), Some(false));
        assert_eq!(store.check(&link, HELLO, false), Some(true));
    }
}
