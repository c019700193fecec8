//! A local server that speaks the Hugging Face hub's download protocol, for tests (Rust and
//! Python `huggingface_hub` via `HF_ENDPOINT`), with fault injection and byte accounting.
//!
//! Hub host (`endpoint`, 127.0.0.1):
//! - `GET|HEAD /{org}/{name}/resolve/{rev}/{file}`: LFS files (`*.safetensors`, `*.gguf`,
//!   `*.bin`, ...) answer `302` to the CDN host with `X-Linked-Etag` (sha256), `X-Linked-Size`,
//!   `X-Repo-Commit`, `ETag`; small files answer `200` with `ETag` = git blob id. Errors carry
//!   `X-Error-Code`: `GatedRepo` (401 without a token, 403 for a token that has not accepted the
//!   terms), `RepoNotFound`, `RevisionNotFound`, `EntryNotFound`; an unknown token gets 401.
//! - `GET /api/models/{org}/{name}/revision/{rev}[?blobs=true]`: sha, siblings (+ size, blobId,
//!   lfs.sha256 with blobs).
//! - `GET /api/models/{org}/{name}/tree/{rev}[/{path}][?recursive=true]`: the tree API
//!   (what huggingface_hub's `snapshot_download` lists).
//! - `GET /api/whoami-v2`.
//!
//! CDN host (`cdn`, 127.0.0.2 where that loopback address works, else `localhost`):
//! - `GET|HEAD /cdn/{org}/{name}/{sha256}`: the content, with `Range`/206.
//!
//! Faults ([`FaultKind`]) apply to content answers of one file, for a number of requests.

mod faults;
mod fixture;
mod server;

pub use faults::{Fault, FaultKind};
pub use fixture::{git_oid, is_lfs_name, sha256_hex, FakeFile, FakeRepo, TokenGrant};
pub use server::{HubTestServer, ServerConfig, Stats};
