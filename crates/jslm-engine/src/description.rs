//! `ModelDescription`: what a model on disk is, read once and validated — its files, how they
//! are stored, its precision, size, shape and context — from `config.json` plus the safetensors
//! headers, or from the GGUF header. The planner's view ([`ModelDescription::spec`]), the
//! loaders and the reports all use this one reading, so they cannot disagree about a model.

use crate::error::{EngineError, Result};
use crate::files::WeightsFormat;
use crate::model::{read_gguf_header, read_mistral_config};
use candle_core::quantized::{gguf_file, GgmlDType};
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

/// A llama-architecture GGUF: the `llama.*` metadata and where each tensor lies.
#[derive(Debug, Clone)]
pub(crate) struct LlamaGguf {
    pub params: LlamaParams,
    pub tensors: BTreeMap<String, GgufTensor>,
}

/// The `llama.*` numbers, checked for consistency.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct LlamaParams {
    pub layers: usize,
    pub hidden: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    pub ffn: usize,
    pub vocab: usize,
    pub rms_eps: f32,
    pub rope_base: f32,
}

/// One tensor of a GGUF: its dimensions outermost first, as candle orders them (a matrix is
/// `[rows, columns]`, rows contiguous), its type, and its absolute byte offset in the file.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct GgufTensor {
    pub dims: Vec<usize>,
    pub dtype: GgmlDType,
    pub offset: u64,
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
            size_bytes = size_bytes.saturating_add(bytes);
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
        let content = read_gguf_header(file)?;
        let size_bytes = std::fs::metadata(file)
            .map_err(|e| EngineError::io(file, e))?
            .len();
        let params = llama_params(file, &content)?;
        let tensors: BTreeMap<String, GgufTensor> = content
            .tensor_infos
            .iter()
            .map(|(name, info)| {
                let tensor = GgufTensor {
                    dims: info.shape.dims().to_vec(),
                    dtype: info.ggml_dtype,
                    offset: content.tensor_data_offset.saturating_add(info.offset),
                };
                (name.clone(), tensor)
            })
            .collect();
        let stored = gguf_precision(file, &content, &tensors)?;
        let context = content
            .metadata
            .get("llama.context_length")
            .and_then(|v| v.to_u32().ok())
            .unwrap_or(MISTRAL_SLIDING_WINDOW)
            .clamp(1, MISTRAL_SLIDING_WINDOW);
        let shape = ModelShape {
            hidden_size: params.hidden as u64,
            intermediate_size: params.ffn as u64,
            num_hidden_layers: params.layers as u64,
            num_attention_heads: params.heads as u64,
            num_key_value_heads: params.kv_heads as u64,
            head_dim: params.head_dim as u64,
            vocab_size: params.vocab as u64,
        };
        Ok(Self {
            path: path.to_path_buf(),
            weights,
            container: Container::Gguf,
            stored,
            size_bytes,
            shape,
            context_tokens: context,
            network: NetworkDescription::Llama(LlamaGguf { params, tensors }),
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

/// The `llama.*` metadata of a GGUF, checked: a required key that is missing or a head count
/// that does not divide is an `invalid_file` naming the key.
fn llama_params(path: &Path, content: &gguf_file::Content) -> Result<LlamaParams> {
    let bad = |reason: String| EngineError::invalid_file(path, reason);
    let get = |key: &str| content.metadata.get(key);
    let need = |key: &str| -> Result<usize> {
        get(key)
            .and_then(|v| v.to_u32().ok())
            .map(|v| v as usize)
            .filter(|&v| v > 0)
            .ok_or_else(|| bad(format!("metadata {key} is missing or zero")))
    };
    let layers = need("llama.block_count")?;
    let hidden = need("llama.embedding_length")?;
    let heads = need("llama.attention.head_count")?;
    let kv_heads = match get("llama.attention.head_count_kv") {
        None => heads,
        Some(_) => need("llama.attention.head_count_kv")?,
    };
    if heads % kv_heads != 0 || hidden % heads != 0 {
        return Err(bad(format!(
            "inconsistent heads: embedding {hidden}, heads {heads}, KV heads {kv_heads}"
        )));
    }
    let head_dim = hidden / heads;
    let rope_dims = get("llama.rope.dimension_count")
        .and_then(|v| v.to_u32().ok())
        .map_or(head_dim, |v| v as usize);
    if rope_dims != head_dim {
        return Err(bad(format!(
            "partial rotary embedding ({rope_dims} of {head_dim} dimensions) is not supported"
        )));
    }
    let ffn = need("llama.feed_forward_length")?;
    let vocab = content
        .tensor_infos
        .get("token_embd.weight")
        .and_then(|t| match t.shape.dims() {
            [rows, _] => Some(*rows),
            _ => None,
        })
        .filter(|&v| v > 0)
        .ok_or_else(|| bad("tensor token_embd.weight is missing or not 2-D".into()))?;
    let float = |key: &str, default: f32| {
        get(key)
            .and_then(|v| v.to_f32().ok())
            .filter(|v| v.is_finite() && *v > 0.0)
            .unwrap_or(default)
    };
    Ok(LlamaParams {
        layers,
        hidden,
        heads,
        kv_heads,
        head_dim,
        ffn,
        vocab,
        rms_eps: float("llama.attention.layer_norm_rms_epsilon", 1e-5),
        rope_base: float("llama.rope.freq_base", 10_000.0),
    })
}

/// The precision of a GGUF: its `general.file_type` (llama.cpp's name for the mix, which
/// our quantizer also writes truthfully), else the type most of the layers' weights have.
fn gguf_precision(
    path: &Path,
    content: &gguf_file::Content,
    tensors: &BTreeMap<String, GgufTensor>,
) -> Result<Precision> {
    let declared = content
        .metadata
        .get("general.file_type")
        .and_then(|v| v.to_u32().ok())
        .and_then(Precision::from_gguf_file_type);
    if let Some(p) = declared {
        return Ok(p);
    }
    let mut weights: BTreeMap<Precision, u64> = BTreeMap::new();
    for (name, t) in tensors {
        if t.dims.len() == 2 && name != "token_embd.weight" && name != "output.weight" {
            let precision = precision_of(t.dtype).ok_or_else(|| EngineError::UnsupportedModel {
                path: path.to_path_buf(),
                reason: format!(
                    "tensor {name} is {:?}, a type this engine does not run",
                    t.dtype
                ),
            })?;
            *weights.entry(precision).or_default() +=
                t.dims.iter().map(|&d| d as u64).product::<u64>();
        }
    }
    weights
        .into_iter()
        .max_by_key(|&(_, count)| count)
        .map(|(p, _)| p)
        .ok_or_else(|| EngineError::invalid_file(path, "the GGUF holds no weight matrices"))
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
