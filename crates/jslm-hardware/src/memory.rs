//! System RAM: how much there is and how much a model load could take now.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// RAM as seen by this process.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemMemory {
    /// Installed RAM in bytes, or the container's memory limit when that is lower.
    pub total_bytes: u64,
    /// Bytes a new allocation can get without swapping, in bytes: the kernel's `MemAvailable`
    /// (free plus reclaimable cache), capped by the container limit minus its anonymous memory.
    pub available_bytes: u64,
}

/// A cgroup memory limit: the limit and the anonymous (non-reclaimable) memory charged to it,
/// both in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CgroupMemory {
    pub limit_bytes: u64,
    pub anonymous_bytes: u64,
}

impl SystemMemory {
    /// Reads RAM through `sysinfo`, honouring a cgroup (Docker, Flatpak, systemd slice) limit.
    pub fn detect() -> Self {
        let mut system = sysinfo::System::new();
        // `cgroup_limits` asserts that memory was refreshed first.
        system.refresh_memory();
        let cgroup = cgroup_if_known(system.total_memory(), || {
            // This process's own cgroup and those above it first: sysinfo reads only the
            // hierarchy's root, which misses a systemd unit's `MemoryMax` (`systemd-run -p
            // MemoryMax=4G jslm-desktop`) unless the cgroup is namespaced (Docker).
            std::fs::read_to_string("/proc/self/cgroup")
                .ok()
                .and_then(|own| cgroup_memory(&own, Path::new("/sys/fs/cgroup")))
                .or_else(|| {
                    system.cgroup_limits().map(|limits| CgroupMemory {
                        limit_bytes: limits.total_memory,
                        anonymous_bytes: limits.rss,
                    })
                })
        });
        Self::combine(system.total_memory(), system.available_memory(), cgroup)
    }

    /// Applies a cgroup limit to the host's numbers. The cgroup's free memory is taken as its
    /// limit minus its *anonymous* memory, not minus `memory.current`: the latter counts page
    /// cache (e.g. the model file just downloaded), which the kernel reclaims on demand.
    pub(crate) fn combine(
        host_total: u64,
        host_available: u64,
        cgroup: Option<CgroupMemory>,
    ) -> Self {
        let host_available = host_available.min(host_total);
        match cgroup {
            Some(cg) if cg.limit_bytes < host_total => {
                let cgroup_available = cg.limit_bytes.saturating_sub(cg.anonymous_bytes);
                Self {
                    total_bytes: cg.limit_bytes,
                    available_bytes: host_available.min(cgroup_available),
                }
            }
            _ => Self {
                total_bytes: host_total,
                available_bytes: host_available,
            },
        }
    }
}

/// The cgroup limit, asked only when the host's RAM was read: sysinfo's `cgroup_limits`
/// asserts a non-zero total, and a sandbox with an unreadable or zero `/proc/meminfo` would
/// otherwise crash every front end at start (the plan then reports 0 bytes, which "load
/// anyway" overrides).
fn cgroup_if_known(
    host_total: u64,
    limits: impl FnOnce() -> Option<CgroupMemory>,
) -> Option<CgroupMemory> {
    if host_total == 0 {
        return None;
    }
    limits()
}

/// Limits at or above this are cgroup v1's "no limit" (`PAGE_COUNTER_MAX` pages).
const V1_UNLIMITED: u64 = 1 << 62;

/// The tightest memory limit on this process: of its own cgroup (named in `/proc/self/cgroup`,
/// given as `own`) and each cgroup above it under `root` (`/sys/fs/cgroup`), the one with the
/// least room (limit less its anonymous memory). cgroup v2 (`0::/path`: `memory.max`,
/// `memory.stat` `anon`) or v1 (`N:memory:/path` under `root/memory`: `memory.limit_in_bytes`,
/// `memory.stat` `total_rss`). `None` without a limit anywhere.
pub(crate) fn cgroup_memory(own: &str, root: &Path) -> Option<CgroupMemory> {
    let mut v2 = None;
    let mut v1 = None;
    for line in own.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(id), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if id == "0" && controllers.is_empty() {
            v2 = Some(path);
        } else if controllers.split(',').any(|c| c == "memory") {
            v1 = Some(path);
        }
    }
    let (base, path, limit_file, anon_key) = match (v1, v2) {
        (Some(path), _) => (
            root.join("memory"),
            path,
            "memory.limit_in_bytes",
            "total_rss",
        ),
        (None, Some(path)) => (root.to_path_buf(), path, "memory.max", "anon"),
        (None, None) => return None,
    };
    let relative = Path::new(path.trim_start_matches('/'));
    // `..` in a crafted or odd path must not climb out of the hierarchy.
    if relative
        .components()
        .any(|c| !matches!(c, std::path::Component::Normal(_)))
    {
        return None;
    }
    let mut dir: PathBuf = base.join(relative);
    let mut tightest: Option<CgroupMemory> = None;
    loop {
        let limit = std::fs::read_to_string(dir.join(limit_file))
            .ok()
            .and_then(|t| t.trim().parse::<u64>().ok())
            .filter(|&l| l < V1_UNLIMITED);
        if let Some(limit_bytes) = limit {
            let anonymous_bytes = std::fs::read_to_string(dir.join("memory.stat"))
                .ok()
                .and_then(|stat| stat_value(&stat, anon_key))
                .unwrap_or(0);
            let here = CgroupMemory {
                limit_bytes,
                anonymous_bytes,
            };
            let room = |m: &CgroupMemory| m.limit_bytes.saturating_sub(m.anonymous_bytes);
            if tightest.as_ref().is_none_or(|t| room(&here) < room(t)) {
                tightest = Some(here);
            }
        }
        if dir == base || !dir.pop() || !dir.starts_with(&base) {
            break;
        }
    }
    tightest
}

