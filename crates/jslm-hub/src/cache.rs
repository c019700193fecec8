//! The standard Hugging Face cache layout, shared with Python `huggingface_hub`:
//!
//! ```text
//! <cache>/models--org--name/blobs/<etag>                 complete, verified file contents
//! <cache>/models--org--name/blobs/<etag>.incomplete      a partial download (resumable)
//! <cache>/models--org--name/snapshots/<commit>/<file>    relative symlink to ../../blobs/<etag>
//! <cache>/models--org--name/refs/<revision>              the commit a branch/tag resolved to
//! <cache>/.locks/models--org--name/<etag>.lock           per-blob lock
//! ```
//!
//! `<etag>` is the sha256 of an LFS file, or the git blob id of a small file, exactly as
//! huggingface_hub names them, so a file downloaded by either tool is found by the other.
//! Folder names and snapshot/ref paths come from the `hf-hub` crate (`Repo::folder_name`,
//! `CacheRepo::pointer_path`, `CacheRepo::create_ref`); blob, partial and lock paths, reading
//! refs and linking are added here (hf-hub has no API for them without its HTTP client).

use std::path::{Path, PathBuf};

use hf_hub::{Cache, Repo, RepoType};

use crate::error::HubError;
use crate::repo::{is_commit_hash, validate_file_name, validate_revision, RepoId};

/// A Hugging Face hub cache directory.
#[derive(Debug, Clone)]
pub struct HfCache {
    root: PathBuf,
}

