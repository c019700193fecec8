//! Generation settings with the model card's defaults, and their validation.
//!
//! The card calls `model.generate(input_ids, max_new_tokens=256, temperature=1, top_p=0.95,
//! do_sample=True)`. `transformers` also applies its `GenerationConfig` default `top_k = 50`
//! whenever sampling (the model's generation_config.json does not override it), so the card's
//! effective sampler is temperature 1.0 → top-k 50 → top-p 0.95. We mirror that.
//!
//! The defaults ([`CARD_DEFAULTS`]), the bounds ([`BOUNDS`]) and the presets ([`Preset`]) are
//! defined here only: the CLI's flags default to them, the window receives them from the
//! backend ([`SettingsSchema`]) and sets its inputs' ranges from them.

use crate::description::MISTRAL_SLIDING_WINDOW;
use crate::error::{EngineError, Result};
use serde::{Deserialize, Deserializer, Serialize};

/// The model card's generation settings (plus transformers' default top_k 50).
pub const CARD_DEFAULTS: GenerationSettings = GenerationSettings {
    max_new_tokens: 256,
    do_sample: true,
    temperature: 1.0,
    top_p: 0.95,
    top_k: 50,
    repetition_penalty: 1.0,
    seed: None,
};

/// The accepted range of one numeric setting.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Bound {
    pub min: f64,
    pub max: f64,
    /// `min` itself is not accepted (top_p and repetition_penalty must be > 0).
    pub min_exclusive: bool,
    /// The step the window's input uses.
    pub step: f64,
}

/// The accepted range of every numeric setting.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SettingsBounds {
    /// Up to the whole context the engine computes exactly; the engine also checks prompt +
    /// max_new_tokens against the loaded model's context.
    pub max_new_tokens: Bound,
    /// 0 means greedy.
    pub temperature: Bound,
    pub top_p: Bound,
    /// 0 disables top-k; at most the vocabulary.
    pub top_k: Bound,
    /// 1.0 disables it.
    pub repetition_penalty: Bound,
}

/// The bounds [`GenerationSettings::validate`] enforces.
pub const BOUNDS: SettingsBounds = SettingsBounds {
    max_new_tokens: Bound {
        min: 1.0,
        max: MISTRAL_SLIDING_WINDOW as f64,
        min_exclusive: false,
        step: 1.0,
    },
    temperature: Bound {
        min: 0.0,
        max: 100.0,
        min_exclusive: false,
        step: 0.05,
    },
    top_p: Bound {
        min: 0.0,
        max: 1.0,
        min_exclusive: true,
        step: 0.01,
    },
    top_k: Bound {
        min: 0.0,
        max: 32_000.0,
        min_exclusive: false,
        step: 1.0,
    },
    repetition_penalty: Bound {
        min: 0.0,
        max: 10.0,
        min_exclusive: true,
        step: 0.05,
    },
};

/// Largest accepted `max_new_tokens`: the model's whole context.
pub const MAX_NEW_TOKENS_LIMIT: usize = MISTRAL_SLIDING_WINDOW as usize;

/// Named sampling settings. A preset sets the sampling fields and leaves the length and the
/// seed as they are; `Custom` is what the settings are once the user edits a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Preset {
    /// The model card: sampling, temperature 1.0, top_p 0.95 (top_k 50 from transformers).
    #[default]
    Card,
    /// `do_sample=False`: always the most likely token; the same text on every run.
    Greedy,
    /// Looser sampling and a light repetition penalty for varied, less repetitive prose.
    Creative,
    Custom,
}

impl Preset {
    /// The presets that set values, in the order the window shows them.
    pub const NAMED: [Preset; 3] = [Preset::Card, Preset::Greedy, Preset::Creative];

    /// `base` with this preset's sampling fields; `Custom` leaves it as it is.
    pub fn apply(self, base: &GenerationSettings) -> GenerationSettings {
        let sampling = match self {
            Self::Card => CARD_DEFAULTS,
            Self::Greedy => GenerationSettings {
                do_sample: false,
                ..CARD_DEFAULTS
            },
            Self::Creative => GenerationSettings {
                temperature: 1.2,
                top_p: 0.98,
                top_k: 100,
                repetition_penalty: 1.1,
                ..CARD_DEFAULTS
            },
            Self::Custom => return base.clone(),
        };
        GenerationSettings {
            max_new_tokens: base.max_new_tokens,
            seed: base.seed,
            ..sampling
        }
    }
}

/// What the window needs to build its settings form: defaults, bounds and presets.
#[derive(Debug, Clone, Serialize)]
pub struct SettingsSchema {
    pub defaults: GenerationSettings,
    pub bounds: SettingsBounds,
    /// Each named preset applied to the defaults.
    pub presets: Vec<(Preset, GenerationSettings)>,
}

