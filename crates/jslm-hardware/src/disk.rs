//! Free space on the filesystem that holds the model cache, so a 14.5 GB download is refused
//! before it starts rather than failing at 99 %.

use crate::error::HardwareError;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Space on the filesystem holding one directory.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiskSpace {
    /// The directory that was asked about (the model cache).
    pub path: PathBuf,
    /// Mount point of the filesystem that contains it.
    pub mount_point: PathBuf,
    /// Bytes free for an unprivileged user.
    pub available_bytes: u64,
    /// Size of the filesystem in bytes.
    pub total_bytes: u64,
}

/// One mounted filesystem, as listed by the OS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Mount {
    pub mount_point: PathBuf,
    pub available_bytes: u64,
    pub total_bytes: u64,
}

impl DiskSpace {
    /// Finds the filesystem holding `path` (which need not exist yet: the cache directory may be
    /// created by the first download) and reads its free space.
    pub fn detect(path: &Path) -> Result<Self, HardwareError> {
        let disks = sysinfo::Disks::new_with_refreshed_list();
        let mounts: Vec<Mount> = disks
            .list()
            .iter()
            .map(|disk| Mount {
                mount_point: disk.mount_point().to_path_buf(),
                available_bytes: disk.available_space(),
                total_bytes: disk.total_space(),
            })
            .collect();
        let resolved = resolve_existing_prefix(path);
        Self::from_mounts(&resolved, &mounts)
            .map(|space| Self {
                path: path.to_path_buf(),
                ..space
            })
            .ok_or_else(|| HardwareError::DiskNotFound {
                path: path.to_path_buf(),
            })
    }

    /// The mount whose mount point is the longest component-wise prefix of `path`
    /// (`/home` contains `/home/a`, not `/homework`).
    pub(crate) fn from_mounts(path: &Path, mounts: &[Mount]) -> Option<Self> {
        mounts
            .iter()
            .filter(|mount| path.starts_with(&mount.mount_point))
            .max_by_key(|mount| mount.mount_point.components().count())
            .map(|mount| Self {
                path: path.to_path_buf(),
                mount_point: mount.mount_point.clone(),
                available_bytes: mount.available_bytes,
                total_bytes: mount.total_bytes,
            })
    }
}

/// Canonicalises the longest existing ancestor of `path` (resolving symlinks such as a cache
/// directory linked onto another disk) and re-appends the part that does not exist yet.
/// Relative paths are taken from the current directory.
fn resolve_existing_prefix(path: &Path) -> PathBuf {
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|dir| dir.join(path))
            .unwrap_or_else(|_| path.to_path_buf())
    };
    let mut missing = Vec::new();
    let mut current = absolute.as_path();
    loop {
        if let Ok(real) = current.canonicalize() {
            return missing.iter().rev().fold(real, |acc, part| acc.join(part));
        }
        match (current.parent(), current.file_name()) {
            (Some(parent), Some(name)) => {
                missing.push(name.to_os_string());
                current = parent;
            }
            _ => return absolute,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::units::GB;

    fn mount(point: &str, available_gb: u64) -> Mount {
        Mount {
            mount_point: PathBuf::from(point),
            available_bytes: available_gb * GB,
            total_bytes: 1000 * GB,
        }
    }

    #[test]
    fn longest_prefix_table() {
        let mounts = vec![
            mount("/", 10),
            mount("/home", 200),
            mount("/home/user/models", 900),
            mount("/homework", 5),
            mount("C:\\", 7),
        ];
        let cases = [
            ("/home/user/.cache/jslm", Some("/home")),
            ("/home/user/models/jslm", Some("/home/user/models")),
            ("/home/user/models", Some("/home/user/models")),
            ("/homework/x", Some("/homework")),
            ("/var/cache", Some("/")),
        ];
        for (path, want) in cases {
            let got = DiskSpace::from_mounts(Path::new(path), &mounts);
            assert_eq!(
                got.as_ref().map(|d| d.mount_point.clone()),
                want.map(PathBuf::from),
                "{path}"
            );
        }
        assert_eq!(DiskSpace::from_mounts(Path::new("/x"), &[]), None);
    }

    #[test]
    fn detect_handles_a_directory_that_does_not_exist_yet() {
        let missing = std::env::temp_dir().join("jslm-hardware-test-missing/a/b");
        let space = DiskSpace::detect(&missing).expect("temp dir is on a mounted filesystem");
        assert_eq!(space.path, missing);
        assert!(space.total_bytes > 0);
    }
}
