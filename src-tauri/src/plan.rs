//! The device plan for a model in the app: what `jslm_hardware::plan` decides (precision,
//! threads, context, memory fit) for the model's shape and files on this machine, with the
//! user's precision override.
//!
//! `model_spec` is the engine's `planner_spec`, as in the CLI, so that the app and
//! `jslm generate` load a model the same way (and give the same text for the same seed).

use crate::error::{AppError, AppResult};
use jslm_engine::Quantization;
use jslm_hardware::{
    plan, DevicePlan, HardwareProfile, ModelSpec, PlanSettings, Precision, WeightFormat,
};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The user's precision override for safetensors models (a GGUF runs as it is).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrecisionChoice {
    /// The plan decides (on a CPU: quantize to Q4_K_M, or Q8_0 when asked for quality).
    #[default]
    Auto,
    F32,
    Bf16,
    #[serde(rename = "q8_0")]
    Q80,
    #[serde(rename = "q4_k_m")]
    Q4KM,
}

impl PrecisionChoice {
    fn precision(self) -> Option<Precision> {
        match self {
            Self::Auto => None,
            Self::F32 => Some(Precision::F32),
            Self::Bf16 => Some(Precision::Bf16),
            Self::Q80 => Some(Precision::Q8_0),
            Self::Q4KM => Some(Precision::Q4KM),
        }
    }
}

/// The model as the planner sees it (shared with the CLI).
pub fn model_spec(path: &Path) -> AppResult<ModelSpec> {
    Ok(jslm_engine::planner_spec::model_spec(path)?)
}

/// The plan for `spec` on `profile` with the user's choice. A GGUF's precision is its own.
/// An explicit precision is followed even where the plan would prefer another (as the CLI
/// does with `--dtype`/`--quantize`); whether it fits is still checked by [`check_fit`].
pub fn plan_model(
    profile: &HardwareProfile,
    spec: &ModelSpec,
    choice: PrecisionChoice,
    force: bool,
) -> DevicePlan {
    let is_gguf = spec.files.iter().all(|f| f.format.is_gguf());
    let precision = if is_gguf {
        spec.files.first().map(|f| match f.format {
            WeightFormat::GgufQ8_0 => Precision::Q8_0,
            _ => Precision::Q4KM,
        })
    } else {
        choice.precision()
    };
    let settings = PlanSettings {
        precision,
        force: force || is_gguf || choice != PrecisionChoice::Auto,
        ..PlanSettings::default()
    };
    plan(profile, spec, &settings)
}

/// The in-app quantization a plan asks for.
pub fn quantization(plan: &DevicePlan) -> Option<Quantization> {
    match plan.precision {
        Precision::Q4KM => Some(Quantization::Q4KM),
        Precision::Q8_0 => Some(Quantization::Q8_0),
        _ => None,
    }
}

/// Refuses a plan whose estimate does not fit, unless the user forced it.
pub fn check_fit(plan: &DevicePlan, force: bool) -> AppResult<()> {
    if plan.fit.level == jslm_hardware::FitLevel::WillNotFit && !force {
        return Err(AppError::WillNotFit {
            message: plan.fit.message.clone(),
            needed_bytes: plan.fit.needed_bytes,
            available_bytes: plan.fit.available_bytes,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> std::path::PathBuf {
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/tiny-mistral")
    }

    #[test]
    fn spec_of_the_tiny_fixture() {
        let spec = model_spec(&tiny()).unwrap();
        assert_eq!(spec.shape.hidden_size, 64);
        assert_eq!(spec.shape.num_hidden_layers, 2);
        assert_eq!(spec.max_context_tokens, 4096);
        assert!(spec.files[0].size_bytes > 1_000_000);
    }

    #[test]
    fn missing_model_is_an_engine_error() {
        let err = model_spec(Path::new("/no/such/model")).unwrap_err();
        assert_eq!(err.code(), "missing_file");
    }

    #[test]
    fn choices_become_plan_precisions() {
        let cases = [
            (PrecisionChoice::Auto, None),
            (PrecisionChoice::F32, Some(Precision::F32)),
            (PrecisionChoice::Bf16, Some(Precision::Bf16)),
            (PrecisionChoice::Q80, Some(Precision::Q8_0)),
            (PrecisionChoice::Q4KM, Some(Precision::Q4KM)),
        ];
        for (choice, expected) in cases {
            assert_eq!(choice.precision(), expected, "{choice:?}");
        }
    }

    #[test]
    fn the_tiny_model_fits_here_and_a_huge_need_is_refused() {
        let profile = HardwareProfile::detect(&Default::default());
        let spec = model_spec(&tiny()).unwrap();
        let p = plan_model(&profile, &spec, PrecisionChoice::Auto, false);
        check_fit(&p, false).unwrap();

        let mut huge = p.clone();
        huge.fit.level = jslm_hardware::FitLevel::WillNotFit;
        let err = check_fit(&huge, false).unwrap_err();
        assert_eq!(err.code(), "will_not_fit");
        check_fit(&huge, true).unwrap();
    }
}
