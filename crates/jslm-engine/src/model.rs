//! The network itself: Mistral safetensors through `candle_transformers::models::mistral`, or a
//! GGUF (llama.cpp stores Mistral as arch `llama`) through our memory-mapped CPU runner
//! (`gguf_cpu`) or, on a GPU, candle's quantized llama.

use crate::engine::GgufRunner;
use crate::error::{EngineError, Result};
use crate::gguf_cpu::GgufCpuModel;
use candle_core::quantized::gguf_file;
use candle_core::{DType, Device, Tensor};
use candle_transformers::models::{mistral, quantized_llama};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// What was loaded, for display, history and checks.
#[derive(Debug, Clone, Serialize)]
pub struct ModelInfo {
    /// The file or folder the weights came from.
    pub path: PathBuf,
    /// "safetensors" or "gguf".
    pub format: &'static str,
    /// Element type ("f32", "bf16", ...) or the GGUF's quantization ("Q4K", "Q8_0", ...).
    pub precision: String,
    pub vocab_size: usize,
    /// Prompt + generated tokens the engine computes exactly (the sliding window, 4,096 for
    /// this model; candle's quantized llama also precomputes RoPE for 4,096 positions).
    pub context_length: usize,
    pub num_layers: usize,
    pub hidden_size: usize,
    /// The device name ("cpu", "cuda:0", "metal:0").
    pub device: String,
}

pub(crate) enum Network {
    Mistral(Box<mistral::Model>),
    /// A GGUF on the CPU: our memory-mapped runner (`gguf_cpu`).
    GgufCpu(Box<GgufCpuModel>),
    /// A GGUF on a GPU: candle's quantized llama.
    Gguf(Box<quantized_llama::ModelWeights>),
}

pub(crate) struct LoadedNetwork {
    pub network: Network,
    pub info: ModelInfo,
    pub device: Device,
}

impl Network {
    /// Runs `ids` at positions `pos..pos+len` and returns the f32 logits of the last one.
    pub fn forward(&mut self, ids: &[u32], pos: usize, device: &Device) -> Result<Vec<f32>> {
        if let Network::GgufCpu(m) = self {
            return m.forward(ids, pos);
        }
        let input = Tensor::new(ids, device)?.unsqueeze(0)?;
        let logits = match self {
            Network::Mistral(m) => m.forward(&input, pos)?,
            Network::Gguf(m) => m.forward(&input, pos)?,
            Network::GgufCpu(_) => unreachable!("handled above"),
        };
        Ok(logits
            .flatten_all()?
            .to_dtype(DType::F32)?
            .to_vec1::<f32>()?)
    }

    /// Processes a whole prompt from position 0 in chunks of at most `chunk` tokens (the
    /// attention scores of one pass grow with chunk × context, so long prompts stay within the
    /// memory the device plan budgets) and returns the logits of its last token.
    pub fn prefill(&mut self, ids: &[u32], chunk: usize, device: &Device) -> Result<Vec<f32>> {
        let chunk = chunk.max(1);
        let mut logits = Vec::new();
        let mut pos = 0;
        for piece in ids.chunks(chunk) {
            logits = self.forward(piece, pos, device)?;
            pos += piece.len();
        }
        Ok(logits)
    }

    pub fn clear_kv_cache(&mut self) {
        match self {
            Network::Mistral(m) => m.clear_kv_cache(),
            Network::Gguf(m) => m.clear_kv_cache(),
            Network::GgufCpu(m) => m.clear_kv_cache(),
        }
    }
}

fn device_name(device: &Device) -> String {
    match device.location() {
        candle_core::DeviceLocation::Cpu => "cpu".into(),
        candle_core::DeviceLocation::Cuda { gpu_id } => format!("cuda:{gpu_id}"),
        candle_core::DeviceLocation::Metal { gpu_id } => format!("metal:{gpu_id}"),
    }
}

