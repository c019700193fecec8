//! [`DownloadManager`]: turns a [`DownloadRequest`] into a complete, verified model in the cache.
//!
//! Order of work: pin the revision to a commit (revision API) → choose files (catalog, the
//! safetensors index, or the request) → `HEAD` each file for its etag and size (this is where
//! 401/403 surface, before any large transfer) → check free space for the bytes still missing →
//! record `refs/<revision>` and the manifest → fetch each file (see [`crate::fetch`]) → link it
//! into `snapshots/<commit>/`. Offline (`HF_HUB_OFFLINE`, or the hub unreachable) a complete
//! cached copy is returned instead.

use std::sync::Arc;

use jslm_core::ErrorCode;
use tokio_util::sync::CancellationToken;

use crate::cache::HfCache;
use crate::client::{FileMetadata, HubClient, RevisionInfo};
use crate::disk::{ensure_free_space, FreeSpace, SystemFreeSpace};
use crate::error::HubError;
use crate::fetch::{fetch_file, FetchContext, FileTask, Overall};
use crate::local::find_local_spec;
use crate::manifest::{Manifest, ManifestFile};
use crate::progress::{DownloadEvent, EventSink, PlannedFile};
use crate::repo::{is_commit_hash, validate_file_name};
use crate::request::{
    shards_from_index, DownloadRequest, DownloadedModel, LocalFile, ModelSpec, Selection,
    SkippedFile,
};
use crate::verify::Check;

/// Downloads models into the Hugging Face cache. Cheap to clone; one manager can run several
/// downloads at once (files shared between them are written by one, waited for by the other).
#[derive(Clone, Debug)]
pub struct DownloadManager {
    client: HubClient,
    cache: HfCache,
    free_space: Arc<dyn FreeSpace>,
}

/// Error codes that make an optional (companion) file skippable instead of fatal.
const SKIPPABLE: [ErrorCode; 5] = [
    ErrorCode::GatedNoToken,
    ErrorCode::GatedNotAccepted,
    ErrorCode::TokenInvalid,
    ErrorCode::Forbidden,
    ErrorCode::NotFound,
];

impl DownloadManager {
    /// A manager using the client's configuration (endpoint, cache, token, timeouts).
    pub fn new(client: HubClient) -> Self {
        let cache = HfCache::new(client.config().cache_dir.clone());
        Self {
            client,
            cache,
            free_space: Arc::new(SystemFreeSpace),
        }
    }

    /// Replaces the free-space source (tests simulate a full disk with [`crate::disk::FixedFreeSpace`]).
    pub fn with_free_space(mut self, free_space: Arc<dyn FreeSpace>) -> Self {
        self.free_space = free_space;
        self
    }

    /// The cache in use.
    pub fn cache(&self) -> &HfCache {
        &self.cache
    }

    /// The hub client in use.
    pub fn client(&self) -> &HubClient {
        &self.client
    }

    /// The model as it is in the cache, without any network access; `None` if some file is
    /// missing. Used by `jslm generate --model <id>` and offline mode.
    pub fn find_local(
        &self,
        request: &DownloadRequest,
    ) -> Result<Option<DownloadedModel>, HubError> {
        let spec = ModelSpec::from_request(request)?;
        find_local_spec(&self.cache, &spec)
    }

    /// Downloads what is missing and returns the complete model. `progress` receives
    /// [`DownloadEvent`]s (`Progressed` at most every `progress_interval`); `cancel` stops the
    /// download, keeping partial files for the next run.
    pub async fn download(
        &self,
        request: DownloadRequest,
        progress: impl Fn(DownloadEvent) + Send + Sync,
        cancel: CancellationToken,
    ) -> Result<DownloadedModel, HubError> {
        let spec = ModelSpec::from_request(&request)?;
        let sink = EventSink::new(&progress, self.client.config().progress_interval);
        let mut model = self.download_spec(&spec, &sink, &cancel).await?;
        for companion in &spec.companions {
            match self.download_spec(companion, &sink, &cancel).await {
                Ok(done) => {
                    model.downloaded_bytes += done.downloaded_bytes;
                    model.companions.push(done);
                }
                Err(err) if SKIPPABLE.contains(&err.code()) => {
                    tracing::warn!(repo = %companion.repo, code = %err.code(), "optional companion files skipped");
                    let files = match &companion.selection {
                        Selection::Files(files) => files.clone(),
                        _ => Vec::new(),
                    };
                    for file in files {
                        sink.emit(DownloadEvent::Skipped {
                            repo: companion.repo.to_string(),
                            file: file.clone(),
                            reason: err.to_string(),
                            code: err.code(),
                        });
                        model.skipped.push(SkippedFile {
                            repo: companion.repo.to_string(),
                            file,
                            code: err.code(),
                            reason: err.to_string(),
                        });
                    }
                }
                Err(err) => return Err(err),
            }
        }
        sink.emit(DownloadEvent::Finished {
            repo: model.repo.clone(),
            commit: model.commit.clone(),
            snapshot_dir: model.snapshot_dir.clone(),
            downloaded_bytes: model.downloaded_bytes,
        });
        Ok(model)
    }

