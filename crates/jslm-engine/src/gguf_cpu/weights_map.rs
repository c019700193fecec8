//! The memory map of a GGUF file's weights, on 2 MiB pages where Linux can give them.
//!
//! Why: decoding streams every weight through the cores once per token. Mapped with 4 KiB
//! pages, that is a TLB miss and a page walk every 4 KiB and the hardware prefetchers stop at
//! every page boundary; mapped with 2 MiB pages (the page cache holding the file in 2 MiB
//! folios, mapped by one PMD entry each), Q4_K_M decode on the 2-core AMD EPYC VM went from
//! 4.47–4.86 to 5.35–5.95 tokens/s (4 alternated runs each, `BENCHMARKS.md`), and populating
//! the map fell from ~200 ms to ~20 ms. No copy is made: the pages are the page cache's.
//!
//! Whether the page cache holds a file in 2 MiB folios depends on how it got there: read
//! (readahead, or faults under `MADV_HUGEPAGE`) on a filesystem with large folios (ext4 on the
//! 6.18 kernel here; XFS and others on recent kernels) it does; *written* (a download, a copy)
//! it was in small folios here, and stays so while cached. So: map with `MADV_HUGEPAGE`, populate, and measure (the
//! map's `FilePmdMapped` in `/proc/self/smaps`). Where little of it is on 2 MiB pages, probe one
//! 2 MiB piece: drop it from the cache and read it back. If it comes back on a 2 MiB page, the
//! filesystem can do it, and the whole file is dropped and read back once (a disk read of the
//! file, the cost of a first load after a reboot); later loads find it on 2 MiB pages. If the
//! probe does not (no large folios, THP disabled), nothing more is done.
//!
//! Dropping is `posix_fadvise(DONTNEED)`, which drops only clean pages that no process maps:
//! another program mapping the file keeps its pages, and nothing is ever lost (the file is
//! read-only here and on disk).

use crate::error::{EngineError, Result};
use memmap2::Mmap;
use std::path::Path;

/// The 2 MiB of a PMD mapping.
const HUGE: usize = 2 << 20;
/// Below this share of the file on 2 MiB pages, the probe runs.
const ENOUGH: f64 = 0.5;

/// The weights' map and how much of it is on 2 MiB pages.
pub(crate) struct WeightsMap {
    pub map: Mmap,
    /// Bytes of the map on 2 MiB pages (Linux; 0 elsewhere or where unknown).
    pub huge_bytes: u64,
}

/// Maps `path` read-only, its pages populated up front, on 2 MiB pages where the kernel and
/// filesystem allow (see the module's comment).
pub(crate) fn map_weights(path: &Path) -> Result<WeightsMap> {
    let file = std::fs::File::open(path).map_err(|e| EngineError::io(path, e))?;
    let map = map_file(path, &file)?;
    #[cfg(target_os = "linux")]
    {
        Ok(linux::onto_huge_pages(&file, map))
    }
    #[cfg(not(target_os = "linux"))]
    {
        Ok(WeightsMap { map, huge_bytes: 0 })
    }
}

fn map_file(path: &Path, file: &std::fs::File) -> Result<Mmap> {
    // SAFETY: the map is read-only. Model files are written to a temporary name and renamed
    // into place, never modified in place; a file truncated under us would fault, which is
    // the same contract every mmap-based loader (llama.cpp, safetensors) has.
    let map =
        unsafe { memmap2::MmapOptions::new().map(file) }.map_err(|e| EngineError::io(path, e))?;
    #[cfg(target_os = "linux")]
    {
        // Hints: an error (an old kernel, THP compiled out) only loses the speed-up. With
        // `MADV_HUGEPAGE`, faults on uncached parts read them in 2 MiB folios.
        let _ = map.advise(memmap2::Advice::HugePage);
        populate(&map, 0, map.len());
    }
    Ok(map)
}

/// Faults `len` bytes at `offset` in now (`MADV_POPULATE_READ`, Linux 5.14+), so that the
/// first forward pass does not; where the kernel lacks it, they fault in on first use.
#[cfg(target_os = "linux")]
fn populate(map: &Mmap, offset: usize, len: usize) {
    let _ = map.advise_range(memmap2::Advice::PopulateRead, offset, len);
}

#[cfg(target_os = "linux")]
mod linux {
    use super::*;
    use std::os::fd::AsRawFd;