/// Reads and checks a Hugging Face `config.json` of a Mistral model.
pub fn read_mistral_config(path: &Path) -> Result<mistral::Config> {
    let text = std::fs::read_to_string(path).map_err(|e| EngineError::io(path, e))?;
    let value: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| EngineError::invalid_file(path, format!("not valid JSON: {e}")))?;
    let model_type = value
        .get("model_type")
        .and_then(|v| v.as_str())
        .unwrap_or("");
    let archs: Vec<&str> = value
        .get("architectures")
        .and_then(|v| v.as_array())
        .map(|a| a.iter().filter_map(|s| s.as_str()).collect())
        .unwrap_or_default();
    if model_type != "mistral" && !archs.contains(&"MistralForCausalLM") {
        return Err(EngineError::UnsupportedModel {
            path: path.to_path_buf(),
            reason: format!(
                "model_type is {model_type:?} (architectures {archs:?}); this engine runs \
                 Mistral models (model_type \"mistral\", MistralForCausalLM)"
            ),
        });
    }
    let config: mistral::Config = serde_json::from_value(value)
        .map_err(|e| EngineError::invalid_file(path, format!("config field error: {e}")))?;
    check_config_bounds(&config).map_err(|reason| EngineError::invalid_file(path, reason))?;
    Ok(config)
}

/// Largest values accepted from a `config.json`, checked before anything is allocated from
/// them (candle's Mistral builds a RoPE table of `max_position_embeddings × head_dim` at load:
/// 2^40 positions would be an allocation failure, 2^32 a silent wrap of its `as u32`). Each is
/// far above the Mistral 7B family (hidden 4,096, 32 layers, 32 heads, vocabulary 32,000,
/// 32,768 positions) and far below sizes that overflow: the planner multiplies them.
pub const CONFIG_BOUNDS: [(&str, usize); 8] = [
    ("hidden_size", 1 << 16),
    ("intermediate_size", 1 << 20),
    ("num_hidden_layers", 1 << 10),
    ("num_attention_heads", 1 << 10),
    ("num_key_value_heads", 1 << 10),
    ("head_dim", 1 << 12),
    ("vocab_size", 1 << 22),
    // 128 Ki positions: a 64 MiB RoPE table at head size 128.
    ("max_position_embeddings", 1 << 17),
];

/// Checks every size of `config` against [`CONFIG_BOUNDS`] and against each other; the message
/// names the field and the bound.
fn check_config_bounds(config: &mistral::Config) -> std::result::Result<(), String> {
    let head_dim = match config.head_dim {
        Some(d) => d,
        None if config.num_attention_heads > 0 => config.hidden_size / config.num_attention_heads,
        None => 0,
    };
    let values = [
        config.hidden_size,
        config.intermediate_size,
        config.num_hidden_layers,
        config.num_attention_heads,
        config.num_key_value_heads,
        head_dim,
        config.vocab_size,
        config.max_position_embeddings,
    ];
    for ((field, max), value) in CONFIG_BOUNDS.iter().zip(values) {
        if value == 0 || value > *max {
            return Err(format!(
                "`{field}` must be between 1 and {max}. Given: {value}"
            ));
        }
    }
    if !config
        .num_attention_heads
        .is_multiple_of(config.num_key_value_heads)
        || (config.head_dim.is_none()
            && !config
                .hidden_size
                .is_multiple_of(config.num_attention_heads))
        || !head_dim.is_multiple_of(2)
    {
        return Err(format!(
            "inconsistent heads: hidden_size {}, num_attention_heads {}, num_key_value_heads {}, \
             head_dim {head_dim} (heads must divide hidden_size into an even head size, KV \
             heads the heads)",
            config.hidden_size, config.num_attention_heads, config.num_key_value_heads
        ));
    }
    if let Some(w) = config.sliding_window {
        if w == 0 || w > 1 << 20 {
            return Err(format!(
                "`sliding_window` must be between 1 and {}. Given: {w}",
                1 << 20
            ));
        }
    }
    for (field, value) in [
        ("rms_norm_eps", config.rms_norm_eps),
        ("rope_theta", config.rope_theta),
    ] {
        if !(value.is_finite() && value > 0.0) {
            return Err(format!(
                "`{field}` must be a finite number > 0. Given: {value}"
            ));
        }
    }
    Ok(())
}

/// Checks that a safetensors file is complete: its header parses and the data it describes
/// matches the file length exactly (a truncated download fails here, by name).
pub fn check_safetensors(path: &Path) -> Result<()> {
    let file = std::fs::File::open(path).map_err(|e| EngineError::io(path, e))?;
    // SAFETY: read-only map of a file we do not modify; a concurrent writer could only make
    // the parse fail, which is reported as an error.
    let mmap = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| EngineError::io(path, e))?;
    safetensors::SafeTensors::deserialize(&mmap).map_err(|e| {
        let reason = match e {
            safetensors::SafeTensorError::MetadataIncompleteBuffer => format!(
                "truncated or corrupt: the header describes more or less data than the file's {} bytes",
                mmap.len()
            ),
            other => format!("not a valid safetensors file: {other}"),
        };
        EngineError::invalid_file(path, reason)
    })?;
    Ok(())
}

