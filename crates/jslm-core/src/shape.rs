//! `ModelShape`: a Mistral/Llama decoder's dimensions, named as in Hugging Face `config.json`.
//! Read from a model's files by the engine (`config.json` or the GGUF header), listed for
//! catalog models in the hub's catalog, and all the planner needs to estimate memory.

use serde::{Deserialize, Serialize};

/// Transformer dimensions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelShape {
    pub hidden_size: u64,
    pub intermediate_size: u64,
    pub num_hidden_layers: u64,
    pub num_attention_heads: u64,
    pub num_key_value_heads: u64,
    /// Per-head dimension; `hidden_size / num_attention_heads` for Mistral.
    pub head_dim: u64,
    pub vocab_size: u64,
}

impl ModelShape {
    /// Parameter count of a Llama/Mistral decoder with untied embeddings: embeddings and
    /// LM head, q/k/v/o and gate/up/down projections, two RMS norms per layer and the final
    /// one. Saturating: a crafted shape cannot overflow.
    pub fn parameter_count(&self) -> u64 {
        let h = self.hidden_size;
        let kv = self.num_key_value_heads.saturating_mul(self.head_dim);
        let q = self.num_attention_heads.saturating_mul(self.head_dim);
        let attention = h
            .saturating_mul(q)
            .saturating_mul(2)
            .saturating_add(h.saturating_mul(kv).saturating_mul(2));
        let mlp = h.saturating_mul(self.intermediate_size).saturating_mul(3);
        let per_layer = attention
            .saturating_add(mlp)
            .saturating_add(h.saturating_mul(2));
        let embeddings = self.vocab_size.saturating_mul(h).saturating_mul(2);
        per_layer
            .saturating_mul(self.num_hidden_layers)
            .saturating_add(embeddings)
            .saturating_add(h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mistral_7b_parameter_count() {
        let shape = ModelShape {
            hidden_size: 4096,
            intermediate_size: 14336,
            num_hidden_layers: 32,
            num_attention_heads: 32,
            num_key_value_heads: 8,
            head_dim: 128,
            vocab_size: 32000,
        };
        assert_eq!(shape.parameter_count(), 7_241_732_096);
        let absurd = ModelShape {
            hidden_size: u64::MAX,
            intermediate_size: u64::MAX,
            num_hidden_layers: u64::MAX,
            num_attention_heads: u64::MAX,
            num_key_value_heads: u64::MAX,
            head_dim: u64::MAX,
            vocab_size: u64::MAX,
        };
        assert_eq!(absurd.parameter_count(), u64::MAX);
    }
}
