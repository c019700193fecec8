//! Reading and atomically replacing the app's small JSON files (settings, history, hashes).
//!
//! A write goes to a temporary file beside the target, is flushed to disk, then renamed over
//! the target: a crash or a full disk leaves the old file, never half a file. Each write has
//! its own temporary name (process id and a per-process counter, created with `create_new`),
//! so two writers never share one; callers that need the last write to win hold their own lock
//! across the call (`SettingsStore` does).

use crate::error::{AppError, AppResult};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Why a file could not be used.
#[derive(Debug)]
pub enum ReadError {
    /// The file exists but could not be read (permissions, I/O).
    Io(std::io::Error),
    /// The file is not valid JSON of the expected shape.
    Corrupt(String),
}

/// Reads `path` as JSON; `Ok(None)` when it does not exist.
pub fn read<T: DeserializeOwned>(path: &Path) -> Result<Option<T>, ReadError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(ReadError::Io(e)),
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| ReadError::Corrupt(e.to_string()))
}

/// Replaces `path` with `bytes`, atomically (see the module docs).
pub fn write_bytes_atomic(path: &Path, bytes: &[u8]) -> AppResult<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| AppError::storage(dir, e))?;
    let tmp = tmp_path(path);
    let result = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        // Best effort: the temporary file is useless now; the error that matters is `e`.
        let _ = std::fs::remove_file(&tmp);
        return Err(AppError::storage(path, e));
    }
    Ok(())
}

/// Replaces `path` with the pretty-printed JSON of `value`, atomically.
pub fn write_atomic<T: Serialize + ?Sized>(path: &Path, value: &T) -> AppResult<()> {
    let bytes = serde_json::to_vec_pretty(value)
        .map_err(|e| AppError::Internal(format!("serialising {}: {e}", path.display())))?;
    write_bytes_atomic(path, &bytes)
}

/// Keeps a damaged file for inspection instead of overwriting it: `name.json` → `name.json.bad`.
pub fn set_aside(path: &Path) -> PathBuf {
    let mut bad = path.as_os_str().to_owned();
    bad.push(".bad");
    let bad = PathBuf::from(bad);
    // If this fails the next write replaces the damaged file, which is still better than
    // refusing to start.
    let _ = std::fs::rename(path, &bad);
    bad
}

/// `name.json.<pid>-<n>.tmp`, unique within this process and, by the pid, among processes.
fn tmp_path(path: &Path) -> PathBuf {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{}-{n}.tmp", std::process::id()));
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_missing_and_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("a.json");
        assert!(matches!(read::<Vec<u32>>(&path), Ok(None)));
        write_atomic(&path, &vec![1u32, 2, 3]).unwrap();
        assert_eq!(read::<Vec<u32>>(&path).unwrap(), Some(vec![1, 2, 3]));
        // No temporary file is left behind.
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1);

        std::fs::write(&path, b"[1, 2,").unwrap();
        assert!(matches!(
            read::<Vec<u32>>(&path),
            Err(ReadError::Corrupt(_))
        ));
        let bad = set_aside(&path);
        assert!(bad.is_file());
        assert!(!path.exists());
    }

    #[test]
    fn write_into_a_file_path_fails_with_storage_error() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("file");
        std::fs::write(&blocker, b"x").unwrap();
        let err = write_atomic(&blocker.join("a.json"), &1).unwrap_err();
        assert_eq!(err.code(), "storage");
    }
}
