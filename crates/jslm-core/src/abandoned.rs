//! Files written under a temporary name and renamed once complete (a quantized model's
//! `.partial`, a download's linked copy). A process killed in between leaves the temporary
//! file behind, hidden or oddly named, often gigabytes; later writers remove those nobody
//! writes any more.
//!
//! How a dead writer's file is told from a live one's: writers create it with
//! [`create_locked`], which holds an exclusive lock on it while the file is open. The
//! operating system drops the lock when the process ends, however it ends (Ctrl-C, a closed
//! window, `kill -9`, a crash), so a file whose lock can be taken is abandoned — at once, not
//! after some time. Links (a symlink or hard link left between link and rename) take no space
//! of their own and cannot be locked apart from their target: they count as abandoned once
//! their own change time is [`ABANDONED_AFTER`] old (the link's, not the target's: a hard link
//! shares its blob's modification time, often hours old).

use fs4::fs_std::FileExt;
use std::fs::File;
use std::path::Path;
use std::time::Duration;

/// How old a leftover link must be to count as abandoned (a live writer renames its link
/// microseconds after making it).
pub const ABANDONED_AFTER: Duration = Duration::from_secs(600);

/// Creates `path` (which must not exist) for writing, locked until the file is closed.
pub fn create_locked(path: &Path) -> std::io::Result<File> {
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?;
    if !FileExt::try_lock_exclusive(&file)? {
        return Err(std::io::Error::other(format!(
            "{} is locked by another process",
            path.display()
        )));
    }
    Ok(file)
}

/// Removes the files in `dir` whose names start with `prefix` and end with `suffix` and that
/// nobody writes any more (see the module's notes). Returns the bytes freed. Errors are
/// ignored: another process may remove the same file first, and a file left is only space.
pub fn remove_abandoned(dir: &Path, prefix: &str, suffix: &str) -> u64 {
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
        let path = entry.path();
        // Not followed: a symlink's own metadata, and never a folder.
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        let abandoned = if meta.is_dir() {
            false
        } else if meta.is_symlink() || links(&meta) > 1 {
            own_age(&meta).is_some_and(|age| age > ABANDONED_AFTER)
        } else {
            nobody_holds(&path)
        };
        if abandoned && std::fs::remove_file(&path).is_ok() {
            // A link frees nothing of its own.
            if meta.is_file() && links(&meta) == 1 {
                freed = freed.saturating_add(meta.len());
            }
        }
    }
    freed
}

/// Whether no process holds `path`'s lock (taking and dropping it to find out).
fn nobody_holds(path: &Path) -> bool {
    let Ok(file) = File::open(path) else {
        return false;
    };
    matches!(FileExt::try_lock_exclusive(&file), Ok(true))
}

#[cfg(unix)]
fn links(meta: &std::fs::Metadata) -> u64 {
    std::os::unix::fs::MetadataExt::nlink(meta)
}

#[cfg(not(unix))]
fn links(_meta: &std::fs::Metadata) -> u64 {
    1
}

/// How long ago the entry itself last changed: on Unix its change time (a new link sets it),
/// elsewhere its modification time.
fn own_age(meta: &std::fs::Metadata) -> Option<Duration> {
    #[cfg(unix)]
    let changed = {
        use std::os::unix::fs::MetadataExt;
        let secs = u64::try_from(meta.ctime()).ok()?;
        std::time::UNIX_EPOCH + Duration::new(secs, u32::try_from(meta.ctime_nsec()).ok()?)
    };
    #[cfg(not(unix))]
    let changed = meta.modified().ok()?;
    changed.elapsed().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_nobody_holds_goes_at_once_a_held_one_stays() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        // A writer that died: its lock went with it.
        let dead = d.join("m.gguf.41-aa.partial");
        drop(create_locked(&dead).unwrap());
        std::fs::write(&dead, vec![0u8; 1000]).unwrap();
        // A writer at work (in this process: the lock is per open file, as between processes).
        let live = d.join("m.gguf.42-bb.partial");
        let writing = create_locked(&live).unwrap();
        let done = d.join("m.gguf");
        std::fs::write(&done, b"x").unwrap();
        let other = d.join("n.gguf.41-cc.partial");
        std::fs::write(&other, b"x").unwrap();
        let folder = d.join("m.gguf.x.partial");
        std::fs::create_dir(&folder).unwrap();
        assert_eq!(remove_abandoned(d, "m.gguf.", ".partial"), 1000);
        assert!(!dead.exists());
        assert!(live.exists() && done.exists() && other.exists() && folder.exists());
        drop(writing);
        remove_abandoned(d, "m.gguf.", ".partial");
        assert!(!live.exists(), "once its writer is gone");
        // Nothing to do, or no folder at all: nothing happens.
        assert_eq!(remove_abandoned(d, "m.gguf.", ".partial"), 0);
        assert_eq!(remove_abandoned(&d.join("none"), "m", ".partial"), 0);
        // Created only where nothing is.
        assert!(create_locked(&done).is_err());
    }

    #[cfg(unix)]
    #[test]
    fn a_fresh_link_stays_even_to_an_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        // A blob written an hour ago, hard-linked and symlinked just now (between a writer's
        // link and its rename): the links are not the blob's age.
        let blob = d.join("blob");
        let f = File::create(&blob).unwrap();
        f.set_modified(std::time::SystemTime::now() - Duration::from_secs(3600))
            .unwrap();
        std::fs::hard_link(&blob, d.join(".m.bin.1-0.jslm-tmp")).unwrap();
        std::os::unix::fs::symlink("blob", d.join(".m.bin.1-1.jslm-tmp")).unwrap();
        assert_eq!(remove_abandoned(d, ".m.bin.", ".jslm-tmp"), 0);
        assert!(d.join(".m.bin.1-0.jslm-tmp").exists());
        assert!(std::fs::symlink_metadata(d.join(".m.bin.1-1.jslm-tmp")).is_ok());
    }
}
