// (Plain comments, not `//!`: this file is `include!`d into build scripts.)
// The commit a binary was built from, for `jslm --version` and the window's About line.
// Included (not depended on) by the build scripts of `jslm-cli` and `src-tauri`, so that both
// programs of one package report the same commit and a new commit rebuilds only those two
// crates — a build-dependency crate in `jslm-core` would rebuild the whole workspace.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Sets `JSLM_COMMIT` for the crate being built: `$JSLM_COMMIT` when given (source tarballs,
/// packagers), else `git rev-parse --short=10 HEAD`, else "unknown". Cargo reruns the script
/// when HEAD or the branch it points to moves.
pub fn record_commit() {
    println!("cargo:rerun-if-env-changed=JSLM_COMMIT");
    let commit = std::env::var("JSLM_COMMIT")
        .ok()
        .filter(|c| !c.trim().is_empty())
        .or_else(git_commit)
        .unwrap_or_else(|| "unknown".to_owned());
    for path in git_paths_to_watch() {
        println!("cargo:rerun-if-changed={}", path.display());
    }
    println!("cargo:rustc-env=JSLM_COMMIT={}", commit.trim());
}

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

fn git_commit() -> Option<String> {
    git(&["rev-parse", "--short=10", "HEAD"])
}

/// HEAD of this worktree, the ref it names (in the common git dir) and `packed-refs`: the files
/// a commit, checkout or pull changes. Only existing files: Cargo reruns every time for a
/// missing one.
fn git_paths_to_watch() -> Vec<PathBuf> {
    let mut paths = Vec::new();
    let Some(git_dir) = git(&["rev-parse", "--absolute-git-dir"]).map(PathBuf::from) else {
        return paths;
    };
    let common = git(&["rev-parse", "--git-common-dir"])
        .map(|c| absolute(&git_dir, &c))
        .unwrap_or_else(|| git_dir.clone());
    let head = git_dir.join("HEAD");
    if let Ok(text) = std::fs::read_to_string(&head) {
        if let Some(reference) = text.trim().strip_prefix("ref: ") {
            paths.push(common.join(reference));
        }
    }
    paths.push(head);
    paths.push(common.join("packed-refs"));
    paths.into_iter().filter(|p| p.exists()).collect()
}

/// `git rev-parse --git-common-dir` may answer relative to the current directory.
fn absolute(git_dir: &Path, dir: &str) -> PathBuf {
    let path = PathBuf::from(dir);
    if path.is_absolute() {
        path
    } else {
        std::env::current_dir()
            .map(|cwd| cwd.join(&path))
            .unwrap_or_else(|_| git_dir.join(path))
    }
}
