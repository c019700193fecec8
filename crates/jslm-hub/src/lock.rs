//! Cross-process file locks so two processes (or two tasks) never write the same partial file.
//! Same path and mechanism as huggingface_hub (`<cache>/.locks/<repo folder>/<etag>.lock`,
//! `flock(2)` on Unix via `filelock`), so jslm and Python exclude each other too. The kernel
//! drops the lock when a process dies, so a `kill -9` never leaves a stale lock.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

use fs4::fs_std::FileExt;
use tokio_util::sync::CancellationToken;

use crate::error::HubError;

/// How often a waiting download checks whether the lock is free.
const POLL: Duration = Duration::from_millis(200);

/// An exclusive lock held until dropped.
#[derive(Debug)]
pub struct FileLock {
    file: File,
    path: PathBuf,
}

impl FileLock {
    /// Takes the lock if it is free; `Ok(None)` if someone else holds it.
    pub fn try_acquire(path: &Path) -> Result<Option<Self>, HubError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| HubError::io("create lock folder", dir, e))?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(|e| HubError::io("open lock file", path, e))?;
        match FileExt::try_lock_exclusive(&file) {
            Ok(true) => Ok(Some(Self {
                file,
                path: path.to_path_buf(),
            })),
            Ok(false) => Ok(None),
            Err(e) => Err(HubError::io("lock", path, e)),
        }
    }

    /// Waits for the lock; calls `on_wait` once if it has to wait. Cancellable.
    pub async fn acquire(
        path: &Path,
        cancel: &CancellationToken,
        on_wait: impl FnOnce(),
    ) -> Result<Self, HubError> {
        let mut on_wait = Some(on_wait);
        loop {
            if let Some(lock) = Self::try_acquire(path)? {
                return Ok(lock);
            }
            if let Some(notify) = on_wait.take() {
                notify();
            }
            tokio::select! {
                _ = cancel.cancelled() => return Err(HubError::Cancelled { kept_bytes: 0 }),
                _ = tokio::time::sleep(POLL) => {}
            }
        }
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        // Closing the file releases the lock anyway; unlock explicitly so it is released even
        // if a duplicated descriptor is still open somewhere. The lock file itself stays: removing
        // it would race with a process that has just opened it (filelock does the same).
        let _ = FileExt::unlock(&self.file);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn second_holder_waits_until_the_first_drops() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(".locks/models--a--b/etag.lock");
        let first = FileLock::try_acquire(&path).expect("io").expect("free");
        assert!(
            FileLock::try_acquire(&path).expect("io").is_none(),
            "flock excludes a second open file"
        );
        let cancel = CancellationToken::new();
        let waited = std::sync::atomic::AtomicBool::new(false);
        let path2 = path.clone();
        let release = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            drop(first);
        });
        let second = FileLock::acquire(&path2, &cancel, || {
            waited.store(true, std::sync::atomic::Ordering::SeqCst)
        })
        .await
        .expect("acquired after release");
        assert!(waited.load(std::sync::atomic::Ordering::SeqCst));
        assert_eq!(second.path(), path.as_path());
        release.await.expect("join");
    }

    #[tokio::test]
    async fn waiting_is_cancellable() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("x.lock");
        let _held = FileLock::try_acquire(&path).expect("io").expect("free");
        let cancel = CancellationToken::new();
        cancel.cancel();
        let err = FileLock::acquire(&path, &cancel, || {})
            .await
            .expect_err("cancelled");
        assert_eq!(err.code(), "download_cancelled");
    }
}
