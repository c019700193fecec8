//! Content verification while bytes stream in (no second pass over a 5 GB file): sha256 for LFS
//! files (the hub's `X-Linked-Etag`), the git blob id (`sha1("blob <size>\0" + content)`, the
//! hub's `ETag`) for small files. A file whose etag is neither is refused before download
//! (`Check::SizeOnly` is for files already on disk whose digest is unknown).

use std::io::Read;
use std::path::Path;

use sha1::Sha1;
use sha2::{Digest, Sha256};

use crate::error::HubError;

/// What a file must match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// Lower-case hex sha256 of the content.
    Sha256(String),
    /// Lower-case hex git blob id.
    GitOid(String),
    /// Only the size is known.
    SizeOnly,
}

impl Check {
    /// The check an etag allows: 64 hex digits → sha256 (an LFS file's `X-Linked-Etag`, or the
    /// `ETag` of one served directly), 40 → git blob id (a regular file's `ETag`). Anything
    /// else allows no check, and such a file is not downloaded at all (`protocol` error).
    pub fn from_etag(etag: &str) -> Option<Self> {
        let hex = etag.bytes().all(|b| b.is_ascii_hexdigit());
        match etag.len() {
            64 if hex => Some(Check::Sha256(etag.to_ascii_lowercase())),
            40 if hex => Some(Check::GitOid(etag.to_ascii_lowercase())),
            _ => None,
        }
    }
}

enum State {
    Sha256(Sha256),
    GitOid(Sha1),
    Size,
}

/// An incremental verifier for one file of known size.
pub(crate) struct Verifier {
    check: Check,
    size: u64,
    state: State,
    seen: u64,
}

/// A failed check: what was expected and what arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Mismatch {
    pub expected: String,
    pub actual: String,
}

impl Verifier {
    pub(crate) fn new(check: Check, size: u64) -> Self {
        let state = Self::fresh(&check, size);
        Self {
            check,
            size,
            state,
            seen: 0,
        }
    }

    fn fresh(check: &Check, size: u64) -> State {
        match check {
            Check::Sha256(_) => State::Sha256(Sha256::new()),
            Check::GitOid(_) => {
                let mut h = Sha1::new();
                h.update(format!("blob {size}\0").as_bytes());
                State::GitOid(h)
            }
            Check::SizeOnly => State::Size,
        }
    }

    /// Forgets everything (the file starts over).
    pub(crate) fn reset(&mut self) {
        self.state = Self::fresh(&self.check, self.size);
        self.seen = 0;
    }

    pub(crate) fn update(&mut self, bytes: &[u8]) {
        self.seen += bytes.len() as u64;
        match &mut self.state {
            State::Sha256(h) => h.update(bytes),
            State::GitOid(h) => h.update(bytes),
            State::Size => {}
        }
    }

    /// Feeds the first `len` bytes of a partial file already on disk (resume). Reads stop when
    /// `stop()` says so (checked every MiB; gigabytes take a minute on a hard disk): `Ok(false)`.
    pub(crate) fn update_from_file(
        &mut self,
        path: &Path,
        len: u64,
        stop: &dyn Fn() -> bool,
    ) -> Result<bool, HubError> {
        if matches!(self.state, State::Size) {
            self.seen += len;
            return Ok(true);
        }
        let file = std::fs::File::open(path)
            .map_err(|e| HubError::io("read partial download", path, e))?;
        let mut reader = std::io::BufReader::with_capacity(1 << 20, file.take(len));
        let mut buf = vec![0u8; 1 << 20];
        loop {
            if stop() {
                return Ok(false);
            }
            let n = reader
                .read(&mut buf)
                .map_err(|e| HubError::io("read partial download", path, e))?;
            if n == 0 {
                break;
            }
            self.update(&buf[..n]);
        }
        if self.seen != len {
            return Err(HubError::Protocol {
                what: path.display().to_string(),
                message: format!(
                    "partial file shrank while reading ({} of {len} bytes)",
                    self.seen
                ),
            });
        }
        Ok(true)
    }