pub(crate) fn load_safetensors(
    config_path: &Path,
    shards: &[PathBuf],
    dtype: DType,
    device: &Device,
) -> Result<LoadedNetwork> {
    let config = read_mistral_config(config_path)?;
    for shard in shards {
        check_safetensors(shard)?;
    }
    let root = config_path.parent().unwrap_or(Path::new(".")).to_path_buf();
    // SAFETY: the shards are memory-mapped read-only and validated above.
    let vb = unsafe { candle_nn::VarBuilder::from_mmaped_safetensors(shards, dtype, device) }
        .map_err(|e| EngineError::invalid_file(&root, e))?;
    let model = mistral::Model::new(&config, vb).map_err(|e| {
        EngineError::invalid_file(&root, format!("weights do not match config.json: {e}"))
    })?;
    let context_length = config
        .sliding_window
        .unwrap_or(config.max_position_embeddings)
        .min(config.max_position_embeddings);
    Ok(LoadedNetwork {
        network: Network::Mistral(Box::new(model)),
        info: ModelInfo {
            path: root,
            format: "safetensors",
            precision: format!("{dtype:?}").to_lowercase(),
            vocab_size: config.vocab_size,
            context_length,
            num_layers: config.num_hidden_layers,
            hidden_size: config.hidden_size,
            device: device_name(device),
        },
        device: device.clone(),
    })
}

/// Reads a GGUF's header and checks it is a complete llama-architecture file. Our bounded
/// reader (`gguf_header`) proves every size, offset and shape first, so candle's reader, whose
/// `Content` the loaders take, only ever sees a validated file; the two must then agree.
pub fn read_gguf_header(path: &Path) -> Result<gguf_file::Content> {
    let header = crate::gguf_header::read_gguf(path)?;
    crate::gguf_header::check_llama_shapes(&header)?;
    let mut file = std::fs::File::open(path).map_err(|e| EngineError::io(path, e))?;
    let content = gguf_file::Content::read(&mut file)
        .map_err(|e| EngineError::invalid_file(path, format!("not a readable GGUF: {e}")))?;
    crate::gguf_header::check_candle_agrees(&header, &content)?;
    Ok(content)
}

pub(crate) fn load_gguf(path: &Path, device: &Device, runner: GgufRunner) -> Result<LoadedNetwork> {
    let content = read_gguf_header(path)?;
    let get_u32 = |key: &str| -> Result<usize> {
        content
            .metadata
            .get(key)
            .and_then(|v| v.to_u32().ok())
            .map(|v| v as usize)
            .ok_or_else(|| EngineError::invalid_file(path, format!("metadata {key} missing")))
    };
    let num_layers = get_u32("llama.block_count")?;
    let hidden_size = get_u32("llama.embedding_length")?;
    let context = get_u32("llama.context_length").unwrap_or(quantized_llama::MAX_SEQ_LEN);
    let embd = content
        .tensor_infos
        .get("token_embd.weight")
        .ok_or_else(|| EngineError::invalid_file(path, "tensor token_embd.weight missing"))?;
    let vocab_size = embd.shape.dims().first().copied().unwrap_or(0);
    let precision = content
        .tensor_infos
        .get("blk.0.attn_q.weight")
        .map(|t| format!("{:?}", t.ggml_dtype))
        .unwrap_or_else(|| "unknown".into());
    let context = context.min(quantized_llama::MAX_SEQ_LEN);
    let network = if device.is_cpu() && runner == GgufRunner::Mapped {
        Network::GgufCpu(Box::new(GgufCpuModel::load(path, &content, context)?))
    } else {
        let file = std::fs::File::open(path).map_err(|e| EngineError::io(path, e))?;
        let mut reader = std::io::BufReader::with_capacity(1 << 20, file);
        let model = quantized_llama::ModelWeights::from_gguf(content, &mut reader, device)
            .map_err(|e| EngineError::invalid_file(path, e))?;
        Network::Gguf(Box::new(model))
    };
    Ok(LoadedNetwork {
        network,
        info: ModelInfo {
            path: path.to_path_buf(),
            format: "gguf",
            precision,
            vocab_size,
            context_length: context,
            num_layers,
            hidden_size,
            device: device_name(device),
        },
        device: device.clone(),
    })
}
