//! jslm-hub: everything between the app and the Hugging Face hub. A built-in catalog, the
//! token store, an HTTP client that speaks the hub's download protocol (typed 401/403/404,
//! pinned commits, LFS metadata), a download manager (free-space check first, throttled
//! progress, retry with backoff, validated `Range` resume, sha256 verification, atomic
//! placement, cross-process locks) and the standard Hugging Face cache layout shared with
//! Python `huggingface_hub`. Used by the `jslm` CLI now and a Tauri window later: events and
//! errors serialise to JSON.

pub mod cache;
pub mod catalog;
pub mod client;
pub mod config;
pub mod disk;
pub mod download;
pub mod error;
mod fetch;
mod http_error;
pub mod installed;
mod local;
pub mod lock;
pub mod manifest;
pub mod progress;
pub mod remove;
pub mod repo;
pub mod request;
pub mod secret_store;
pub mod token;
pub mod token_store;
pub mod units;
pub mod verify;

pub use cache::HfCache;
pub use catalog::{catalog, Catalog, CatalogEntry, Variant};
pub use client::{HubClient, WhoAmI};
pub use config::{HubConfig, RetryPolicy};
pub use download::DownloadManager;
pub use error::{HubError, Missing};
pub use installed::{
    inspect, list_installed, InstallStatus, InstalledModel, InstalledRevision, InstalledSelection,
};
pub use jslm_core::Container;
pub use progress::DownloadEvent;
pub use remove::{delete_model, discard_download};
pub use repo::RepoId;
pub use request::{resolve_model, DownloadRequest, DownloadedModel, LocalFile, SkippedFile};
pub use secret_store::{Secret, SecretPlace, SecretStore};
pub use token::{HfToken, TokenSource};
pub use token_store::TokenStore;
pub use tokio_util::sync::CancellationToken;
