//! `ModelDescription`: what a model on disk is, read once and validated — its files, how they
//! are stored, its precision, size, shape and context — from `config.json` plus the safetensors
//! headers, or from the GGUF header. The planner's view ([`ModelDescription::spec`]), the
//! loaders and the reports all use this one reading, so they cannot disagree about a model.

use crate::error::{EngineError, Result};
use crate::files::WeightsFormat;
use crate::gguf_header::{check_llama_shapes, read_gguf, GgufHeader, GgufTensor, LlamaDims};
use crate::model::read_mistral_config;
use candle_core::quantized::GgmlDType;
use candle_transformers::models::mistral;
use jslm_core::{Container, ModelShape, Precision};
use jslm_hardware::{ModelSpec, WeightFile};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Mistral's sliding window: attention beyond it differs from full attention, so this is the
/// context the engine computes exactly when a GGUF (whose metadata has no window) does not say
/// less.
pub const MISTRAL_SLIDING_WINDOW: u32 = 4096;

/// A model's files, read and checked.
#[derive(Debug, Clone)]
pub struct ModelDescription {
    /// The folder or GGUF file the user chose.
    pub path: PathBuf,
    pub weights: WeightsFormat,
    pub container: Container,
    /// The precision stored in the files (a GGUF's mix, e.g. Q4_K_M).
    pub stored: Precision,
    /// All weight files together, in bytes.
    pub size_bytes: u64,
    pub shape: ModelShape,
    /// Prompt + generated tokens the engine computes exactly.
    pub context_tokens: u32,
    pub(crate) network: NetworkDescription,
}

/// The network's configuration as each loader needs it.
#[derive(Debug, Clone)]
pub(crate) enum NetworkDescription {
    /// candle's Mistral reads this.
    Mistral(Box<mistral::Config>),
    /// A llama-architecture GGUF.
    Llama(LlamaGguf),
}

/// A llama-architecture GGUF as our bounded reader proved it (`gguf_header`): the network's
/// dimensions, checked against every tensor, and where each tensor lies in the file.
#[derive(Debug, Clone)]
pub(crate) struct LlamaGguf {
    pub dims: LlamaDims,
    pub tensors: BTreeMap<String, GgufTensor>,
}

impl ModelDescription {
    /// Reads the model at `path`: a folder (safetensors, or one `.gguf`) or a `.gguf` file.
    pub fn read(path: &Path) -> Result<Self> {
        let weights = WeightsFormat::locate(path)?;
        match &weights {
            WeightsFormat::Safetensors { config, shards } => {
                Self::read_safetensors(path, config, shards, weights.clone())
            }
            WeightsFormat::Gguf { file } => Self::read_gguf(path, file, weights.clone()),
        }
    }

    fn read_safetensors(
        path: &Path,
        config_path: &Path,
        shards: &[PathBuf],
        weights: WeightsFormat,
    ) -> Result<Self> {
        let config = read_mistral_config(config_path)?;
        let mut size_bytes = 0u64;
        let mut elements: BTreeMap<Precision, u64> = BTreeMap::new();
        for shard in shards {
            let (bytes, per_dtype) = crate::model::inspect_safetensors(shard)?;
            size_bytes = size_bytes
                .checked_add(bytes)
                .ok_or_else(|| EngineError::invalid_file(shard, "shard sizes overflow"))?;
            for (precision, count) in per_dtype {
                *elements.entry(precision).or_default() += count;
            }
        }
        let stored = elements
            .iter()
            .max_by_key(|(_, &count)| count)
            .map(|(&p, _)| p)
            .ok_or_else(|| EngineError::invalid_file(path, "the safetensors hold no tensors"))?;
        let head_dim = config
            .head_dim
            .unwrap_or(config.hidden_size / config.num_attention_heads.max(1));
        let shape = ModelShape {
            hidden_size: config.hidden_size as u64,
            intermediate_size: config.intermediate_size as u64,
            num_hidden_layers: config.num_hidden_layers as u64,
            num_attention_heads: config.num_attention_heads as u64,
            num_key_value_heads: config.num_key_value_heads as u64,
            head_dim: head_dim as u64,
            vocab_size: config.vocab_size as u64,
        };
        let context = config
            .sliding_window
            .unwrap_or(config.max_position_embeddings)
            .min(config.max_position_embeddings);
        Ok(Self {
            path: path.to_path_buf(),
            weights,
            container: Container::Safetensors,
            stored,
            size_bytes,
            shape,
            context_tokens: u32::try_from(context).unwrap_or(u32::MAX),
            network: NetworkDescription::Mistral(Box::new(config)),
        })
    }