    pub(super) fn onto_huge_pages(file: &std::fs::File, map: Mmap) -> WeightsMap {
        // The kernel maps a 2 MiB page only where the address and the file offset are both
        // 2 MiB-aligned; offset 0 is at the map's start, so that must be aligned (Linux
        // aligns large file maps where it can give them 2 MiB pages).
        if !(map.as_ptr() as usize).is_multiple_of(HUGE) || map.len() < 2 * HUGE {
            return WeightsMap { map, huge_bytes: 0 };
        }
        let eligible = map.len() / HUGE * HUGE;
        let huge = |map: &Mmap| file_pmd_mapped(map).unwrap_or(0);
        let before = huge(&map);
        if before as f64 >= ENOUGH * eligible as f64 {
            return WeightsMap {
                map,
                huge_bytes: before,
            };
        }
        // The probe: the first 2 MiB dropped from this map and the cache, then read back.
        drop_range(&map, file, 0, HUGE);
        populate(&map, 0, HUGE);
        let probed = huge(&map);
        if probed < before + HUGE as u64 {
            return WeightsMap {
                map,
                huge_bytes: probed,
            };
        }
        drop_range(&map, file, 0, map.len());
        populate(&map, 0, map.len());
        let huge_bytes = huge(&map);
        WeightsMap { map, huge_bytes }
    }

    /// Unmaps `len` bytes at `offset` from this process and asks the kernel to drop them from
    /// the page cache, so that the next access reads them again.
    fn drop_range(map: &Mmap, file: &std::fs::File, offset: usize, len: usize) {
        // SAFETY: `DontNeed` on a read-only shared file mapping only drops this process's
        // page table entries; the next access faults the same bytes in from the file. No
        // reference into the map is held across this call (the model is still loading).
        let _ =
            unsafe { map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, offset, len) };
        // Checked: a length that does not fit `off_t` is never dropped (a hint skipped).
        let (Ok(offset), Ok(len)) = (libc::off_t::try_from(offset), libc::off_t::try_from(len))
        else {
            return;
        };
        // SAFETY: a plain system call on an open descriptor; it only affects caching.
        unsafe {
            libc::posix_fadvise(file.as_raw_fd(), offset, len, libc::POSIX_FADV_DONTNEED);
        }
    }

    /// `FilePmdMapped` of the map's own entry in `/proc/self/smaps`, in bytes.
    fn file_pmd_mapped(map: &Mmap) -> Option<u64> {
        let smaps = std::fs::read_to_string("/proc/self/smaps").ok()?;
        pmd_mapped_at(&smaps, map.as_ptr() as usize)
    }

    /// The `FilePmdMapped` line of the mapping that starts at `start` in `smaps` text.
    pub(super) fn pmd_mapped_at(smaps: &str, start: usize) -> Option<u64> {
        let header = format!("{start:x}-");
        let mut lines = smaps.lines().skip_while(|l| !l.starts_with(&header));
        lines.next()?;
        for line in lines {
            // The next mapping's header: "start-end perms ...", starting with a hex digit.
            if line
                .split_whitespace()
                .next()
                .is_some_and(|w| w.contains('-'))
            {
                return None;
            }
            if let Some(rest) = line.strip_prefix("FilePmdMapped:") {
                let kb: u64 = rest.trim().trim_end_matches("kB").trim().parse().ok()?;
                return kb.checked_mul(1024);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[cfg(target_os = "linux")]
    #[test]
    fn smaps_entries_are_read_for_the_right_mapping_only() {
        let smaps = "\
7f0000000000-7f0000400000 r--s 00000000 fd:01 42 /models/a.gguf
Size:               4096 kB
FilePmdMapped:      2048 kB
Locked:                0 kB
7f0000400000-7f0000800000 r--s 00000000 fd:01 43 /models/b.gguf
Size:               4096 kB
Rss:                   0 kB
7f0000800000-7f0000a00000 rw-p 00000000 00:00 0
FilePmdMapped:      9999 kB
";
        assert_eq!(
            linux::pmd_mapped_at(smaps, 0x7f0000000000),
            Some(2048 * 1024)
        );
        // No FilePmdMapped line before the next mapping: unknown, not the next one's.
        assert_eq!(linux::pmd_mapped_at(smaps, 0x7f0000400000), None);
        assert_eq!(linux::pmd_mapped_at(smaps, 0x7f0000c00000), None);
    }

    /// A file written in small pieces (as a download writes it: small folios in the cache)
    /// maps with every byte intact through the probe and the read-back, whatever the kernel
    /// makes of the 2 MiB hint.
    #[test]
    fn a_freshly_written_file_maps_byte_for_byte() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.gguf");
        let len = 5 * HUGE + 12_345;
        let bytes: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
        let mut file = std::fs::File::create(&path).unwrap();
        for chunk in bytes.chunks(64 << 10) {
            file.write_all(chunk).unwrap();
        }
        file.sync_all().unwrap();
        drop(file);
        for _ in 0..2 {
            let weights = map_weights(&path).unwrap();
            assert_eq!(weights.map.len(), len);
            assert!(
                weights.map[..] == bytes[..],
                "the map's bytes differ from the file's"
            );
            assert!(weights.huge_bytes <= len as u64);
        }
    }
}