impl SettingsSchema {
    pub fn new() -> Self {
        Self {
            defaults: CARD_DEFAULTS,
            bounds: BOUNDS,
            presets: Preset::NAMED
                .iter()
                .map(|p| (*p, p.apply(&CARD_DEFAULTS)))
                .collect(),
        }
    }
}

impl Default for SettingsSchema {
    fn default() -> Self {
        Self::new()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GenerationSettings {
    /// Number of tokens to generate at most (card: 256). 1..=4096.
    pub max_new_tokens: usize,
    /// Sample (true, card default) or take the most likely token (greedy).
    pub do_sample: bool,
    /// Softmax temperature (card: 1.0). Must be > 0 when sampling; 0 means greedy.
    pub temperature: f64,
    /// Nucleus sampling mass (card: 0.95), in (0, 1]. 1.0 disables it.
    pub top_p: f64,
    /// Keep only the k most likely tokens (transformers' default 50); 0 disables it (`null`
    /// in older saved settings reads as 0).
    #[serde(deserialize_with = "zero_if_null")]
    pub top_k: usize,
    /// `transformers`' repetition penalty (1.0 = off), > 0. Applied to every token of the
    /// prompt and of the output so far: logits > 0 are divided by it, logits < 0 multiplied.
    pub repetition_penalty: f64,
    /// Seed of the sampler; the same seed, settings and model give the same text.
    /// `None` draws a fresh seed, reported back in the stats so the run can be repeated.
    pub seed: Option<u64>,
}

impl Default for GenerationSettings {
    fn default() -> Self {
        CARD_DEFAULTS
    }
}

fn zero_if_null<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> std::result::Result<usize, D::Error> {
    Ok(Option::<usize>::deserialize(deserializer)?.unwrap_or(0))
}

/// Checks `value` against `bound`; the error names the field, the bound and the value.
fn check(field: &'static str, value: f64, bound: Bound, note: &str) -> Result<()> {
    let low_ok = if bound.min_exclusive {
        value > bound.min
    } else {
        value >= bound.min
    };
    if value.is_finite() && low_ok && value <= bound.max {
        return Ok(());
    }
    let op = if bound.min_exclusive { ">" } else { ">=" };
    Err(EngineError::invalid(
        field,
        format!(
            "must be {op} {} and <= {}{note}. Given: {value}",
            bound.min, bound.max
        ),
    ))
}

impl GenerationSettings {
    /// Greedy decoding (`do_sample=False`), as used by the reference tests.
    pub fn greedy(max_new_tokens: usize) -> Self {
        Self {
            max_new_tokens,
            do_sample: false,
            ..Self::default()
        }
    }

    /// The run's seed: the given one, else one drawn at random (see [`draw_seed`]).
    pub fn seed_or_draw(&self) -> u64 {
        self.seed.unwrap_or_else(draw_seed)
    }

    /// Whether the sampler draws at random (false: argmax).
    pub fn samples(&self) -> bool {
        self.do_sample && self.temperature > 0.0
    }

    /// Checks every field; the error names the field, its bound and the given value.
    pub fn validate(&self) -> Result<()> {
        let b = BOUNDS;
        check(
            "max_new_tokens",
            self.max_new_tokens as f64,
            b.max_new_tokens,
            "",
        )?;
        check(
            "temperature",
            self.temperature,
            b.temperature,
            " (0 = greedy)",
        )?;
        check("top_p", self.top_p, b.top_p, "")?;
        check("top_k", self.top_k as f64, b.top_k, " (0 = off)")?;
        check(
            "repetition_penalty",
            self.repetition_penalty,
            b.repetition_penalty,
            " (1.0 = off)",
        )
    }
}

/// Largest seed the engine draws: 2^53 − 1, the largest integer a double holds exactly, so a
/// reported seed survives JSON in JavaScript (the window, browser clients) and jq, and
/// repeating it repeats the run. Larger seeds given by a user still work.
pub const MAX_SEED: u64 = (1 << 53) - 1;

/// A random seed in `0..=MAX_SEED`.
pub fn draw_seed() -> u64 {
    rand::random::<u64>() & MAX_SEED
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_model_card() {
        let s = GenerationSettings::default();
        assert_eq!(s.max_new_tokens, 256);
        assert!(s.do_sample);
        assert_eq!(s.temperature, 1.0);
        assert_eq!(s.top_p, 0.95);
        assert_eq!(s.top_k, 50);
        assert_eq!(s.repetition_penalty, 1.0);
        s.validate().unwrap();
    }

    #[test]
    fn validation_table() {
        let base = GenerationSettings::default();
        let bad: Vec<(GenerationSettings, &str, &str)> = vec![
            (
                GenerationSettings {
                    top_p: 0.0,
                    ..base.clone()
                },
                "top_p",
                "Given: 0",
            ),
            (
                GenerationSettings {
                    top_p: 1.5,
                    ..base.clone()
                },
                "top_p",
                "Given: 1.5",
            ),
            (
                GenerationSettings {
                    top_p: f64::NAN,
                    ..base.clone()
                },
                "top_p",
                "NaN",
            ),
            (
                GenerationSettings {
                    temperature: -0.1,
                    ..base.clone()
                },
                "temperature",
                "-0.1",
            ),
            (
                GenerationSettings {
                    temperature: f64::INFINITY,
                    ..base.clone()
                },
                "temperature",
                "inf",
            ),
            (
                GenerationSettings {
                    max_new_tokens: 0,
                    ..base.clone()
                },
                "max_new_tokens",
                "Given: 0",
            ),
            (
                GenerationSettings {
                    max_new_tokens: 1_000_000,
                    ..base.clone()
                },
                "max_new_tokens",
                "1000000",
            ),
            (
                GenerationSettings {
                    repetition_penalty: 0.0,
                    ..base.clone()
                },
                "repetition_penalty",
                "Given: 0",
            ),
            (
                GenerationSettings {
                    repetition_penalty: -1.0,
                    ..base.clone()
                },
                "repetition_penalty",
                "-1",
            ),
        ];
        for (settings, field, given) in bad {
            let err = settings.validate().unwrap_err();
            assert_eq!(err.code(), "invalid_setting");
            let text = err.to_string();
            assert!(text.contains(field), "{text}");
            assert!(text.contains(given), "{text}");
        }
        let good = [
            GenerationSettings {
                top_p: 1.0,
                ..base.clone()
            },
            GenerationSettings {
                temperature: 0.0,
                ..base.clone()
            },
            GenerationSettings {
                max_new_tokens: 1,
                ..base.clone()
            },
            GenerationSettings {
                max_new_tokens: 4096,
                ..base.clone()
            },
            GenerationSettings {
                top_k: 0,
                ..base.clone()
            },
            GenerationSettings::greedy(24),
        ];
        for s in good {
            s.validate().unwrap();
        }
    }

    #[test]
    fn temperature_zero_is_greedy() {
        let s = GenerationSettings {
            temperature: 0.0,
            ..Default::default()
        };
        assert!(!s.samples());
        assert!(!GenerationSettings::greedy(3).samples());
        assert!(GenerationSettings::default().samples());
    }
}

#[cfg(test)]
mod schema_tests {
    use super::*;

    #[test]
    fn presets_keep_length_and_seed_and_null_top_k_reads_as_off() {
        let base = GenerationSettings {
            max_new_tokens: 77,
            seed: Some(5),
            temperature: 0.3,
            ..CARD_DEFAULTS
        };
        let greedy = Preset::Greedy.apply(&base);
        assert!(!greedy.do_sample);
        assert_eq!((greedy.max_new_tokens, greedy.seed), (77, Some(5)));
        assert_eq!(greedy.temperature, 1.0);
        assert_eq!(Preset::Custom.apply(&base), base);
        assert_eq!(Preset::Card.apply(&base).temperature, 1.0);
        for (preset, settings) in SettingsSchema::new().presets {
            settings
                .validate()
                .unwrap_or_else(|e| panic!("{preset:?}: {e}"));
        }
        let old: GenerationSettings = serde_json::from_str(r#"{"top_k": null}"#).unwrap();
        assert_eq!(old.top_k, 0);
        let json = serde_json::to_value(SettingsSchema::new()).unwrap();
        assert_eq!(json["defaults"]["top_k"], 50);
        assert_eq!(json["bounds"]["top_p"]["min_exclusive"], true);
        assert_eq!(json["bounds"]["max_new_tokens"]["max"], 4096.0);
        assert_eq!(json["presets"][1][0], "greedy");
    }

    /// The window's unit tests read the schema from `tests/fixtures/generation_schema.json`;
    /// this keeps that file equal to what the backend sends (`JSLM_BLESS=1` rewrites it).
    #[test]
    fn the_ui_fixture_is_the_schema() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/generation_schema.json");
        let ours = serde_json::to_string_pretty(&SettingsSchema::new()).unwrap() + "\n";
        if std::env::var_os("JSLM_BLESS").is_some() {
            std::fs::write(&path, &ours).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert_eq!(
            committed,
            ours,
            "{} is stale: run `JSLM_BLESS=1 cargo test -p jslm-engine the_ui_fixture`",
            path.display()
        );
    }

    #[test]
    fn top_k_is_bounded_by_the_vocabulary() {
        let s = GenerationSettings {
            top_k: 40_000,
            ..CARD_DEFAULTS
        };
        assert!(s.validate().unwrap_err().to_string().contains("top_k"));
    }
}
