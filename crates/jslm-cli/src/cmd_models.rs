//! `jslm models [--json]` (what is downloaded: status, size, path, plus the catalog) and
//! `jslm rm MODEL` (delete a model from the cache).

use jslm_hub::units::human_bytes;
use jslm_hub::{catalog, delete_model, list_installed, resolve_model, InstallStatus};

use crate::hub_common;

/// `jslm models` options.
#[derive(clap::Args, Debug)]
pub struct ModelsArgs {
    /// Print JSON (`{"installed": [...], "catalog": [...]}`) instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `jslm rm` options.
#[derive(clap::Args, Debug)]
pub struct RmArgs {
    /// Catalog id or repo id.
    pub model: String,
}

/// Lists installed models and the catalog.
pub fn models(args: ModelsArgs) -> anyhow::Result<()> {
    hub_common::init_logging();
    let config = hub_common::config();
    let cache = jslm_hub::HfCache::new(config.cache_dir.clone());
    let installed = list_installed(&cache)?;
    if args.json {
        let value = serde_json::json!({ "cache": cache.root(), "installed": installed, "catalog": catalog().models });
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    println!("Cache: {}", cache.root().display());
    if installed.is_empty() {
        println!("No models downloaded yet.");
    }
    for model in &installed {
        let id = model
            .catalog_id
            .as_deref()
            .map(|c| format!(" ({c})"))
            .unwrap_or_default();
        println!(
            "{}{id}  {} on disk",
            model.repo,
            human_bytes(model.disk_bytes)
        );
        for rev in &model.revisions {
            let status = match &rev.status {
                InstallStatus::Complete { verified: true } => "complete, verified".to_string(),
                InstallStatus::Complete { verified: false } => "complete".to_string(),
                InstallStatus::Partial { percent } => format!("partial {percent:.1} %"),
            };
            let refs = if rev.refs.is_empty() {
                String::new()
            } else {
                format!(" [{}]", rev.refs.join(", "))
            };
            println!(
                "  {}{refs}  {status}  {} files",
                rev.commit.get(..10).unwrap_or(&rev.commit),
                rev.files
            );
        }
    }
    println!();
    println!("Catalog:");
    for entry in &catalog().models {
        let gated = if entry.gated {
            ", gated: accept the terms on huggingface.co and `jslm login`"
        } else {
            ""
        };
        println!(
            "  {:<20} {} (~{}, {}{gated})",
            entry.id,
            entry.repo,
            human_bytes(entry.approx_size_bytes),
            entry.container.as_str()
        );
    }
    Ok(())
}

/// Deletes a model (all revisions, blobs and partial downloads).
pub fn rm(args: RmArgs) -> anyhow::Result<()> {
    hub_common::init_logging();
    let (repo, _) = resolve_model(&args.model)?;
    let config = hub_common::config();
    let cache = jslm_hub::HfCache::new(config.cache_dir.clone());
    let freed = delete_model(&cache, &repo)?;
    eprintln!("Deleted {repo} ({} freed)", human_bytes(freed));
    Ok(())
}
