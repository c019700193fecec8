//! The model manager's rows: each catalog model with its download state in the cache and how
//! it would fit on this machine (the runtime's plan for the catalog's shape and file, as a
//! downloaded copy would be planned).

use jslm_core::Precision;
use jslm_hardware::{DevicePlan, FitLevel, HardwareProfile, PlanReason};
use jslm_hub::installed::InstalledModel;
use jslm_hub::{catalog, CatalogEntry, InstallStatus};
use jslm_runtime::RunChoices;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Where a model stands.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum RowStatus {
    NotDownloaded,
    /// Some bytes are there (a paused or interrupted download); resuming continues from them.
    Partial {
        percent: f64,
    },
    /// A download runs now.
    Downloading,
    /// Every file is in the cache; `verified`: each file's hash was checked.
    Ready {
        verified: bool,
    },
}

/// The plan's verdict for this model on this machine.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FitRow {
    pub precision: Precision,
    pub reason: PlanReason,
    pub level: FitLevel,
    pub needed_bytes: u64,
    pub available_bytes: u64,
    pub message: String,
    /// Set when the model would be split between a GPU too small for it and the CPU.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub split: Option<jslm_hardware::LayerSplit>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ModelRow {
    #[serde(flatten)]
    pub entry: CatalogEntry,
    pub status: RowStatus,
    /// Bytes in the cache (complete and partial files).
    pub disk_bytes: u64,
    pub fit: FitRow,
    /// The loaded model comes from this repo.
    pub active: bool,
}

/// The state of `installed`, or `Downloading` while `downloading`.
pub fn status(installed: &InstalledModel, downloading: bool) -> RowStatus {
    if downloading {
        return RowStatus::Downloading;
    }
    let mut best = RowStatus::NotDownloaded;
    for revision in &installed.revisions {
        match revision.status {
            InstallStatus::Complete { verified } => return RowStatus::Ready { verified },
            InstallStatus::Partial { percent } => {
                let better = match best {
                    RowStatus::Partial { percent: p } => percent > p,
                    _ => true,
                };
                if better {
                    best = RowStatus::Partial { percent };
                }
            }
        }
    }
    if best == RowStatus::NotDownloaded && installed.partial_bytes > 0 {
        // Partial files without a manifest yet: the download had just begun. (Complete files
        // alone, e.g. another model's tokenizer in this repo, are no download of this one.)
        return RowStatus::Partial { percent: 0.0 };
    }
    best
}

/// How `entry` (its default file) would fit on `profile` with `choices`. A choice this model
/// cannot follow (a precision none of its files gives) is left to the plan here: the row
/// shows what would run.
pub fn fit(profile: &HardwareProfile, entry: &CatalogEntry, choices: &RunChoices) -> FitRow {
    let spec = jslm_runtime::catalog::spec(entry, None).unwrap_or_else(|_| {
        jslm_hardware::ModelSpec::new(
            entry.name.clone(),
            entry.shape,
            entry.context_tokens,
            vec![],
        )
    });
    jslm_hardware::plan(profile, &spec, &choices.plan_settings()).into()
}

impl From<DevicePlan> for FitRow {
    fn from(p: DevicePlan) -> Self {
        FitRow {
            precision: p.precision,
            reason: p.reason,
            level: p.fit.level,
            needed_bytes: p.fit.needed_bytes,
            available_bytes: p.fit.available_bytes,
            message: p.fit.message,
            split: p.split,
        }
    }
}

/// Every catalog model as a row. `installed(repo)` inspects the cache, `downloading(id)` tells
/// running downloads, `active_path` is the loaded model's path.
pub fn rows(
    profile: &HardwareProfile,
    choices: &RunChoices,
    installed: impl Fn(&CatalogEntry) -> InstalledModel,
    downloading: impl Fn(&str) -> bool,
    active_path: Option<&Path>,
) -> Vec<ModelRow> {
    catalog()
        .models
        .iter()
        .map(|entry| {
            let found = installed(entry);
            ModelRow {
                status: status(&found, downloading(&entry.id)),
                disk_bytes: found.disk_bytes,
                fit: fit(profile, entry, choices),
                active: active_path.is_some_and(|p| p.starts_with(&found.path)),
                entry: entry.clone(),
            }
        })
        .collect()
}

/// An absent model, for a repo id the cache cannot parse (not expected for catalog repos).
pub fn absent(entry: &CatalogEntry, cache_root: &Path) -> InstalledModel {
    InstalledModel {
        repo: entry.repo.clone(),
        catalog_id: Some(entry.id.clone()),
        container: Some(entry.container),
        path: PathBuf::from(cache_root),
        disk_bytes: 0,
        partial_bytes: 0,
        revisions: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jslm_hub::installed::InstalledRevision;

    fn installed(revisions: Vec<InstallStatus>, disk_bytes: u64) -> InstalledModel {
        InstalledModel {
            repo: "org/m".into(),
            catalog_id: None,
            container: None,
            path: "/c/models--org--m".into(),
            disk_bytes,
            partial_bytes: disk_bytes,
            revisions: revisions
                .into_iter()
                .map(|status| InstalledRevision {
                    commit: "c".into(),
                    refs: vec![],
                    status,
                    files: 1,
                    present_bytes: 0,
                    expected_bytes: None,
                    snapshot_dir: "/c/s".into(),
                    selections: vec![],
                })
                .collect(),
        }
    }

    #[test]
    fn status_table() {
        use InstallStatus::*;
        let cases = [
            (installed(vec![], 0), false, RowStatus::NotDownloaded),
            (
                installed(vec![], 10),
                false,
                RowStatus::Partial { percent: 0.0 },
            ),
            // Only complete files of another model (the GGUF builds' tokenizer): not a download.
            (
                InstalledModel {
                    partial_bytes: 0,
                    ..installed(vec![], 10)
                },
                false,
                RowStatus::NotDownloaded,
            ),
            (
                installed(
                    vec![Partial { percent: 10.0 }, Partial { percent: 40.0 }],
                    1,
                ),
                false,
                RowStatus::Partial { percent: 40.0 },
            ),
            (
                installed(
                    vec![Partial { percent: 10.0 }, Complete { verified: true }],
                    1,
                ),
                false,
                RowStatus::Ready { verified: true },
            ),
            (
                installed(vec![Complete { verified: false }], 1),
                true,
                RowStatus::Downloading,
            ),
        ];
        for (model, downloading, expected) in cases {
            assert_eq!(status(&model, downloading), expected);
        }
    }

    #[test]
    fn every_catalog_model_gets_a_row_with_a_fit() {
        let profile = HardwareProfile::detect(&Default::default());
        let dir = tempfile::tempdir().unwrap();
        let rows = rows(
            &profile,
            &RunChoices::default(),
            |e| absent(e, dir.path()),
            |id| id == "jslm-gamma-7b-gguf",
            None,
        );
        assert_eq!(rows.len(), catalog().models.len());
        assert_eq!(rows[0].status, RowStatus::NotDownloaded);
        assert_eq!(rows[1].status, RowStatus::Downloading);
        let gguf = rows
            .iter()
            .find(|r| r.entry.id == "jslm-gamma-7b-gguf")
            .unwrap();
        assert_eq!(gguf.fit.precision, Precision::Q4KM);
        assert!(
            gguf.fit.needed_bytes > 4_000_000_000,
            "a 7B model needs GBs"
        );
        let json = serde_json::to_value(gguf).unwrap();
        assert_eq!(json["id"], "jslm-gamma-7b-gguf");
        assert_eq!(json["status"]["state"], "downloading");
        assert!(json["fit"]["level"].is_string());
    }
}
