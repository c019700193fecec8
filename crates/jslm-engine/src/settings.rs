//! Generation settings with the model card's defaults, and their validation.
//!
//! The card calls `model.generate(input_ids, max_new_tokens=256, temperature=1, top_p=0.95,
//! do_sample=True)`. `transformers` also applies its `GenerationConfig` default `top_k = 50`
//! whenever sampling (the model's generation_config.json does not override it), so the card's
//! effective sampler is temperature 1.0 → top-k 50 → top-p 0.95. We mirror that.

use crate::error::{EngineError, Result};
use serde::{Deserialize, Serialize};

/// Largest accepted `max_new_tokens`: the model's whole context.
pub const MAX_NEW_TOKENS_LIMIT: usize = 4096;

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
    /// Keep only the k most likely tokens (transformers' default 50); `None` or 0 disables it.
    pub top_k: Option<usize>,
    /// `transformers`' repetition penalty (1.0 = off), > 0. Applied to every token of the
    /// prompt and of the output so far: logits > 0 are divided by it, logits < 0 multiplied.
    pub repetition_penalty: f64,
    /// Seed of the sampler; the same seed, settings and model give the same text.
    /// `None` draws a fresh seed, reported back in the stats so the run can be repeated.
    pub seed: Option<u64>,
}

impl Default for GenerationSettings {
    fn default() -> Self {
        Self {
            max_new_tokens: 256,
            do_sample: true,
            temperature: 1.0,
            top_p: 0.95,
            top_k: Some(50),
            repetition_penalty: 1.0,
            seed: None,
        }
    }
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

    /// Whether the sampler draws at random (false: argmax).
    pub fn samples(&self) -> bool {
        self.do_sample && self.temperature > 0.0
    }

    /// Checks every field; the error names the field, its bound and the given value.
    pub fn validate(&self) -> Result<()> {
        if self.max_new_tokens == 0 || self.max_new_tokens > MAX_NEW_TOKENS_LIMIT {
            return Err(EngineError::invalid(
                "max_new_tokens",
                format!(
                    "must be between 1 and {MAX_NEW_TOKENS_LIMIT}. Given: {}",
                    self.max_new_tokens
                ),
            ));
        }
        if !self.temperature.is_finite() || self.temperature < 0.0 {
            return Err(EngineError::invalid(
                "temperature",
                format!("must be >= 0.0 (0 = greedy). Given: {}", self.temperature),
            ));
        }
        if self.temperature > 100.0 {
            return Err(EngineError::invalid(
                "temperature",
                format!("must be <= 100.0. Given: {}", self.temperature),
            ));
        }
        if !self.top_p.is_finite() || self.top_p <= 0.0 || self.top_p > 1.0 {
            return Err(EngineError::invalid(
                "top_p",
                format!("must be > 0.0 and <= 1.0. Given: {}", self.top_p),
            ));
        }
        if !self.repetition_penalty.is_finite() || self.repetition_penalty <= 0.0 {
            return Err(EngineError::invalid(
                "repetition_penalty",
                format!(
                    "must be > 0.0 (1.0 = off). Given: {}",
                    self.repetition_penalty
                ),
            ));
        }
        if self.repetition_penalty > 10.0 {
            return Err(EngineError::invalid(
                "repetition_penalty",
                format!("must be <= 10.0. Given: {}", self.repetition_penalty),
            ));
        }
        Ok(())
    }
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
        assert_eq!(s.top_k, Some(50));
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
                top_k: Some(0),
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
