//! From a [`ModelRef`] to the files on disk: a path as it is; a catalog or repo id from the
//! Hugging Face cache ([`resolve_local`], no network), or downloaded when missing
//! ([`resolve`], with the hub's progress events and cancellation).

use crate::error::{Result, RuntimeError};
use crate::model_ref::{ModelRef, ModelSource};
use jslm_hub::{CancellationToken, DownloadEvent, DownloadManager};

/// The files of `model` already on disk; `not_downloaded` for an id whose files are not all
/// in the cache.
pub fn resolve_local(manager: &DownloadManager, model: &ModelRef) -> Result<ModelSource> {
    let Some(request) = model.download_request() else {
        return Ok(source_of_path(model));
    };
    match manager.find_local(&request)? {
        Some(found) => Ok(ModelSource::from_downloaded(&found)),
        None => Err(RuntimeError::NotDownloaded(request.model)),
    }
}

/// The files of `model`, downloaded first when an id's files are not all in the cache.
pub async fn resolve(
    manager: &DownloadManager,
    model: &ModelRef,
    progress: impl Fn(DownloadEvent) + Send + Sync,
    cancel: CancellationToken,
) -> Result<ModelSource> {
    let Some(request) = model.download_request() else {
        return Ok(source_of_path(model));
    };
    if let Some(found) = manager.find_local(&request)? {
        return Ok(ModelSource::from_downloaded(&found));
    }
    let downloaded = manager.download(request, progress, cancel).await?;
    Ok(ModelSource::from_downloaded(&downloaded))
}

fn source_of_path(model: &ModelRef) -> ModelSource {
    match model {
        ModelRef::Path(path) => ModelSource::from_path(path, None),
        ModelRef::Hub { id, .. } => ModelSource::from_path(std::path::Path::new(id), None),
    }
}
