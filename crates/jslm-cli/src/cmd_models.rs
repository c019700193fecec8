//! `jslm models [--json]` (what is downloaded: status, size, path, plus the catalog; and the
//! copies of this model other apps keep, found by `jslm_runtime::discover`) and `jslm rm MODEL`
//! (delete a model from the cache).

use jslm_hub::units::human_bytes;
use jslm_hub::{catalog, delete_model, list_installed, resolve_model, InstallStatus};

use crate::hub_common;
use jslm_runtime::discover::{self, hashes::HashStore, Discovery, ScanFolder, Verification};
use std::path::PathBuf;

/// `jslm models` options.
#[derive(clap::Args, Debug)]
pub struct ModelsArgs {
    /// Print JSON (`{"installed": [...], "catalog": [...], "scanned": [...], "found": [...]}`)
    /// instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Also look for copies of the model in this folder (repeatable; `JSLM_MODEL_DIRS` adds
    /// more, separated like PATH).
    #[arg(long = "scan", value_name = "DIR", value_parser = crate::paths::user_path())]
    pub scan: Vec<PathBuf>,
    /// Look only in the folders given with --scan / JSLM_MODEL_DIRS, not in the apps' own.
    #[arg(long)]
    pub no_default_folders: bool,
    /// Check the sha256 of found files whose store names one (slow once per file: remembered).
    #[arg(long)]
    pub verify: bool,
}

/// The folders to scan: the apps' own (unless told not to) and the user's.
fn scan_folders(args: &ModelsArgs, hf_cache: &std::path::Path) -> Vec<ScanFolder> {
    discover::user_folders(!args.no_default_folders, &args.scan, hf_cache)
}

/// Scans `folders`, remembering hashes in the CLI's cache folder.
fn find_on_disk(folders: &[ScanFolder], verify: bool) -> Discovery {
    let mut hashes = HashStore::open(&jslm_runtime::hash_store_in(&crate::paths::jslm_cache_dir()));
    let found = discover::discover(
        folders,
        &discover::Expected::this_model(),
        &mut hashes,
        verify,
    );
    if let Err(e) = hashes.save() {
        eprintln!("warning: could not remember file hashes: {e}");
    }
    found
}

fn print_found(folders: &[ScanFolder], discovery: &Discovery) -> anyhow::Result<()> {
    outln!()?;
    outln!("Found on disk (use in place: `jslm generate --model PATH`):")?;
    if discovery.found.is_empty() {
        outln!("  none")?;
    }
    for f in &discovery.found {
        let check = match &f.verification {
            Verification::NoHashKnown => "",
            Verification::NotChecked { .. } => ", sha256 not checked (--verify)",
            Verification::Checked { matches: true, .. } => ", sha256 verified",
            Verification::Checked { matches: false, .. } => {
                ", SHA256 MISMATCH: the file is damaged"
            }
        };
        let tokenizer = if f.tokenizer_json.is_some() {
            "tokenizer.json beside it"
        } else if f.has_vocabulary {
            "its own vocabulary"
        } else {
            "no tokenizer (pass --tokenizer)"
        };
        outln!(
            "  {:<7} {:>9}  {}: {}  ({tokenizer}{check})",
            f.precision.label(),
            human_bytes(f.size_bytes),
            f.source.label(),
            f.name
        )?;
        outln!("          {}", f.path.display())?;
    }
    outln!(
        "Looked in: {}",
        folders
            .iter()
            .map(|f| format!("{} ({})", f.path.display(), f.source.label()))
            .collect::<Vec<_>>()
            .join(", ")
    )
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
    let folders = scan_folders(&args, cache.root());
    let discovery = find_on_disk(&folders, args.verify);
    if args.json {
        let value = serde_json::json!({
            "cache": cache.root(),
            "installed": installed,
            "catalog": catalog().models,
            "scanned": folders,
            "found": discovery.found,
            "skipped": discovery.skipped,
        });
        outln!("{}", serde_json::to_string_pretty(&value)?)?;
        return Ok(());
    }
    outln!("Cache: {}", cache.root().display())?;
    if installed.is_empty() {
        outln!("No models downloaded yet.")?;
    }
    for model in &installed {
        let id = model
            .catalog_id
            .as_deref()
            .map(|c| format!(" ({c})"))
            .unwrap_or_default();
        outln!(
            "{}{id}  {} on disk",
            model.repo,
            human_bytes(model.disk_bytes)
        )?;
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
            outln!(
                "  {}{refs}  {status}  {} files",
                rev.commit.get(..10).unwrap_or(&rev.commit),
                rev.files
            )?;
        }
    }
    outln!()?;
    outln!("Catalog:")?;
    for entry in &catalog().models {
        let gated = if entry.gated {
            ", gated: accept the terms on huggingface.co and `jslm login`"
        } else {
            ""
        };
        outln!(
            "  {:<20} {} (~{}, {}{gated})",
            entry.id,
            entry.repo,
            human_bytes(entry.approx_size_bytes),
            entry.container.as_str()
        )?;
    }
    print_found(&folders, &discovery)
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