    fn read_gguf(path: &Path, file: &Path, weights: WeightsFormat) -> Result<Self> {
        let header = read_gguf(file)?;
        let dims = check_llama_shapes(&header)?;
        let stored = gguf_precision(&header)?;
        let context = dims
            .context
            .map_or(MISTRAL_SLIDING_WINDOW, |c| {
                u32::try_from(c).unwrap_or(u32::MAX)
            })
            .clamp(1, MISTRAL_SLIDING_WINDOW);
        let shape = ModelShape {
            hidden_size: dims.hidden as u64,
            intermediate_size: dims.ffn as u64,
            num_hidden_layers: dims.layers as u64,
            num_attention_heads: dims.heads as u64,
            num_key_value_heads: dims.kv_heads as u64,
            head_dim: dims.head_dim as u64,
            vocab_size: dims.vocab as u64,
        };
        let tensors = header
            .tensors
            .iter()
            .map(|t| (t.name.clone(), t.clone()))
            .collect();
        Ok(Self {
            path: path.to_path_buf(),
            weights,
            container: Container::Gguf,
            stored,
            size_bytes: header.file_len,
            shape,
            context_tokens: context,
            network: NetworkDescription::Llama(LlamaGguf { dims, tensors }),
        })
    }

    /// The model as the device planner sees it.
    pub fn spec(&self) -> ModelSpec {
        ModelSpec::new(
            self.display_name(),
            self.shape,
            self.context_tokens,
            vec![WeightFile {
                container: self.container,
                precision: self.stored,
                size_bytes: self.size_bytes,
            }],
        )
    }

    /// The last component of the path; for a Hugging Face cache snapshot (a folder named by
    /// its commit) the repo's name, which says more.
    pub fn display_name(&self) -> String {
        if let Some((repo, _)) = hf_snapshot(&self.path) {
            if self.container == Container::Safetensors {
                return repo;
            }
        }
        self.path
            .components()
            .next_back()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .unwrap_or_default()
    }
}

/// `(org/name, commit)` when `path` lies in a Hugging Face cache snapshot
/// (`…/models--org--name/snapshots/<commit>/…`), the layout `huggingface_hub` writes.
pub fn hf_snapshot(path: &Path) -> Option<(String, String)> {
    let parts: Vec<String> = path
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let i = parts.iter().rposition(|c| c == "snapshots")?;
    let repo = parts.get(i.checked_sub(1)?)?.strip_prefix("models--")?;
    let commit = parts.get(i + 1)?;
    Some((repo.replacen("--", "/", 1), commit.clone()))
}