    /// The digest, or what did not match.
    pub(crate) fn finish(self) -> Result<String, Mismatch> {
        if self.seen != self.size {
            return Err(Mismatch {
                expected: format!("{} bytes", self.size),
                actual: format!("{} bytes", self.seen),
            });
        }
        let (expected, actual) = match (self.check, self.state) {
            (Check::Sha256(expected), State::Sha256(h)) => (expected, hex::encode(h.finalize())),
            (Check::GitOid(expected), State::GitOid(h)) => (expected, hex::encode(h.finalize())),
            _ => return Ok(format!("{} bytes", self.size)),
        };
        if expected == actual {
            Ok(actual)
        } else {
            Err(Mismatch { expected, actual })
        }
    }
}

/// Checks a whole file on disk (e.g. `jslm models --verify`, or a blob reused from Python).
pub fn verify_file(path: &Path, check: &Check, size: u64) -> Result<bool, HubError> {
    let mut v = Verifier::new(check.clone(), size);
    let actual = std::fs::metadata(path)
        .map_err(|e| HubError::io("inspect", path, e))?
        .len();
    if actual != size {
        return Ok(false);
    }
    v.update_from_file(path, size, &|| false)?;
    Ok(v.finish().is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HELLO_SHA256: &str = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
    // `printf hello | git hash-object --stdin`
    const HELLO_GIT: &str = "b6fc4c620b67d95f953a5c1c1230aaab5db5a1b0";

    #[test]
    fn checks_from_etags() {
        assert_eq!(
            Check::from_etag(HELLO_SHA256),
            Some(Check::Sha256(HELLO_SHA256.into()))
        );
        assert_eq!(
            Check::from_etag(HELLO_GIT),
            Some(Check::GitOid(HELLO_GIT.into()))
        );
        assert_eq!(
            Check::from_etag(&HELLO_GIT.to_ascii_uppercase()),
            Some(Check::GitOid(HELLO_GIT.into()))
        );
        for bad in [
            "abc",
            "",
            "../x",
            &HELLO_SHA256[1..],
            &format!("{HELLO_GIT}z"),
        ] {
            assert_eq!(Check::from_etag(bad), None, "{bad}");
        }
    }

    #[test]
    fn incremental_digests_match_known_values() {
        let table = [
            (Check::Sha256(HELLO_SHA256.into()), HELLO_SHA256),
            (Check::GitOid(HELLO_GIT.into()), HELLO_GIT),
        ];
        for (check, digest) in table {
            let mut v = Verifier::new(check.clone(), 5);
            v.update(b"he");
            v.update(b"llo");
            assert_eq!(v.finish(), Ok(digest.to_string()));
            let mut v = Verifier::new(check.clone(), 5);
            v.update(b"hellO");
            assert!(v.finish().is_err());
            let mut v = Verifier::new(check, 5);
            v.update(b"junk!");
            v.reset();
            v.update(b"hello");
            assert_eq!(v.finish(), Ok(digest.to_string()));
        }
        let mut v = Verifier::new(Check::SizeOnly, 5);
        v.update(b"hell");
        assert!(v.finish().is_err());
    }

    #[test]
    fn resume_prefix_from_disk() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("x.incomplete");
        std::fs::write(&p, b"hel").expect("write");
        let mut v = Verifier::new(Check::Sha256(HELLO_SHA256.into()), 5);
        assert!(v.update_from_file(&p, 3, &|| false).expect("prefix"));
        v.update(b"lo");
        assert_eq!(v.finish(), Ok(HELLO_SHA256.to_string()));
        // Stopped (Pause while a large partial file is hashed): says so, reads no more.
        let mut stopped = Verifier::new(Check::Sha256(HELLO_SHA256.into()), 5);
        assert!(!stopped.update_from_file(&p, 3, &|| true).expect("stopped"));
        std::fs::write(&p, b"hello").expect("write");
        assert!(verify_file(&p, &Check::Sha256(HELLO_SHA256.into()), 5).expect("io"));
        assert!(!verify_file(&p, &Check::Sha256(HELLO_SHA256.into()), 6).expect("io"));
    }
}