impl HfCache {
    /// The cache rooted at `root` (`HF_HUB_CACHE`).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The cache root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn hf_repo(repo: &RepoId, revision: &str) -> Repo {
        Repo::with_revision(
            repo.as_str().to_string(),
            RepoType::Model,
            revision.to_string(),
        )
    }

    /// `models--org--name`.
    pub fn folder_name(repo: &RepoId) -> String {
        Self::hf_repo(repo, "main").folder_name()
    }

    /// `<cache>/models--org--name`.
    pub fn repo_dir(&self, repo: &RepoId) -> PathBuf {
        self.root.join(Self::folder_name(repo))
    }

    /// `<repo>/blobs/<etag>`.
    pub fn blob_path(&self, repo: &RepoId, etag: &str) -> PathBuf {
        self.repo_dir(repo).join("blobs").join(etag)
    }

    /// `<repo>/blobs/<etag>.incomplete`: where a partial download lives.
    pub fn incomplete_path(&self, repo: &RepoId, etag: &str) -> PathBuf {
        self.repo_dir(repo)
            .join("blobs")
            .join(format!("{etag}.incomplete"))
    }

    /// `<cache>/.locks/models--org--name/<etag>.lock`.
    pub fn lock_path(&self, repo: &RepoId, etag: &str) -> PathBuf {
        self.root
            .join(".locks")
            .join(Self::folder_name(repo))
            .join(format!("{etag}.lock"))
    }

    /// `<repo>/snapshots/<commit>`.
    pub fn snapshot_dir(&self, repo: &RepoId, commit: &str) -> PathBuf {
        Cache::new(self.root.clone())
            .repo(Self::hf_repo(repo, commit))
            .pointer_path(commit)
    }

    /// `<repo>/snapshots/<commit>/<file>`.
    pub fn pointer_path(&self, repo: &RepoId, commit: &str, file: &str) -> PathBuf {
        let mut path = self.snapshot_dir(repo, commit);
        for part in file.split('/') {
            path.push(part);
        }
        path
    }

    /// The commit `revision` points to locally: the revision itself if it is a commit hash,
    /// else the content of `refs/<revision>`.
    pub fn resolve_commit(&self, repo: &RepoId, revision: &str) -> Option<String> {
        if is_commit_hash(revision) {
            return Some(revision.to_string());
        }
        validate_revision(revision).ok()?;
        let text = std::fs::read_to_string(self.repo_dir(repo).join("refs").join(revision)).ok()?;
        let commit = text.trim();
        is_commit_hash(commit).then(|| commit.to_string())
    }

    /// Records that `revision` resolved to `commit` (`refs/<revision>`). No-op for commit hashes
    /// and when the ref already says so: a model already downloaded into a read-only shared
    /// cache must not fail on rewriting it. The ref is written under a temporary name and
    /// renamed into place, so a reader (the window while the CLI downloads) or a crash never
    /// finds it empty, which would make the cached model look missing.
    pub fn write_ref(&self, repo: &RepoId, revision: &str, commit: &str) -> Result<(), HubError> {
        if revision == commit {
            return Ok(());
        }
        validate_revision(revision)?;
        if self.resolve_commit(repo, revision).as_deref() == Some(commit) {
            return Ok(());
        }
        let path = self.repo_dir(repo).join("refs").join(revision);
        let io = |action, e| HubError::io(action, &path, e);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| io("create refs folder for", e))?;
        }
        remove_abandoned_temps(&path);
        let tmp = temp_name(&path);
        // As huggingface_hub writes it: the commit alone, no newline.
        let written = std::fs::write(&tmp, commit).and_then(|()| std::fs::rename(&tmp, &path));
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(io("write ref", e));
        }
        Ok(())
    }

    /// Points `snapshots/<commit>/<file>` at `blobs/<etag>` with a relative symlink (as
    /// huggingface_hub does); where symlinks are not allowed, a hard link, else a copy.
    ///
    /// The entry is made under a temporary name in the same folder and renamed over the
    /// pointer, so the pointer is always either the old entry or the new complete one: a copy
    /// cut short leaves only a temporary file, and two processes linking the same file never
    /// write through each other's link (removing the pointer and then copying onto it could
    /// follow the other's new symlink and truncate the blob itself).
    pub fn link_pointer(
        &self,
        repo: &RepoId,
        commit: &str,
        file: &str,
        etag: &str,
    ) -> Result<PathBuf, HubError> {
        self.link_pointer_with(
            repo,
            commit,
            file,
            etag,
            &[Link::Symlink, Link::Hard, Link::Copy],
        )
    }

    /// [`Self::link_pointer`] trying only the given kinds of link, in order (tests force the
    /// copy that file systems without links get).
    pub(crate) fn link_pointer_with(
        &self,
        repo: &RepoId,
        commit: &str,
        file: &str,
        etag: &str,
        kinds: &[Link],
    ) -> Result<PathBuf, HubError> {
        validate_file_name(file)?;
        let pointer = self.pointer_path(repo, commit, file);
        let blob = self.blob_path(repo, etag);
        let dir = pointer
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| self.snapshot_dir(repo, commit));
        std::fs::create_dir_all(&dir)
            .map_err(|e| HubError::io("create snapshot folder", &dir, e))?;
        // snapshots/<commit>/<a>/<b> → ../../../blobs/<etag>: one `..` per folder below the repo.
        let depth = 2 + file.matches('/').count();
        let mut relative = PathBuf::new();
        for _ in 0..depth {
            relative.push("..");
        }
        relative.push("blobs");
        relative.push(etag);
        remove_abandoned_temps(&pointer);
        let tmp = temp_name(&pointer);
        let mut last = None;
        for kind in kinds {
            // A copy is written locked (held until after the rename), so that a crash midway
            // leaves a file the next link can tell is abandoned.
            let made = match kind {
                Link::Symlink => symlink(&relative, &tmp).map(|()| None),
                Link::Hard => std::fs::hard_link(&blob, &tmp).map(|()| None),
                Link::Copy => copy_locked(&blob, &tmp).map(Some),
            };
            match made {
                Ok(held) => {
                    let placed = std::fs::rename(&tmp, &pointer);
                    drop(held);
                    return match placed {
                        Ok(()) => Ok(pointer),
                        Err(e) => {
                            let _ = std::fs::remove_file(&tmp);
                            Err(HubError::io("place into snapshot", &pointer, e))
                        }
                    };
                }
                Err(e) => {
                    // A copy cut short leaves a temporary file: never the pointer.
                    let _ = std::fs::remove_file(&tmp);
                    last = Some(e);
                }
            }
        }
        Err(HubError::io(
            "link into snapshot",
            &pointer,
            last.unwrap_or_else(|| std::io::Error::other("no way to link")),
        ))
    }

    /// Writes `CACHEDIR.TAG` at the cache root (as huggingface_hub does) so backup tools skip
    /// the cache. Best effort.
    pub fn tag_cache_dir(&self) {
        let tag = self.root.join("CACHEDIR.TAG");
        if tag.exists() {
            return;
        }
        let text = "Signature: 8a477f597d28d172789f06886806bc55\n\
                    # This file is a cache directory tag created by jslm (Hugging Face hub cache).\n\
                    # For information about cache directory tags see https://bford.info/cachedir/\n";
        if std::fs::create_dir_all(&self.root).is_ok() {
            let _ = std::fs::write(tag, text);
        }
    }

    /// True if `snapshots/<commit>/<file>` exists and leads to a file (not a broken link). Says
    /// nothing of its size: where the size is known, compare it (a copy may be short).
    pub fn has_file(&self, repo: &RepoId, commit: &str, file: &str) -> bool {
        self.pointer_path(repo, commit, file).is_file()
    }

    /// Repo ids of every model in the cache (`models--*` folders).
    pub fn model_repos(&self) -> Result<Vec<RepoId>, HubError> {
        let entries = match std::fs::read_dir(&self.root) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(HubError::io("list", &self.root, e)),
        };
        let mut repos = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            let Some(rest) = name.strip_prefix("models--") else {
                continue;
            };
            let Some((org, model)) = rest.split_once("--") else {
                continue;
            };
            if let Ok(repo) = RepoId::parse(&format!("{org}/{model}")) {
                repos.push(repo);
            }
        }
        repos.sort();
        Ok(repos)
    }
}