/// The value of `key` in a `memory.stat` file (`key value` lines).
fn stat_value(stat: &str, key: &str) -> Option<u64> {
    stat.lines().find_map(|line| {
        let (k, v) = line.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(dir: &Path, file: &str, text: &str) {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join(file), text).unwrap();
    }

    #[test]
    fn a_systemd_units_limit_is_found_along_the_own_cgroups_path() {
        let fs = tempfile::tempdir().unwrap();
        let root = fs.path();
        // cgroup v2: the root has no memory.max; the app's scope 4 GiB, its slice 8 GiB.
        let slice = root.join("user.slice/app.slice");
        let scope = slice.join("run-1.scope");
        put(&slice, "memory.max", "8589934592\n");
        put(&slice, "memory.stat", "anon 3221225472\nfile 1\n");
        put(&scope, "memory.max", "4294967296\n");
        put(&scope, "memory.stat", "anon 1073741824\nfile 5\n");
        let own = "0::/user.slice/app.slice/run-1.scope\n";
        let got = cgroup_memory(own, root).unwrap();
        assert_eq!((got.limit_bytes, got.anonymous_bytes), (4 * GIB, GIB));
        // More of the slice used (6 of 8 GiB, 2 left; the scope has 3 left): the slice binds.
        put(&slice, "memory.stat", "anon 6442450944\n");
        let got = cgroup_memory(own, root).unwrap();
        assert_eq!((got.limit_bytes, got.anonymous_bytes), (8 * GIB, 6 * GIB));
        // No limit anywhere, "max" everywhere: none.
        put(&slice, "memory.max", "max\n");
        put(&scope, "memory.max", "max\n");
        assert_eq!(cgroup_memory(own, root), None);
        // A path that climbs out is not followed.
        assert_eq!(cgroup_memory("0::/../../etc\n", root), None);
    }

    #[test]
    fn a_v1_memory_controller_and_its_unlimited_value() {
        let fs = tempfile::tempdir().unwrap();
        let root = fs.path();
        let own = "4:memory:/process_api/abc\n3:cpuset:/\n0::/\n";
        let leaf = root.join("memory/process_api/abc");
        put(
            &root.join("memory"),
            "memory.limit_in_bytes",
            "9223372036854771712\n",
        );
        put(&leaf, "memory.limit_in_bytes", "2147483648\n");
        put(&leaf, "memory.stat", "rss 5\ntotal_rss 1048576\n");
        let got = cgroup_memory(own, root).unwrap();
        assert_eq!((got.limit_bytes, got.anonymous_bytes), (2 * GIB, 1 << 20));
        put(&leaf, "memory.limit_in_bytes", "9223372036854771712\n");
        assert_eq!(cgroup_memory(own, root), None);
        assert_eq!(cgroup_memory("", root), None);
    }

    #[test]
    fn the_cgroup_is_not_asked_when_ram_could_not_be_read() {
        let limit = CgroupMemory {
            limit_bytes: 1,
            anonymous_bytes: 0,
        };
        assert_eq!(cgroup_if_known(0, || panic!("asked")), None);
        assert_eq!(cgroup_if_known(8, || Some(limit)), Some(limit));
    }
    use crate::units::GIB;

    #[test]
    fn combine_table() {
        let cases = [
            // (host total, host available, cgroup, want total, want available)
            (16 * GIB, 10 * GIB, None, 16 * GIB, 10 * GIB),
            // No limit set: sysinfo reports the host total as the limit.
            (
                16 * GIB,
                10 * GIB,
                Some(CgroupMemory {
                    limit_bytes: 16 * GIB,
                    anonymous_bytes: GIB,
                }),
                16 * GIB,
                10 * GIB,
            ),
            // An 8 GiB container on a 64 GiB host with 2 GiB of its own heap.
            (
                64 * GIB,
                50 * GIB,
                Some(CgroupMemory {
                    limit_bytes: 8 * GIB,
                    anonymous_bytes: 2 * GIB,
                }),
                8 * GIB,
                6 * GIB,
            ),
            // Anonymous memory above the limit (swap) must not underflow.
            (
                64 * GIB,
                50 * GIB,
                Some(CgroupMemory {
                    limit_bytes: 8 * GIB,
                    anonymous_bytes: 9 * GIB,
                }),
                8 * GIB,
                0,
            ),
            // A bogus available above total is capped.
            (8 * GIB, 9 * GIB, None, 8 * GIB, 8 * GIB),
        ];
        for (host_total, host_available, cgroup, total, available) in cases {
            let got = SystemMemory::combine(host_total, host_available, cgroup);
            assert_eq!(got.total_bytes, total, "{cgroup:?}");
            assert_eq!(got.available_bytes, available, "{cgroup:?}");
        }
    }

    #[test]
    fn detect_is_sane_here() {
        let memory = SystemMemory::detect();
        assert!(memory.total_bytes > 0);
        assert!(memory.available_bytes <= memory.total_bytes);
    }
}
