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
//! it was in small folios here, and stays so while cached. So: map with `MADV_HUGEPAGE`,
//! populate what the model runs (the whole file; for a split's CPU half only its tensors), and
//! measure (the map's `FilePmdMapped` in `/proc/self/smaps`). Where little of it is on 2 MiB
//! pages, probe one 2 MiB piece: drop it from the cache and read it back. If it comes back on a
//! 2 MiB page, the filesystem can do it, and what was populated is dropped and read back once
//! (a disk read, the cost of a first load after a reboot); later loads find it on 2 MiB pages.
//! If the probe does not (no large folios, THP disabled), nothing more is done.
//!
//! Dropping is `posix_fadvise(DONTNEED)`, which drops only clean pages that no process maps:
//! another program mapping the file keeps its pages, and nothing is ever lost (the file is
//! read-only here and on disk).

use crate::error::{EngineError, Result};
use memmap2::Mmap;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

/// The 2 MiB of a PMD mapping.
const HUGE: usize = 2 << 20;
/// Below this share of the populated bytes on 2 MiB pages, the probe runs.
const ENOUGH: f64 = 0.5;

/// A GGUF file mapped read-only, nothing faulted in yet: the model views its tensors, then
/// says which bytes it runs ([`Self::populate`]).
pub(crate) struct WeightsFile {
    file: std::fs::File,
    pub map: Arc<Mmap>,
}

/// Maps `path` read-only, asking for 2 MiB pages where the kernel and filesystem allow (see
/// the module's comment).
pub(crate) fn map_weights(path: &Path) -> Result<WeightsFile> {
    let file = std::fs::File::open(path).map_err(|e| EngineError::io(path, e))?;
    // SAFETY: the map is read-only. Model files are written to a temporary name and renamed
    // into place, never modified in place; a file truncated under us would fault, which is
    // the same contract every mmap-based loader (llama.cpp, safetensors) has.
    let map =
        unsafe { memmap2::MmapOptions::new().map(&file) }.map_err(|e| EngineError::io(path, e))?;
    // A hint: an error (an old kernel, THP compiled out) only loses the speed-up. With
    // `MADV_HUGEPAGE`, faults on uncached parts read them in 2 MiB folios.
    #[cfg(target_os = "linux")]
    let _ = map.advise(memmap2::Advice::HugePage);
    Ok(WeightsFile {
        file,
        map: Arc::new(map),
    })
}

impl WeightsFile {
    /// Faults the bytes of `ranges` in now, so that the first forward pass does not, on
    /// 2 MiB pages where possible; returns how many bytes of the map are on 2 MiB pages.
    /// The whole model passes the whole file; a split's CPU half only its own tensors, so
    /// that the GPU's blocks never count in this process's memory.
    ///
    /// Call it while no slice of the map is in use (the model is still loading): the probe
    /// for 2 MiB pages drops and re-reads pages of the map.
    pub fn populate(&self, ranges: &[Range<usize>]) -> u64 {
        #[cfg(target_os = "linux")]
        {
            let ranges = clamped(ranges, self.map.len());
            for r in &ranges {
                populate(&self.map, r.start, r.len());
            }
            linux::onto_huge_pages(&self.file, &self.map, &ranges)
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = (&self.file, ranges);
            0
        }
    }
}

/// `ranges` cut to `0..len`, sorted, with empty ones dropped and touching ones merged.
#[cfg(target_os = "linux")]
fn clamped(ranges: &[Range<usize>], len: usize) -> Vec<Range<usize>> {
    let mut sorted: Vec<Range<usize>> = ranges
        .iter()
        .map(|r| r.start.min(len)..r.end.min(len))
        .filter(|r| !r.is_empty())
        .collect();
    sorted.sort_by_key(|r| r.start);
    let mut out: Vec<Range<usize>> = Vec::with_capacity(sorted.len());
    for r in sorted {
        match out.last_mut() {
            Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
            _ => out.push(r),
        }
    }
    out
}

