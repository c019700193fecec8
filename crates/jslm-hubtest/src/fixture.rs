//! Fake repos and tokens served by the test hub.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use bytes::Bytes;
use sha2::{Digest, Sha256};

/// File name suffixes stored in LFS (as in the hub's default `.gitattributes`).
const LFS_SUFFIXES: [&str; 8] = [
    ".safetensors",
    ".gguf",
    ".bin",
    ".pt",
    ".pth",
    ".onnx",
    ".h5",
    ".msgpack",
];

/// True when the hub would store `name` in LFS.
pub fn is_lfs_name(name: &str) -> bool {
    LFS_SUFFIXES.iter().any(|s| name.ends_with(s))
}

/// Lower-case hex sha256.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Git blob id: sha1 of `blob <len>\0` + content.
pub fn git_oid(data: &[u8]) -> String {
    let mut h = sha1::Sha1::new();
    h.update(format!("blob {}\0", data.len()).as_bytes());
    h.update(data);
    hex::encode(h.finalize())
}

/// One file of a fake repo.
#[derive(Debug, Clone)]
pub struct FakeFile {
    /// Content.
    pub data: Bytes,
    /// Stored in LFS (served through the CDN redirect).
    pub lfs: bool,
    /// sha256 of the content.
    pub sha256: String,
    /// Git blob id (of the content for small files; of the LFS pointer would be the real hub's
    /// choice for LFS files, but only small files' ids are ever checked).
    pub oid: String,
}

impl FakeFile {
    /// A file; LFS if its name says so.
    pub fn new(name: &str, data: impl Into<Bytes>) -> Self {
        let data = data.into();
        Self {
            lfs: is_lfs_name(name),
            sha256: sha256_hex(&data),
            oid: git_oid(&data),
            data,
        }
    }
}

/// A fake model repo at one commit.
#[derive(Debug, Clone)]
pub struct FakeRepo {
    /// `org/name`.
    pub id: String,
    /// 40-hex commit; `main` resolves to it.
    pub commit: String,
    /// Whether users must accept terms (needs a token that has).
    pub gated: bool,
    /// Files by name.
    pub files: BTreeMap<String, FakeFile>,
}

impl FakeRepo {
    /// A repo with the given files; the commit is derived from the content.
    pub fn new(id: &str, files: Vec<(&str, Vec<u8>)>) -> Self {
        let files: BTreeMap<String, FakeFile> = files
            .into_iter()
            .map(|(n, d)| (n.to_string(), FakeFile::new(n, d)))
            .collect();
        let mut all = String::from(id);
        for (name, f) in &files {
            all.push_str(name);
            all.push_str(&f.sha256);
        }
        let commit = git_oid(all.as_bytes());
        Self {
            id: id.to_string(),
            commit,
            gated: false,
            files,
        }
    }

    /// Marks the repo gated.
    pub fn gated(mut self) -> Self {
        self.gated = true;
        self
    }

    /// Loads every file under `dir` (recursively) as a repo.
    pub fn from_dir(id: &str, dir: &Path) -> std::io::Result<Self> {
        let mut files = Vec::new();
        collect(dir, dir, &mut files)?;
        let borrowed: Vec<(&str, Vec<u8>)> =
            files.iter().map(|(n, d)| (n.as_str(), d.clone())).collect();
        Ok(Self::new(id, borrowed))
    }
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        if path.is_dir() {
            collect(root, &path, out)?;
        } else {
            let rel = path.strip_prefix(root).map_err(std::io::Error::other)?;
            let name = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().to_string())
                .collect::<Vec<_>>()
                .join("/");
            out.push((name, std::fs::read(&path)?));
        }
    }
    Ok(())
}

/// A token the server accepts.
#[derive(Debug, Clone)]
pub struct TokenGrant {
    /// The secret.
    pub token: String,
    /// Account name for whoami.
    pub user: String,
    /// Gated repos whose terms this account accepted.
    pub accepted: BTreeSet<String>,
}

impl TokenGrant {
    /// A token for `user` that accepted the terms of `accepted` repos.
    pub fn new(token: &str, user: &str, accepted: &[&str]) -> Self {
        Self {
            token: token.into(),
            user: user.into(),
            accepted: accepted.iter().map(|s| s.to_string()).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests() {
        assert_eq!(
            git_oid(b"hello"),
            "b6fc4c620b67d95f953a5c1c1230aaab5db5a1b0"
        );
        assert_eq!(
            sha256_hex(b"hello"),
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert!(
            is_lfs_name("m.safetensors")
                && is_lfs_name("x.Q4_K_M.gguf")
                && !is_lfs_name("config.json")
        );
        let r = FakeRepo::new("a/b", vec![("config.json", b"{}".to_vec())]);
        assert_eq!(r.commit.len(), 40);
    }
}
