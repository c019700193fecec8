//! `RunChoices`: what the user decided about how a model runs — the same fields whether they
//! come from `jslm generate` flags, the window's settings or a server request. Everything
//! left `None` is the plan's to decide.

use jslm_core::Precision;
use jslm_hardware::{DeviceKind, PlanSettings};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunChoices {
    /// The device to run on; `None`: CUDA, then Metal, then the CPU, as fits.
    pub device: Option<DeviceKind>,
    /// The precision to run at; `None` ("auto"): the plan's. An explicit precision is
    /// followed even where the plan would prefer another (it must still fit, unless `force`).
    #[serde(with = "auto_precision")]
    pub precision: Option<Precision>,
    /// CPU threads; `None`: the physical core count.
    pub threads: Option<u32>,
    /// Tokens of context to reserve memory for; `None`: as much as fits, up to the model's.
    pub context_tokens: Option<u32>,
    /// On the CPU, prefer Q8_0 over Q4_K_M when it fits comfortably.
    pub prefer_quality: bool,
    /// Load even where the plan estimates that the model will not fit.
    pub force: bool,
    /// Blocks of a quantized model on the NVIDIA GPU, the rest on the CPU (llama.cpp's
    /// `-ngl`); `None`: the plan's (`PlanSettings::gpu_layers`).
    pub gpu_layers: Option<u32>,
}

impl RunChoices {
    /// The planner's settings for these choices.
    pub fn plan_settings(&self) -> PlanSettings {
        PlanSettings {
            device: self.device,
            precision: self.precision,
            threads: self.threads,
            context_tokens: self.context_tokens,
            prefer_quality: self.prefer_quality,
            // An explicit precision is the user's to choose, even a slow one; whether it fits
            // is checked (and refused unless forced) after planning.
            force: self.force || self.precision.is_some(),
            gpu_layers: self.gpu_layers,
            ..PlanSettings::default()
        }
    }
}

/// Serde for an optional precision where `None` is "auto", the word the window's select and
/// settings use (`#[serde(with = "jslm_runtime::choices::auto_precision")]`).
pub mod auto_precision {
    use super::*;

    pub fn serialize<S: Serializer>(p: &Option<Precision>, s: S) -> Result<S::Ok, S::Error> {
        match p {
            Some(p) => p.serialize(s),
            None => s.serialize_str("auto"),
        }
    }

    /// "auto" (or null) reads as `None`.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Precision>, D::Error> {
        match Option::<String>::deserialize(d)?.as_deref() {
            None | Some("auto") => Ok(None),
            Some(text) => text.parse().map(Some).map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_and_explicit_precisions_round_trip() {
        let auto: RunChoices = serde_json::from_str(r#"{"precision": "auto"}"#).unwrap();
        assert_eq!(auto.precision, None);
        assert!(!auto.plan_settings().force);
        let q8: RunChoices = serde_json::from_str(r#"{"precision": "q8_0"}"#).unwrap();
        assert_eq!(q8.precision, Some(Precision::Q8_0));
        assert!(
            q8.plan_settings().force,
            "an explicit precision is followed"
        );
        assert_eq!(
            serde_json::to_value(&auto).unwrap()["precision"],
            serde_json::json!("auto")
        );
        assert_eq!(
            serde_json::to_value(&q8).unwrap()["precision"],
            serde_json::json!("q8_0")
        );
        assert!(serde_json::from_str::<RunChoices>(r#"{"precision": "q9"}"#).is_err());
    }
}