/// How a snapshot entry leads to its blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Link {
    Symlink,
    Hard,
    Copy,
}

/// A temporary name beside `path`, unique to this process and call. It starts with `.` and
/// ends with `.jslm-tmp`, and exists only between its creation and the rename (or, after a
/// crash, until [`remove_abandoned_temps`] finds it).
fn temp_name(path: &Path) -> PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.{}-{n}.jslm-tmp", std::process::id()))
}

/// Copies `blob` to the new file `tmp`, locked while the returned file is open.
fn copy_locked(blob: &Path, tmp: &Path) -> std::io::Result<std::fs::File> {
    let mut out = jslm_core::abandoned::create_locked(tmp)?;
    std::io::copy(&mut std::fs::File::open(blob)?, &mut out)?;
    out.sync_all()?;
    Ok(out)
}

/// Removes the abandoned temporary names of `pointer` (a multi-GB copy cut off by a crash
/// would otherwise stay, hidden, until the model is deleted).
fn remove_abandoned_temps(pointer: &Path) {
    if let (Some(dir), Some(name)) = (pointer.parent(), pointer.file_name()) {
        let prefix = format!(".{}.", name.to_string_lossy());
        jslm_core::abandoned::remove_abandoned(dir, &prefix, ".jslm-tmp");
    }
}

#[cfg(unix)]
fn symlink(target: &Path, link: &Path) -> std::io::Result<()> {
    std::os::unix::fs::symlink(target, link)
}

#[cfg(windows)]
fn symlink(target: &Path, link: &Path) -> std::io::Result<()> {
    std::os::windows::fs::symlink_file(target, link)
}

#[cfg(not(any(unix, windows)))]
fn symlink(_target: &Path, _link: &Path) -> std::io::Result<()> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "no symlinks",
    ))
}