/// The precision of a GGUF: its `general.file_type` (llama.cpp's name for the mix, which
/// our quantizer also writes truthfully), else the type most of the layers' weights have.
fn gguf_precision(header: &GgufHeader) -> Result<Precision> {
    let declared = header
        .opt_u32("general.file_type")?
        .and_then(Precision::from_gguf_file_type);
    if let Some(p) = declared {
        return Ok(p);
    }
    let mut weights: BTreeMap<Precision, u64> = BTreeMap::new();
    for t in &header.tensors {
        let name = t.name.as_str();
        if t.dims.len() == 2 && name != "token_embd.weight" && name != "output.weight" {
            let precision = precision_of(t.dtype).ok_or_else(|| EngineError::UnsupportedModel {
                path: header.path.clone(),
                reason: format!(
                    "tensor {name} is {:?}, a type this engine does not run",
                    t.dtype
                ),
            })?;
            // Each count was proven not to overflow when the header was read.
            let count = weights.entry(precision).or_default();
            *count = count.saturating_add(t.elem_count());
        }
    }
    weights
        .into_iter()
        .max_by_key(|&(_, count)| count)
        .map(|(p, _)| p)
        .ok_or_else(|| EngineError::invalid_file(&header.path, "the GGUF holds no weight matrices"))
}

/// The precision a file of mostly `dtype` weights is known by.
fn precision_of(dtype: GgmlDType) -> Option<Precision> {
    Some(match dtype {
        GgmlDType::F32 => Precision::F32,
        GgmlDType::F16 => Precision::F16,
        GgmlDType::BF16 => Precision::Bf16,
        GgmlDType::Q8_0 => Precision::Q8_0,
        GgmlDType::Q6K => Precision::Q6K,
        GgmlDType::Q5K => Precision::Q5KM,
        GgmlDType::Q5_0 => Precision::Q5_0,
        GgmlDType::Q4K => Precision::Q4KM,
        GgmlDType::Q4_0 => Precision::Q4_0,
        GgmlDType::Q3K => Precision::Q3KM,
        GgmlDType::Q2K => Precision::Q2K,
        GgmlDType::Q4_1 | GgmlDType::Q5_1 | GgmlDType::Q8_1 | GgmlDType::Q8K => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures")
            .join(name)
    }

    #[test]
    fn safetensors_and_gguf_of_the_tiny_model() {
        let st = ModelDescription::read(&fixture("tiny-mistral")).unwrap();
        assert_eq!(st.container, Container::Safetensors);
        assert_eq!(st.stored, Precision::F16);
        assert_eq!(st.shape.hidden_size, 64);
        assert_eq!(st.shape.num_hidden_layers, 2);
        assert_eq!(st.shape.num_key_value_heads, 2);
        assert_eq!(st.shape.vocab_size, 32000);
        assert_eq!(st.context_tokens, 4096);
        assert!(st.size_bytes > 1_000_000);
        assert_eq!(st.display_name(), "tiny-mistral");

        let gguf =
            ModelDescription::read(&fixture("tiny-mistral-llamacpp/model-q8_0.gguf")).unwrap();
        assert_eq!(gguf.container, Container::Gguf);
        assert_eq!(gguf.stored, Precision::Q8_0);
        assert_eq!(gguf.shape, st.shape);
        assert_eq!(gguf.context_tokens, 4096);
        let spec = gguf.spec();
        assert_eq!(spec.files[0].precision, Precision::Q8_0);
        assert_eq!(spec.files[0].size_bytes, gguf.size_bytes);
    }

    #[test]
    fn a_missing_model_is_a_missing_file() {
        let err = ModelDescription::read(Path::new("/no/such/model")).unwrap_err();
        assert_eq!(err.code(), jslm_core::ErrorCode::MissingFile);
    }

    #[test]
    fn snapshots_name_the_repo() {
        assert_eq!(
            hf_snapshot(Path::new(
                "/c/models--org--a--b/snapshots/c0ffee/model.safetensors"
            )),
            Some(("org/a--b".to_string(), "c0ffee".to_string()))
        );
        assert_eq!(hf_snapshot(Path::new("/c/snapshots/x")), None);
        assert_eq!(hf_snapshot(Path::new("/plain/folder")), None);
    }

    #[test]
    fn a_gguf_without_a_file_type_is_known_by_its_weights() {
        assert_eq!(precision_of(GgmlDType::Q4K), Some(Precision::Q4KM));
        assert_eq!(precision_of(GgmlDType::Q8K), None);
    }
}
