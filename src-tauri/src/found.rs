//! The model manager's "on this computer" list: copies of the model other apps keep (the
//! runtime's `discover`, over the same folders `jslm models` scans plus the folders the user
//! added in the window), each with how it would fit here, and the folders that were read.
//! Runs on a blocking thread; knows nothing of Tauri.

use crate::model_rows::FitRow;
use jslm_core::Container;
use jslm_hardware::{HardwareProfile, ModelSpec, WeightFile};
use jslm_runtime::discover::{self, hashes::HashStore, Expected, FoundModel, ScanFolder, Skipped};
use jslm_runtime::RunChoices;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// A folder that was scanned.
#[derive(Debug, Clone, Serialize)]
pub struct FolderRow {
    #[serde(flatten)]
    pub folder: ScanFolder,
    /// The user added it in the window (and may remove it); the others are the apps' own or
    /// come from `JSLM_MODEL_DIRS`.
    pub added: bool,
}

/// One copy found, with its fit on this machine.
#[derive(Debug, Clone, Serialize)]
pub struct FoundRow {
    #[serde(flatten)]
    pub model: FoundModel,
    pub fit: FitRow,
    /// The loaded model is this file.
    pub active: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct FoundModels {
    pub folders: Vec<FolderRow>,
    pub found: Vec<FoundRow>,
    pub skipped: Vec<Skipped>,
}

/// What to scan and where to remember hashes.
#[derive(Debug, Clone)]
pub struct ScanRequest {
    /// Folders the user added in the window.
    pub added: Vec<PathBuf>,
    pub hf_cache: PathBuf,
    pub hashes: PathBuf,
    /// Compute the sha256 of files whose store names one (once per file: remembered).
    pub verify: bool,
}

/// Scans the folders of `request` for this model.
pub fn scan(
    request: &ScanRequest,
    profile: &HardwareProfile,
    choices: &RunChoices,
    active: Option<&Path>,
) -> FoundModels {
    let folders = discover::user_folders(true, &request.added, &request.hf_cache);
    let mut hashes = HashStore::open(&request.hashes);
    let expected = Expected::this_model();
    let discovery = discover::discover(&folders, &expected, &mut hashes, request.verify);
    if let Err(e) = hashes.save() {
        eprintln!("jslm-desktop: could not remember file hashes: {e}");
    }
    rows(
        folders,
        discovery,
        &request.added,
        profile,
        choices,
        &expected,
        active,
    )
}

fn rows(
    folders: Vec<ScanFolder>,
    discovery: discover::Discovery,
    added: &[PathBuf],
    profile: &HardwareProfile,
    choices: &RunChoices,
    expected: &Expected,
    active: Option<&Path>,
) -> FoundModels {
    let found = discovery
        .found
        .into_iter()
        .map(|model| FoundRow {
            fit: fit(profile, choices, expected, &model),
            active: active == Some(model.path.as_path()),
            model,
        })
        .collect();
    FoundModels {
        folders: folders
            .into_iter()
            .map(|folder| FolderRow {
                added: added.contains(&folder.path),
                folder,
            })
            .collect(),
        found,
        skipped: discovery.skipped,
    }
}

/// The plan for the found file as it is (its own type and size).
fn fit(
    profile: &HardwareProfile,
    choices: &RunChoices,
    expected: &Expected,
    model: &FoundModel,
) -> FitRow {
    let spec = ModelSpec::new(
        model.name.clone(),
        expected.shape,
        expected.context_tokens,
        vec![WeightFile {
            container: Container::Gguf,
            precision: model.precision,
            size_bytes: model.size_bytes,
        }],
    );
    jslm_hardware::plan(profile, &spec, &choices.plan_settings()).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use jslm_core::Precision;
    use jslm_hardware::FitLevel;
    use jslm_runtime::discover::{Source, Verification};

    fn found(size_bytes: u64, precision: Precision) -> FoundModel {
        FoundModel {
            path: PathBuf::from("/m/TheBloke/x/japanese-stablelm-instruct-gamma-7b.Q4_K_M.gguf"),
            source: Source::LmStudio,
            name: "TheBloke/x/japanese-stablelm-instruct-gamma-7b.Q4_K_M.gguf".into(),
            size_bytes,
            precision,
            has_vocabulary: true,
            tokenizer_json: None,
            verification: Verification::NoHashKnown,
        }
    }

    #[test]
    fn each_copy_is_planned_as_it_is_and_added_folders_are_marked() {
        let mut profile = HardwareProfile::detect(&Default::default());
        profile.memory.total_bytes = 16_000_000_000;
        profile.memory.available_bytes = 12_000_000_000;
        let folders = vec![
            ScanFolder {
                source: Source::LmStudio,
                path: "/home/u/.lmstudio/models".into(),
            },
            ScanFolder {
                source: Source::Folder,
                path: "/data/models".into(),
            },
        ];
        let discovery = discover::Discovery {
            found: vec![found(4_368_438_976, Precision::Q4KM)],
            skipped: vec![],
        };
        let active = PathBuf::from("/m/TheBloke/x/japanese-stablelm-instruct-gamma-7b.Q4_K_M.gguf");
        let out = rows(
            folders,
            discovery,
            &[PathBuf::from("/data/models")],
            &profile,
            &RunChoices::default(),
            &Expected::this_model(),
            Some(&active),
        );
        assert_eq!(
            out.folders.iter().map(|f| f.added).collect::<Vec<_>>(),
            [false, true]
        );
        let row = &out.found[0];
        assert!(row.active);
        // The file's own type, not the catalog's default.
        assert_eq!(row.fit.precision, Precision::Q4KM);
        assert_eq!(row.fit.level, FitLevel::Comfortable);
        assert!(row.fit.needed_bytes > 4_368_438_976);
        let json = serde_json::to_value(&out).unwrap();
        assert_eq!(json["found"][0]["source"], "lm_studio");
        assert_eq!(json["folders"][1]["path"], "/data/models");
    }
}
