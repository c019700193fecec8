//! Files written under a temporary name and renamed once complete (a quantized model's
//! `.partial`, a download's linked copy). A process killed in between leaves the temporary
//! file behind, hidden or oddly named, often gigabytes; the next writer of the same file
//! removes those that are clearly abandoned.

use std::path::Path;
use std::time::Duration;

/// How long a temporary file goes unmodified before it counts as abandoned. A live writer
/// appends to it all the while (a 7B tensor takes seconds), so only a dead one's is this old,
/// on every platform, without asking whether a process id is still alive.
pub const ABANDONED_AFTER: Duration = Duration::from_secs(600);

/// Removes the files in `dir` whose names start with `prefix` and end with `suffix` and that
/// were last modified more than [`ABANDONED_AFTER`] ago. Returns the bytes freed. Errors are
/// ignored: another process may remove the same file first, and a file left is only space.
pub fn remove_abandoned(dir: &Path, prefix: &str, suffix: &str) -> u64 {
    remove_older_than(dir, prefix, suffix, ABANDONED_AFTER)
}

fn remove_older_than(dir: &Path, prefix: &str, suffix: &str, age: Duration) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut freed = 0u64;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.len() < prefix.len() + suffix.len()
            || !name.starts_with(prefix)
            || !name.ends_with(suffix)
        {
            continue;
        }
        // Not followed: a symlink's own time, and never a folder.
        let Ok(meta) = std::fs::symlink_metadata(entry.path()) else {
            continue;
        };
        let old = meta
            .modified()
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|elapsed| elapsed > age);
        if old && !meta.is_dir() && std::fs::remove_file(entry.path()).is_ok() {
            freed = freed.saturating_add(meta.len());
        }
    }
    freed
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::SystemTime;

    fn file(dir: &Path, name: &str, bytes: usize, age_s: u64) -> std::path::PathBuf {
        let path = dir.join(name);
        let f = std::fs::File::create(&path).unwrap();
        f.set_len(bytes as u64).unwrap();
        f.set_modified(SystemTime::now() - Duration::from_secs(age_s))
            .unwrap();
        path
    }

    #[test]
    fn only_old_files_with_the_name_go() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let dead = file(d, "m.gguf.41-aa.partial", 1000, 3600);
        let live = file(d, "m.gguf.42-bb.partial", 10, 5);
        let done = file(d, "m.gguf", 10, 3600);
        let other = file(d, "n.gguf.41-cc.partial", 10, 3600);
        let folder = d.join("m.gguf.x.partial");
        std::fs::create_dir(&folder).unwrap();
        assert_eq!(remove_abandoned(d, "m.gguf.", ".partial"), 1000);
        assert!(!dead.exists());
        assert!(live.exists() && done.exists() && other.exists() && folder.exists());
        // Nothing to do, or no folder at all: nothing happens.
        assert_eq!(remove_abandoned(d, "m.gguf.", ".partial"), 0);
        assert_eq!(remove_abandoned(&d.join("none"), "m", ".partial"), 0);
    }
}