    fn use_cache_or(
        &self,
        spec: &ModelSpec,
        sink: &EventSink<'_>,
        err: HubError,
    ) -> Result<DownloadedModel, HubError> {
        match find_local_spec(&self.cache, spec)? {
            Some(local) => {
                tracing::info!(repo = %spec.repo, reason = %err, "using the cached copy");
                sink.emit(DownloadEvent::UsedCache {
                    repo: local.repo.clone(),
                    commit: local.commit.clone(),
                    reason: err.to_string(),
                });
                Ok(local)
            }
            // Not cached: the TLS failure itself, with its advice about certificates.
            None if matches!(err, HubError::Tls { .. }) => Err(err),
            None => Err(HubError::Offline {
                message: format!(
                    "{err}; {} ({}) is not (completely) in the cache at {}",
                    spec.repo,
                    spec.revision,
                    self.cache.root().display()
                ),
            }),
        }
    }

    async fn download_spec(
        &self,
        spec: &ModelSpec,
        sink: &EventSink<'_>,
        cancel: &CancellationToken,
    ) -> Result<DownloadedModel, HubError> {
        if self.client.config().offline {
            let err = HubError::Offline {
                message: "offline mode (HF_HUB_OFFLINE) is on".into(),
            };
            return self.use_cache_or(spec, sink, err);
        }
        let info = match unless_cancelled(
            cancel,
            self.client.revision_info(&spec.repo, &spec.revision),
        )
        .await
        {
            Ok(info) => info,
            // A TLS failure (a captive portal, a proxy's certificate) keeps the cached copy
            // usable, as being offline does.
            Err(err @ (HubError::Offline { .. } | HubError::Tls { .. })) => {
                return self.use_cache_or(spec, sink, err)
            }
            Err(err) => return Err(err),
        };
        if !is_commit_hash(&info.sha) {
            return Err(HubError::Protocol {
                what: spec.repo.to_string(),
                message: format!("the revision API gave `{}` as commit", info.sha),
            });
        }
        let commit = info.sha.clone();
        let cx = FetchContext {
            client: &self.client,
            cache: &self.cache,
            sink,
            cancel,
        };
        let mut downloaded = 0;
        // Files fetched (and verified) before the plan was complete: the safetensors index.
        let mut fetched_early: Vec<String> = Vec::new();

        let names = match &spec.selection {
            Selection::All => info.siblings.iter().map(|s| s.rfilename.clone()).collect(),
            Selection::Files(files) => files.clone(),
            Selection::Catalog { fixed, shard_index } => {
                let mut names = fixed.clone();
                if let Some(index) = shard_index {
                    // The index's HEAD first: a gated repo refuses here (401/403), and a refused
                    // try must leave no manifest behind, or the model lists as partly downloaded.
                    let (task, _) =
                        unless_cancelled(cancel, self.task(spec, &info, &commit, index)).await?;
                    // Recorded before the index arrives, so that a download stopped here is a
                    // partial selection, not a snapshot of one file that looks complete.
                    let mut early = names.clone();
                    early.push(index.clone());
                    Manifest {
                        repo: spec.repo.to_string(),
                        revision: spec.revision.clone(),
                        commit: commit.clone(),
                        catalog_id: spec.entry.map(|e| e.id.clone()),
                        container: spec.container(&early),
                        files: Vec::new(),
                        selections: vec![spec.manifest_selection(&early)],
                    }
                    .save(&self.cache, &spec.repo)?;
                    // The index is small metadata: fetch it first to learn the shard names.
                    let mut overall = Overall::new(0, task.size);
                    let fetched = fetch_file(&cx, &task, &mut overall).await?;
                    downloaded += overall.downloaded;
                    if let Some(digest) = fetched.digest.clone() {
                        sink.emit(DownloadEvent::Verified {
                            file: index.clone(),
                            digest,
                        });
                        fetched_early.push(index.clone());
                    }
                    self.cache
                        .link_pointer(&spec.repo, &commit, index, &task.etag)?;
                    let json = std::fs::read(&fetched.blob)
                        .map_err(|e| HubError::io("read", &fetched.blob, e))?;
                    names.push(index.clone());
                    names.extend(shards_from_index(index, &json)?);
                }
                names
            }
        };
        for name in &names {
            // Names from the hub's file list are checked like a user's, before any of them is
            // fetched: one that could leave the cache stops the whole download.
            validate_file_name(name).map_err(|_| HubError::Protocol {
                what: spec.repo.to_string(),
                message: format!(
                    "the hub lists a file named `{}`, which is not a safe file name",
                    name.chars().take(200).collect::<String>()
                ),
            })?;
            if !info.siblings.iter().any(|s| &s.rfilename == name) {
                return Err(HubError::NotFound {
                    what: crate::error::Missing::File,
                    repo: spec.repo.to_string(),
                    revision: spec.revision.clone(),
                    file: Some(name.clone()),
                });
            }
        }

        // HEAD every file: authoritative etag/size, and access errors before the big transfer.
        let mut tasks = Vec::with_capacity(names.len());
        for name in &names {
            tasks.push(unless_cancelled(cancel, self.task(spec, &info, &commit, name)).await?);
        }
        let planned: Vec<PlannedFile> = tasks
            .iter()
            .map(|(t, _)| PlannedFile {
                name: t.name.clone(),
                size: t.size,
                present: self.present_bytes(t),
            })
            .collect();
        // Sizes come from the hub: summed with checks, so that sizes near 2^64 cannot wrap
        // into a small total that passes the free-space check.
        let overflow = || HubError::Protocol {
            what: spec.repo.to_string(),
            message: "the file sizes the hub gave add up to more than 2^64 bytes".into(),
        };
        let total = checked_sum(planned.iter().map(|p| p.size)).ok_or_else(overflow)?;
        let present = checked_sum(planned.iter().map(|p| p.present)).ok_or_else(overflow)?;
        // `present <= total`: each file's present bytes are capped at its size.
        ensure_free_space(
            self.free_space.as_ref(),
            self.cache.root(),
            total.saturating_sub(present),
        )?;

        self.cache.tag_cache_dir();
        self.cache.write_ref(&spec.repo, &spec.revision, &commit)?;
        let mut manifest = Manifest {
            repo: spec.repo.to_string(),
            revision: spec.revision.clone(),
            commit: commit.clone(),
            catalog_id: spec.model_catalog_id(),
            container: spec.container(&names),
            selections: vec![spec.manifest_selection(&names)],
            files: tasks
                .iter()
                .map(|(t, lfs)| ManifestFile {
                    name: t.name.clone(),
                    size: t.size,
                    etag: t.etag.clone(),
                    lfs: *lfs,
                    verified: false,
                })
                .collect(),
        };
        manifest.save(&self.cache, &spec.repo)?;
        for name in &fetched_early {
            manifest.mark_verified(&self.cache, &spec.repo, name)?;
        }
        sink.emit(DownloadEvent::Resolved {
            repo: spec.repo.to_string(),
            revision: spec.revision.clone(),
            commit: commit.clone(),
            files: planned,
            total_bytes: total,
            present_bytes: present,
        });

        let mut overall = Overall::new(present, total);
        let mut files = Vec::with_capacity(tasks.len());
        for (task, _) in &tasks {
            let pointer = self.cache.pointer_path(&spec.repo, &commit, &task.name);
            let reused = self.in_snapshot(task);
            if !reused {
                let fetched = fetch_file(&cx, task, &mut overall).await?;
                // Identical files share one blob: checked once is checked for all of them.
                let same_blob_verified = manifest
                    .files
                    .iter()
                    .any(|f| f.etag == task.etag && f.verified);
                if let Some(digest) = fetched.digest {
                    sink.emit(DownloadEvent::Verified {
                        file: task.name.clone(),
                        digest,
                    });
                    manifest.mark_verified(&self.cache, &spec.repo, &task.name)?;
                } else if same_blob_verified {
                    manifest.mark_verified(&self.cache, &spec.repo, &task.name)?;
                }
                self.cache
                    .link_pointer(&spec.repo, &commit, &task.name, &task.etag)?;
            }
            let reused = reused && !fetched_early.contains(&task.name);
            sink.emit(DownloadEvent::FileFinished {
                file: task.name.clone(),
                path: pointer.clone(),
                reused,
            });
            files.push(LocalFile {
                name: task.name.clone(),
                path: pointer,
                size: task.size,
            });
        }
        downloaded += overall.downloaded;
        Ok(DownloadedModel {
            repo: spec.repo.to_string(),
            revision: spec.revision.clone(),
            commit: commit.clone(),
            snapshot_dir: self.cache.snapshot_dir(&spec.repo, &commit),
            files,
            container: manifest.container,
            catalog_id: manifest.catalog_id,
            downloaded_bytes: downloaded,
            companions: Vec::new(),
            skipped: Vec::new(),
        })
    }