/// (repo-relative name, path) of every entry under `dir` that is not a folder: the files and
/// links of a snapshot or of `refs/` (links are not followed; a missing `dir` has none).
pub(crate) fn files_under(dir: &Path) -> Vec<(String, PathBuf)> {
    fn walk(dir: &Path, prefix: &str, out: &mut Vec<(String, PathBuf)>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            let rel = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            };
            let path = entry.path();
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                walk(&path, &rel, out);
            } else {
                out.push((rel, path));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, "", &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

    #[cfg(unix)]
    #[test]
    fn a_ref_is_written_only_when_it_changes_and_whole() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = HfCache::new(dir.path());
        let repo = RepoId::parse("org/m").expect("id");
        let a = "0123456789abcdef0123456789abcdef01234567";
        let b = "89abcdef0123456789abcdef0123456789abcdef";
        cache.write_ref(&repo, "main", a).expect("first");
        let path = cache.repo_dir(&repo).join("refs").join("main");
        assert_eq!(std::fs::read_to_string(&path).expect("ref"), a);
        let inode = std::fs::metadata(&path).expect("meta").ino();
        // The same commit again: not rewritten (a read-only shared cache must not fail here).
        cache.write_ref(&repo, "main", a).expect("unchanged");
        assert_eq!(std::fs::metadata(&path).expect("meta").ino(), inode);
        // A new commit: a new file renamed into place, never an emptied one.
        cache.write_ref(&repo, "main", b).expect("moved");
        assert_eq!(std::fs::read_to_string(&path).expect("ref"), b);
        assert_ne!(std::fs::metadata(&path).expect("meta").ino(), inode);
        assert_eq!(cache.resolve_commit(&repo, "main").as_deref(), Some(b));
        let names: Vec<_> = std::fs::read_dir(path.parent().expect("refs"))
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(
            names,
            vec![std::ffi::OsString::from("main")],
            "no temporary left"
        );
    }

    #[test]
    fn layout_matches_huggingface_hub() {
        let cache = HfCache::new("/c");
        let repo = RepoId::parse("stabilityai/japanese-stablelm-instruct-gamma-7b").expect("id");
        assert_eq!(
            cache.repo_dir(&repo),
            PathBuf::from("/c/models--stabilityai--japanese-stablelm-instruct-gamma-7b")
        );
        assert_eq!(
            cache.blob_path(&repo, "abc"),
            cache.repo_dir(&repo).join("blobs/abc")
        );
        assert_eq!(
            cache.incomplete_path(&repo, "abc"),
            cache.repo_dir(&repo).join("blobs/abc.incomplete")
        );
        assert_eq!(
            cache.lock_path(&repo, "abc"),
            PathBuf::from(
                "/c/.locks/models--stabilityai--japanese-stablelm-instruct-gamma-7b/abc.lock"
            )
        );
        assert_eq!(
            cache.pointer_path(&repo, COMMIT, "a/b.json"),
            cache
                .repo_dir(&repo)
                .join("snapshots")
                .join(COMMIT)
                .join("a/b.json")
        );
    }

    #[test]
    fn refs_and_relative_links() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = HfCache::new(dir.path());
        let repo = RepoId::parse("a/b").expect("id");
        assert_eq!(cache.resolve_commit(&repo, "main"), None);
        cache.write_ref(&repo, "main", COMMIT).expect("ref");
        cache
            .write_ref(&repo, "refs/pr/1", COMMIT)
            .expect("nested ref");
        assert_eq!(cache.resolve_commit(&repo, "main").as_deref(), Some(COMMIT));
        assert_eq!(
            cache.resolve_commit(&repo, "refs/pr/1").as_deref(),
            Some(COMMIT)
        );
        assert_eq!(cache.resolve_commit(&repo, COMMIT).as_deref(), Some(COMMIT));

        let blob = cache.blob_path(&repo, "e1");
        std::fs::create_dir_all(blob.parent().expect("parent")).expect("mkdir");
        std::fs::write(&blob, b"hello").expect("write");
        let p = cache
            .link_pointer(&repo, COMMIT, "sub/dir/x.json", "e1")
            .expect("link");
        assert_eq!(std::fs::read(&p).expect("read through link"), b"hello");
        #[cfg(unix)]
        assert_eq!(
            std::fs::read_link(&p).expect("symlink"),
            PathBuf::from("../../../../blobs/e1")
        );
        // Relinking replaces the old link.
        cache
            .link_pointer(&repo, COMMIT, "sub/dir/x.json", "e1")
            .expect("relink");
        assert!(cache.has_file(&repo, COMMIT, "sub/dir/x.json"));
        assert!(!cache.has_file(&repo, COMMIT, "missing"));
        assert_eq!(cache.model_repos().expect("list"), vec![repo]);
    }

    #[test]
    fn a_copy_is_placed_whole_or_not_at_all() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = HfCache::new(dir.path());
        let repo = RepoId::parse("a/b").expect("id");
        let blob = cache.blob_path(&repo, "e1");
        std::fs::create_dir_all(blob.parent().expect("parent")).expect("mkdir");
        std::fs::write(&blob, vec![7u8; 100_000]).expect("write");
        // A copy (no links on this file system) over a short copy left by an earlier run.
        let pointer = cache.pointer_path(&repo, COMMIT, "m.bin");
        std::fs::create_dir_all(pointer.parent().expect("parent")).expect("mkdir");
        std::fs::write(&pointer, b"short").expect("short copy");
        cache
            .link_pointer_with(&repo, COMMIT, "m.bin", "e1", &[Link::Copy])
            .expect("copy");
        assert_eq!(std::fs::read(&pointer).expect("read").len(), 100_000);
        assert!(!std::fs::symlink_metadata(&pointer)
            .expect("meta")
            .is_symlink());
        // Nothing but the pointer in the snapshot folder: no temporary file is left.
        let names: Vec<_> = std::fs::read_dir(pointer.parent().expect("parent"))
            .expect("list")
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("m.bin")]);
        // A copy that cannot be made (the blob is gone) leaves the old entry alone.
        std::fs::remove_file(&blob).expect("rm blob");
        assert!(cache
            .link_pointer_with(&repo, COMMIT, "m.bin", "e1", &[Link::Copy])
            .is_err());
        assert_eq!(std::fs::read(&pointer).expect("read").len(), 100_000);
    }

    #[test]
    fn a_copy_cut_off_by_a_crash_is_removed_by_the_next_link() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = HfCache::new(dir.path());
        let repo = RepoId::parse("a/b").expect("id");
        let blob = cache.blob_path(&repo, "e1");
        std::fs::create_dir_all(blob.parent().expect("parent")).expect("mkdir");
        std::fs::write(&blob, b"weights").expect("write");
        let pointer = cache.pointer_path(&repo, COMMIT, "m.bin");
        let folder = pointer.parent().expect("parent").to_path_buf();
        std::fs::create_dir_all(&folder).expect("mkdir");
        let temp = |name: &str| {
            let path = folder.join(name);
            let file = jslm_core::abandoned::create_locked(&path).expect("temp");
            (path, file)
        };
        // A dead process's copy (its lock gone), one still being written (held), and another
        // file's dead copy (not this pointer's to judge; its own link removes it).
        let (dead, f) = temp(".m.bin.4242-0.jslm-tmp");
        drop(f);
        let (live, _writing) = temp(".m.bin.4343-0.jslm-tmp");
        let (other, f) = temp(".n.bin.4242-1.jslm-tmp");
        drop(f);
        cache
            .link_pointer_with(&repo, COMMIT, "m.bin", "e1", &[Link::Copy])
            .expect("copy");
        assert!(!dead.exists());
        assert!(live.exists());
        assert!(other.exists());
        assert_eq!(std::fs::read(&pointer).expect("read"), b"weights");
    }

    #[test]
    fn linking_one_file_from_many_threads_never_damages_the_blob() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = HfCache::new(dir.path());
        let repo = RepoId::parse("a/b").expect("id");
        let blob = cache.blob_path(&repo, "e1");
        std::fs::create_dir_all(blob.parent().expect("parent")).expect("mkdir");
        let content = vec![42u8; 64 * 1024];
        std::fs::write(&blob, &content).expect("write");
        // Two processes finishing one download at once: each links the same pointer. Removing
        // the pointer and then copying onto it could follow the other's fresh symlink and
        // truncate the blob.
        std::thread::scope(|scope| {
            for _ in 0..8 {
                scope.spawn(|| {
                    for _ in 0..200 {
                        let _ = cache.link_pointer(&repo, COMMIT, "x.json", "e1");
                    }
                });
            }
        });
        let blob_now = std::fs::read(&blob).expect("blob");
        assert!(
            blob_now == content,
            "blob damaged: {} bytes",
            blob_now.len()
        );
        let through = std::fs::read(cache.pointer_path(&repo, COMMIT, "x.json")).expect("pointer");
        assert!(through == content, "pointer reads {} bytes", through.len());
    }
}
