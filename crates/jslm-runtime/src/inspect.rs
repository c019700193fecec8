//! What a file or folder the user chose is, before anything is loaded: the model read from its
//! files (the same bounded readers and checks as a load), its tokenizer found and checked (a
//! GGUF without `tokenizer.json` must carry this model's vocabulary), and the plan on this
//! machine — shown to the user so they can decide before minutes of loading.
//!
//! Unlike [`crate::plan`], a plan that will not fit is not an error here: the user sees the
//! numbers and may still choose "load anyway".

use crate::choices::RunChoices;
use crate::error::Result;
use crate::model_ref::ModelSource;
use crate::planning::{device_name, plan_spec};
use jslm_core::{Container, Precision};
use jslm_engine::files::tokenizer_beside;
use jslm_engine::{JslmTokenizer, ModelDescription, TokenizerSource};
use jslm_hardware::{DevicePlan, HardwareProfile};
use serde::Serialize;
use std::path::PathBuf;

/// Where the tokenizer of an inspected model comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TokenizerOrigin {
    /// A Hugging Face `tokenizer.json` (beside the weights, or the one given).
    Json { path: PathBuf },
    /// The vocabulary in the GGUF's own metadata.
    GgufMetadata,
}

/// A chosen model, read and planned, not loaded.
#[derive(Debug, Clone, Serialize)]
pub struct Inspection {
    /// The folder or file as chosen.
    pub path: PathBuf,
    pub name: String,
    pub container: Container,
    /// The precision stored in the files (a GGUF's mix, e.g. Q4_K_M).
    pub stored: Precision,
    pub size_bytes: u64,
    pub context_tokens: u32,
    pub tokenizer: TokenizerOrigin,
    pub plan: DevicePlan,
    /// The planned device as people know it.
    pub device_name: String,
}

/// Reads and checks the model at `source` and plans it on `profile` with `choices`.
///
/// Errors are those a load would give first (missing or malformed files, a foreign vocabulary,
/// a choice the plan cannot honour); a plan that will not fit is returned, not refused.
pub fn inspect(
    profile: &HardwareProfile,
    source: &ModelSource,
    choices: &RunChoices,
) -> Result<Inspection> {
    let (description, tokenizer_source) = check_files(source)?;
    // Built and dropped: the checks a load makes (a foreign vocabulary, a broken
    // tokenizer.json) are made now, while the user is still choosing. Tens of milliseconds.
    JslmTokenizer::load(&tokenizer_source, description.shape.vocab_size as usize)?;
    let plan = plan_spec(profile, &description.spec(), choices)?;
    Ok(Inspection {
        path: source.weights.clone(),
        name: description.display_name(),
        container: description.container,
        stored: description.stored,
        size_bytes: description.size_bytes,
        context_tokens: description.context_tokens,
        tokenizer: match tokenizer_source {
            TokenizerSource::Json(path) => TokenizerOrigin::Json { path },
            TokenizerSource::Gguf(_) => TokenizerOrigin::GgufMetadata,
        },
        device_name: device_name(profile, plan.device),
        plan,
    })
}

/// The checks of the model's files that take no time: they are there, their headers read,
/// and a tokenizer goes with them. Front ends run them before letting go of a loaded model,
/// so that a typo or a damaged file does not cost the model that works.
pub fn check_files(source: &ModelSource) -> Result<(ModelDescription, TokenizerSource)> {
    let description = ModelDescription::read(&source.weights)?;
    let tokenizer = tokenizer_beside(&description.weights, source.tokenizer.as_deref())?;
    Ok((description, tokenizer))
}

#[cfg(test)]
mod tests {
    use super::*;
    use jslm_core::ErrorCode;
    use jslm_hardware::FitLevel;
    use std::path::Path;

    fn fixtures() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
    }

    fn profile() -> HardwareProfile {
        HardwareProfile::detect(&Default::default())
    }

    #[test]
    fn a_gguf_with_its_vocabulary_needs_no_tokenizer_json() {
        let file = fixtures().join("tiny-mistral-gguf/model-f16.gguf");
        let source = ModelSource::from_path(&file, None);
        let seen = inspect(&profile(), &source, &RunChoices::default()).unwrap();
        assert_eq!(seen.tokenizer, TokenizerOrigin::GgufMetadata);
        assert_eq!(seen.container, Container::Gguf);
        assert_eq!(seen.stored, Precision::F16);
        assert_eq!(seen.size_bytes, std::fs::metadata(&file).unwrap().len());
        assert_eq!(seen.plan.fit.level, FitLevel::Comfortable);
    }

    #[test]
    fn a_folder_uses_its_tokenizer_json() {
        let dir = fixtures().join("tiny-mistral");
        let seen = inspect(
            &profile(),
            &ModelSource::from_path(&dir, None),
            &RunChoices::default(),
        )
        .unwrap();
        assert_eq!(
            seen.tokenizer,
            TokenizerOrigin::Json {
                path: dir.join("tokenizer.json")
            }
        );
        assert_eq!(seen.container, Container::Safetensors);
    }

    #[test]
    fn what_a_load_would_refuse_is_refused_before_it() {
        let dir = tempfile::tempdir().unwrap();
        // A folder without a model.
        let err = inspect(
            &profile(),
            &ModelSource::from_path(dir.path(), None),
            &RunChoices::default(),
        )
        .unwrap_err();
        assert_eq!(err.code(), ErrorCode::MissingFile);
        // Not a GGUF at all, whatever its name says: no model this engine runs.
        let fake = dir.path().join("model.gguf");
        std::fs::write(&fake, b"<html>not a model</html>").unwrap();
        let err = inspect(
            &profile(),
            &ModelSource::from_path(&fake, None),
            &RunChoices::default(),
        )
        .unwrap_err();
        assert_eq!(err.code(), ErrorCode::UnsupportedModel);
    }

    #[test]
    fn a_plan_that_will_not_fit_is_shown_not_refused() {
        let mut small = profile();
        small.memory.total_bytes = 64 << 20;
        small.memory.available_bytes = 16 << 20;
        let file = fixtures().join("tiny-mistral-gguf/model-f16.gguf");
        let seen = inspect(
            &small,
            &ModelSource::from_path(&file, None),
            &RunChoices::default(),
        )
        .unwrap();
        assert_eq!(seen.plan.fit.level, FitLevel::WillNotFit);
    }
}