    /// Bytes of a file already on disk: the whole blob, or the partial download.
    fn present_bytes(&self, task: &FileTask) -> u64 {
        let len = |p: std::path::PathBuf| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        let blob = len(self.cache.blob_path(&task.repo, &task.etag));
        if blob == task.size || self.in_snapshot(task) {
            return task.size;
        }
        len(self.cache.incomplete_path(&task.repo, &task.etag)).min(task.size)
    }

    /// Whether the snapshot already holds the file whole: a link to a blob of its size, or a
    /// file of its own of that size. The latter is what huggingface_hub leaves where links are
    /// not allowed (Windows without developer mode): it *moves* the new blob into the snapshot,
    /// so `blobs/` has nothing, and requiring the blob downloaded the model again (and asked
    /// for its whole size in free space first). Copies this crate makes are renamed into place
    /// whole (`HfCache::link_pointer`), so one of the right size is the file.
    fn in_snapshot(&self, task: &FileTask) -> bool {
        let pointer = self
            .cache
            .pointer_path(&task.repo, &task.commit, &task.name);
        let Ok(link) = std::fs::symlink_metadata(&pointer) else {
            return false;
        };
        // The entry's own size, following links: a link to a missing or partial blob is not it.
        let whole = std::fs::metadata(&pointer).is_ok_and(|m| m.is_file() && m.len() == task.size);
        let blob = self.cache.blob_path(&task.repo, &task.etag);
        whole
            && (link.file_type().is_file()
                || std::fs::metadata(&blob).is_ok_and(|m| m.len() == task.size))
    }

