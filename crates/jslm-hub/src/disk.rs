//! Free-space checks before the first byte. The number comes from `fs4::available_space`
//! (statvfs / GetDiskFreeSpaceEx on the cache path itself, so it is right for tmpfs, NFS and
//! quotas); the mount point named in messages comes from `sysinfo`'s disk list (longest mount
//! prefix of the path). sysinfo alone would be wrong where it filters a file system out.

use std::fmt::Debug;
use std::path::{Path, PathBuf};

use crate::error::HubError;

/// Where free-space numbers come from; tests inject a fixed value.
pub trait FreeSpace: Send + Sync + Debug {
    /// Bytes available to this user on the file system holding `path` (which exists).
    fn available(&self, path: &Path) -> std::io::Result<u64>;
}

/// The real file system.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemFreeSpace;

impl FreeSpace for SystemFreeSpace {
    fn available(&self, path: &Path) -> std::io::Result<u64> {
        fs4::available_space(path)
    }
}

/// A fixed answer (tests: simulate a nearly full disk without filling one).
#[derive(Debug, Clone, Copy)]
pub struct FixedFreeSpace(pub u64);

impl FreeSpace for FixedFreeSpace {
    fn available(&self, _path: &Path) -> std::io::Result<u64> {
        Ok(self.0)
    }
}

/// The closest existing ancestor of `path` (the cache may not exist yet).
pub(crate) fn existing_ancestor(path: &Path) -> PathBuf {
    let mut current = path;
    loop {
        if current.exists() {
            return current.to_path_buf();
        }
        match current.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => current = parent,
            _ => return PathBuf::from("."),
        }
    }
}

/// The mount point holding `path`, for messages ("9.2 GB free on /home").
pub fn mount_label(path: &Path) -> PathBuf {
    let target =
        std::fs::canonicalize(existing_ancestor(path)).unwrap_or_else(|_| path.to_path_buf());
    let disks = sysinfo::Disks::new_with_refreshed_list();
    disks
        .list()
        .iter()
        .map(|d| d.mount_point())
        .filter(|m| target.starts_with(m))
        .max_by_key(|m| m.as_os_str().len())
        .map(Path::to_path_buf)
        .unwrap_or(target)
}

/// Refuses with [`HubError::DiskFull`] if fewer than `needed` bytes are free for `cache`.
pub fn ensure_free_space(free: &dyn FreeSpace, cache: &Path, needed: u64) -> Result<(), HubError> {
    if needed == 0 {
        return Ok(());
    }
    let probe = existing_ancestor(cache);
    let available = free
        .available(&probe)
        .map_err(|e| HubError::io("check free space on", probe.clone(), e))?;
    if available < needed {
        return Err(HubError::DiskFull {
            needed,
            free: available,
            mount: mount_label(&probe),
            cache: cache.to_path_buf(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_when_short_and_names_the_numbers() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = dir.path().join("not").join("yet");
        ensure_free_space(&FixedFreeSpace(100), &cache, 100).expect("exactly enough");
        ensure_free_space(&FixedFreeSpace(0), &cache, 0).expect("nothing needed");
        let err = ensure_free_space(&FixedFreeSpace(9_200_000_000), &cache, 14_500_000_000)
            .expect_err("short");
        assert_eq!(err.code(), "disk_full");
        let text = err.to_string();
        assert!(
            text.contains("14.5 GB") && text.contains("9.2 GB free on"),
            "{text}"
        );
    }

    #[test]
    fn system_free_space_answers_for_a_missing_cache() {
        let dir = tempfile::tempdir().expect("tempdir");
        ensure_free_space(&SystemFreeSpace, &dir.path().join("a/b/c"), 1).expect("1 byte is free");
        assert_eq!(existing_ancestor(&dir.path().join("a/b")), dir.path());
        assert!(mount_label(dir.path()).is_absolute());
    }
}
