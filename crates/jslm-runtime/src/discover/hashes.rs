//! sha256 of found model files, computed once and remembered: a 4 GB file takes tens of
//! seconds to hash, so each answer is kept in a small JSON file keyed by the file's path,
//! size and modification time, and reused until one of them changes.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Entry {
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

    /// Whether `path`'s sha256 is `expected`: remembered when the file is unchanged, computed
    /// when `compute`, else `None`.
    pub fn check(&mut self, path: &Path, expected: &str, compute: bool) -> Option<bool> {
        let meta = std::fs::metadata(path).ok()?;
        let modified_ns = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        let key = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        if let Some(e) = self.entries.get(&key) {
            if e.size == meta.len() && e.modified_ns == modified_ns {
                return Some(e.sha256.eq_ignore_ascii_case(expected));
            }
        }
        if !compute {
            return None;
        }
        let sha256 = sha256_file(path).ok()?;
        self.hashed.push(path.to_path_buf());
        let matches = sha256.eq_ignore_ascii_case(expected);
        self.entries.insert(
            key,
            Entry {
                size: meta.len(),
                modified_ns,
                sha256,
            },
        );
        Some(matches)
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
        // Two scans may save at once (the window refreshes its list while the CLI runs): each
        // writes its own partial file, so neither renames the other's away.
        static SAVES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = SAVES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let partial = file.with_extension(format!("json.{}-{n}.partial", std::process::id()));
        std::fs::write(&partial, serde_json::to_vec_pretty(&self.entries)?)?;
        std::fs::rename(&partial, file)
    }
}

fn sha256_file(path: &Path) -> std::io::Result<String> {
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
