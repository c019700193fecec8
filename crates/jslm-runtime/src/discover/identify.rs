//! Is this `.gguf` a copy of the model? Read through the engine's bounded header reader: a
//! llama-architecture file whose tensors match its metadata, of the expected shape, whose
//! vocabulary (if it carries one) is this model's, and whose name — `general.name`, the app's
//! name for it or its path — names the model (a Mistral 7B or another fine-tune has the same
//! shape and vocabulary).

use super::layouts::Candidate;
use jslm_core::{ModelShape, Precision};
use jslm_engine::gguf_header::{check_llama_shapes, read_gguf};
use jslm_engine::gguf_vocab::GgufVocab;
use jslm_engine::ModelDescription;

/// What the model looks like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    pub shape: ModelShape,
    /// The context the catalog gives it (its sliding window), for planning a found copy.
    pub context_tokens: u32,
    /// A file is this model when one of its names contains one of these (compared lower-case,
    /// with `_` and spaces read as `-`).
    pub name_hints: Vec<String>,
}

impl Expected {
    /// Japanese StableLM Instruct Gamma 7B, as the catalog describes it.
    pub fn this_model() -> Self {
        let entry = jslm_hub::catalog()
            .find("jslm-gamma-7b-gguf")
            .expect("the catalog lists the GGUF model");
        Self {
            shape: entry.shape,
            context_tokens: entry.context_tokens,
            name_hints: vec!["stablelm-instruct-gamma".into()],
        }
    }
}

/// What the file is, once identified.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    pub precision: Precision,
    pub size_bytes: u64,
    pub has_vocabulary: bool,
}

fn normalized(text: &str) -> String {
    text.to_lowercase().replace(['_', ' '], "-")
}

/// The identity of `candidate`, or why it is not this model.
pub fn identify(candidate: &Candidate, expected: &Expected) -> Result<Identity, String> {
    let header = read_gguf(&candidate.path).map_err(|e| e.to_string())?;
    if let Some(size) = candidate.expected_size {
        if size != header.file_len {
            return Err(format!(
                "the store says {size} bytes, the file has {}",
                header.file_len
            ));
        }
    }
    let dims = check_llama_shapes(&header).map_err(|e| e.to_string())?;
    let shape = ModelShape {
        hidden_size: dims.hidden as u64,
        intermediate_size: dims.ffn as u64,
        num_hidden_layers: dims.layers as u64,
        num_attention_heads: dims.heads as u64,
        num_key_value_heads: dims.kv_heads as u64,
        head_dim: dims.head_dim as u64,
        vocab_size: dims.vocab as u64,
    };
    if shape != expected.shape {
        return Err(format!(
            "another network: {} layers of {}, vocabulary {}",
            shape.num_hidden_layers, shape.hidden_size, shape.vocab_size
        ));
    }
    let vocabulary = GgufVocab::read(&header, dims.vocab).map_err(|e| e.to_string())?;
    let general_name = header.opt_str("general.name").ok().flatten().unwrap_or("");
    let names = [
        normalized(general_name),
        normalized(&candidate.name),
        normalized(&candidate.path.to_string_lossy()),
    ];
    if !expected
        .name_hints
        .iter()
        .any(|hint| names.iter().any(|n| n.contains(hint.as_str())))
    {
        return Err(format!(
            "same architecture, but nothing names it Japanese StableLM Instruct Gamma \
             (general.name {general_name:?})"
        ));
    }
    let description = ModelDescription::read(&candidate.path).map_err(|e| e.to_string())?;
    Ok(Identity {
        precision: description.stored,
        size_bytes: header.file_len,
        has_vocabulary: vocabulary.is_some(),
    })
}
