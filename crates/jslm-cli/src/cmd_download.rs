//! `jslm download MODEL [--file F]... [--revision R]`: download a catalog model or any repo into
//! the Hugging Face cache with progress bars; prints the snapshot folder on stdout. (Other
//! commands download on demand through the runtime: `crate::load::resolve`.)

use std::sync::Arc;

use jslm_hub::{DownloadRequest, DownloadedModel};

use crate::hub_common;
use crate::progress_bars::Bars;

/// `jslm download` options.
#[derive(clap::Args, Debug)]
pub struct DownloadArgs {
    /// Catalog id (`jslm-gamma-7b`, `jslm-gamma-7b-gguf`) or Hugging Face repo id (`org/name`).
    pub model: String,
    /// A file to download (repeatable). For GGUF models a quantisation such as `Q8_0` works.
    /// Default: the catalog's files, or every file of another repo.
    #[arg(long = "file")]
    pub files: Vec<String>,
    /// Branch, tag or commit (default: the catalog's, else `main`).
    #[arg(long)]
    pub revision: Option<String>,
    /// Print the result as JSON on stdout instead of the snapshot path.
    #[arg(long)]
    pub json: bool,
}

/// Runs `jslm download`.
pub fn download(args: DownloadArgs) -> anyhow::Result<()> {
    let request = DownloadRequest {
        model: args.model,
        revision: args.revision,
        files: args.files,
    };
    let model = fetch(request)?;
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&model)?)?;
    } else {
        outln!("{}", model.snapshot_dir.display())?;
    }
    Ok(())
}

fn fetch(request: DownloadRequest) -> anyhow::Result<DownloadedModel> {
    hub_common::init_logging();
    let manager = hub_common::manager()?;
    let bars = Arc::new(Bars::new());
    let for_events = bars.clone();
    let runtime = hub_common::runtime()?;
    let (cancel, _ctrl_c) = crate::interrupt::cancellation_token();
    let result = runtime.block_on(async {
        manager
            .download(request, move |event| for_events.on_event(&event), cancel)
            .await
    });
    bars.clear();
    Ok(result?)
}