/// `ranges` widened to whole 2 MiB pieces of a `len`-byte map (a 2 MiB page holds all of
/// one), merged where they meet.
#[cfg(target_os = "linux")]
fn widened(ranges: &[Range<usize>], len: usize) -> Vec<Range<usize>> {
    let out: Vec<Range<usize>> = ranges
        .iter()
        .map(|r| r.start / HUGE * HUGE..r.end.div_ceil(HUGE).saturating_mul(HUGE).min(len))
        .collect();
    clamped(&out, len)
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

    /// `ranges` (sorted, disjoint, inside the map, already populated) onto 2 MiB pages if
    /// the probe says the filesystem can; returns the map's bytes on 2 MiB pages.
    pub(super) fn onto_huge_pages(
        file: &std::fs::File,
        map: &Mmap,
        ranges: &[Range<usize>],
    ) -> u64 {
        let huge = |map: &Mmap| file_pmd_mapped(map).unwrap_or(0);
        // The kernel maps a 2 MiB page only where the address and the file offset are both
        // 2 MiB-aligned; offset 0 is at the map's start, so that must be aligned (Linux
        // aligns large file maps where it can give them 2 MiB pages).
        let wanted: usize = ranges.iter().map(|r| r.len()).sum();
        let eligible = wanted / HUGE * HUGE;
        let Some(first) = ranges.first() else {
            return 0;
        };
        let probe = first.start / HUGE * HUGE;
        if !(map.as_ptr() as usize).is_multiple_of(HUGE)
            || eligible < HUGE
            || probe + HUGE > map.len()
        {
            return huge(map);
        }
        let before = huge(map);
        if before as f64 >= ENOUGH * eligible as f64 {
            return before;
        }
        // The probe: the first 2 MiB piece dropped from this map and the cache, then read back.
        drop_range(map, file, probe, HUGE);
        populate(map, probe, HUGE);
        let probed = huge(map);
        if probed < before + HUGE as u64 {
            return probed;
        }
        for r in widened(ranges, map.len()) {
            drop_range(map, file, r.start, r.len());
            populate(map, r.start, r.len());
        }
        huge(map)
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
        smaps_field(map, "FilePmdMapped:")
    }

    /// A size field (`Rss:`, `FilePmdMapped:`) of the map's own entry in `/proc/self/smaps`,
    /// in bytes.
    pub(super) fn smaps_field(map: &Mmap, field: &str) -> Option<u64> {
        let smaps = std::fs::read_to_string("/proc/self/smaps").ok()?;
        field_at(&smaps, map.as_ptr() as usize, field)
    }

    /// The `field` line (e.g. `FilePmdMapped:`) of the mapping that starts at `start` in
    /// `smaps` text.
    pub(super) fn field_at(smaps: &str, start: usize, field: &str) -> Option<u64> {
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
            if let Some(rest) = line.strip_prefix(field) {
                let kb: u64 = rest.trim().trim_end_matches("kB").trim().parse().ok()?;
                return kb.checked_mul(1024);
            }
        }
        None
    }
}

#[cfg(test)]
// One range of the whole file is meant, not the numbers 0..len.
#[allow(clippy::single_range_in_vec_init)]
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
        let pmd = "FilePmdMapped:";
        assert_eq!(
            linux::field_at(smaps, 0x7f0000000000, pmd),
            Some(2048 * 1024)
        );
        // No FilePmdMapped line before the next mapping: unknown, not the next one's.
        assert_eq!(linux::field_at(smaps, 0x7f0000400000, pmd), None);
        assert_eq!(linux::field_at(smaps, 0x7f0000c00000, pmd), None);
        assert_eq!(
            linux::field_at(smaps, 0x7f0000400000, "Rss:"),
            Some(0),
            "a field is read from its own mapping"
        );
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
            let huge_bytes = weights.populate(&[0..len]);
            assert_eq!(weights.map.len(), len);
            assert!(
                weights.map[..] == bytes[..],
                "the map's bytes differ from the file's"
            );
            assert!(huge_bytes <= len as u64);
        }
    }

    /// A split's CPU half populates only its own tensors: the rest of the file stays out of
    /// this process's memory, through the 2 MiB probe and read-back too.
    #[cfg(target_os = "linux")]
    #[test]
    fn only_the_ranges_asked_for_are_populated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.gguf");
        let len = 24 * HUGE;
        let bytes: Vec<u8> = (0..len).map(|i| (i * 13 % 251) as u8).collect();
        std::fs::write(&path, &bytes).unwrap();
        // Two ranges, neither 2 MiB-aligned: 3 MiB and 1 MiB of a 48 MiB file.
        let wanted = [
            HUGE + 4096..HUGE + 4096 + 3 * HUGE / 2,
            11 * HUGE + 100..11 * HUGE + 100 + HUGE / 2,
        ];
        let weights = map_weights(&path).unwrap();
        weights.populate(&wanted);
        let rss = linux::smaps_field(&weights.map, "Rss:").expect("this map's smaps entry");
        // At most the 2 MiB pieces the ranges touch (3 of them) and some fault-around,
        // whatever pages they got.
        assert!(
            rss <= 4 * HUGE as u64,
            "{rss} bytes of the map are resident for 2 MiB asked for"
        );
        assert!(
            rss >= 2 * HUGE as u64,
            "the ranges were not populated: {rss} bytes"
        );
        for r in &wanted {
            assert!(weights.map[r.clone()] == bytes[r.clone()]);
        }
        // The whole file, for comparison: every byte resident.
        let whole = map_weights(&path).unwrap();
        whole.populate(&[0..len]);
        let rss = linux::smaps_field(&whole.map, "Rss:").unwrap();
        assert!(rss >= len as u64 * 9 / 10, "{rss} of {len} bytes resident");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn ranges_are_clamped_merged_and_widened_to_2_mib_pieces() {
        assert_eq!(
            clamped(&[5..9, 0..3, 3..4, 8..20, 30..40, 12..12], 35),
            vec![0..4, 5..20, 30..35]
        );
        assert_eq!(clamped(&[40..50], 35), Vec::<Range<usize>>::new());
        assert_eq!(
            widened(
                &[1..2, HUGE + 1..HUGE + 2, 5 * HUGE..5 * HUGE + 1],
                5 * HUGE + 10
            ),
            vec![0..2 * HUGE, 5 * HUGE..5 * HUGE + 10]
        );
    }
}
