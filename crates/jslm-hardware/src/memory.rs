//! System RAM: how much there is and how much a model load could take now.

use serde::{Deserialize, Serialize};

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
            system.cgroup_limits().map(|limits| CgroupMemory {
                limit_bytes: limits.total_memory,
                anonymous_bytes: limits.rss,
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

#[cfg(test)]
mod tests {
    use super::*;

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