    /// `HEAD` one file and build its task (and whether it is an LFS file).
    async fn task(
        &self,
        spec: &ModelSpec,
        info: &RevisionInfo,
        commit: &str,
        name: &str,
    ) -> Result<(FileTask, bool), HubError> {
        let meta: FileMetadata = self.client.file_metadata(&spec.repo, commit, name).await?;
        let sibling = info.siblings.iter().find(|s| s.rfilename == name);
        let size = meta
            .size
            .or_else(|| sibling.and_then(|s| s.lfs.as_ref().map(|l| l.size).or(s.size)))
            .ok_or_else(|| HubError::Protocol {
                what: format!("{}/{name}", spec.repo),
                message: "the hub gave no size for this file".into(),
            })?;
        if meta.commit != commit {
            tracing::warn!(file = name, pinned = commit, answered = %meta.commit, "hub answered for another commit");
        }
        // `file_metadata` refuses any etag that is not a hex digest; checked again here because
        // the etag names the blob's path.
        let check = Check::from_etag(&meta.etag).ok_or_else(|| HubError::Protocol {
            what: name.to_string(),
            message: "the hub gave no usable etag for this file".into(),
        })?;
        let task = FileTask {
            repo: spec.repo.clone(),
            commit: commit.to_string(),
            name: name.to_string(),
            etag: meta.etag,
            size,
            check,
        };
        Ok((task, meta.lfs))
    }
}

/// The sum of `values`, or `None` when it overflows `u64`.
fn checked_sum(mut values: impl Iterator<Item = u64>) -> Option<u64> {
    values.try_fold(0u64, u64::checked_add)
}

/// `call`, or `Cancelled` as soon as `cancel` fires: the hub's metadata calls retry with
/// backoff and wait out read timeouts (minutes on a stalled network), and Pause must not wait
/// for them. Nothing is written before the transfers, so nothing is lost.
async fn unless_cancelled<T>(
    cancel: &CancellationToken,
    call: impl std::future::Future<Output = Result<T, HubError>>,
) -> Result<T, HubError> {
    tokio::select! {
        _ = cancel.cancelled() => Err(HubError::Cancelled { kept_bytes: 0 }),
        r = call => r,
    }
}
