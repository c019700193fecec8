//! The network itself: Mistral safetensors through `mistral_model` (candle's Mistral with a
//! decode path for GPUs), or a GGUF (llama.cpp stores Mistral as arch `llama`) through our
//! memory-mapped CPU runner (`gguf_cpu`) or, on a GPU, candle's quantized llama (a cut of it
//! with fewer kernel launches measured slower on the H200: BENCHMARKS.md, "GPU"), or split
//! between the two for a GPU too small for it (`gguf_split`). Each loader takes the model's
//! [`ModelDescription`] and the device and precision to run at.

use crate::description::{ModelDescription, NetworkDescription};
use crate::engine::GgufRunner;
use crate::error::{EngineError, Result};
use crate::gguf_cpu::{CpuRunner, GgufCpuModel, Reuse};
use crate::gguf_split::SplitGguf;
use crate::mistral_model::MistralModel;
use candle_core::quantized::gguf_file;
use candle_core::{DType, Device, Tensor};
use candle_transformers::models::{mistral, quantized_llama};
use jslm_core::{Container, Precision};
use jslm_hardware::ComputeDevice;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// What runs, for display, history and checks: the truth, not the request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// The file or folder the weights came from (an in-app quantized GGUF: that file).
    pub path: PathBuf,
    pub container: Container,
    /// The precision the weights run at.
    pub precision: Precision,
    pub vocab_size: usize,
    /// Prompt + generated tokens the engine computes exactly (the sliding window, 4,096 for
    /// this model).
    pub context_length: usize,
    pub num_layers: usize,
    pub hidden_size: usize,
    /// The device the network runs on.
    pub device: ComputeDevice,
    /// A GGUF split between the CPU and a GPU (`device`): the blocks on the GPU, the others
    /// on the CPU. `None`: the whole network on `device`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_layers: Option<usize>,
    /// CPU threads of the engine's own pool.
    pub threads: usize,
}

pub(crate) enum Network {
    Mistral(Box<MistralModel>),
    /// A GGUF on the CPU: our memory-mapped runner (`gguf_cpu`).
    GgufCpu(Box<GgufCpuModel>),
    /// A GGUF on a GPU: candle's quantized llama.
    Gguf(Box<quantized_llama::ModelWeights>),
    /// A GGUF split between the CPU and a GPU too small for all of it (`gguf_split`).
    GgufSplit(Box<SplitGguf>),
}

pub(crate) struct LoadedNetwork {
    pub network: Network,
    pub info: ModelInfo,
    pub device: Device,
}

impl Network {
    /// Runs `ids` at positions `pos..pos+len` and returns the f32 logits of the last one.
    pub fn forward(&mut self, ids: &[u32], pos: usize, device: &Device) -> Result<Vec<f32>> {
        match self {
            Network::GgufCpu(m) => return m.forward(ids, pos),
            Network::GgufSplit(m) => return m.forward(ids, pos),
            Network::Mistral(_) | Network::Gguf(_) => {}
        }
        let input = Tensor::new(ids, device)?.unsqueeze(0)?;
        let logits = match self {
            Network::Mistral(m) => m.forward(&input, pos)?,
            Network::Gguf(m) => m.forward(&input, pos)?,
            Network::GgufCpu(_) | Network::GgufSplit(_) => unreachable!("handled above"),
        };
        Ok(logits
            .flatten_all()?
            .to_dtype(DType::F32)?
            .to_vec1::<f32>()?)
    }

    /// Processes `ids` at positions `start..` in passes of at most `chunk` tokens (the
    /// attention scores of one pass grow with chunk × context, so long prompts stay within the
    /// memory the device plan budgets) and returns the logits of its last token. No pass is
    /// shorter than `MIN_PASS` tokens where the prompt has that many (a remainder is balanced
    /// with the pass before it): every token then takes the same kernels whichever pass it is
    /// in, which the reuse of cached positions relies on (`gguf_cpu/cached_tokens.rs`).
    ///
    /// Asks `stop` before each pass, and `abandon` before each pass and (on the mapped CPU
    /// runner, where one pass can take many seconds) between its blocks: `None` when either
    /// said so. The passes it finished stay in the cache for the next prompt to reuse; a pass
    /// it abandoned does not.
    pub fn prefill(
        &mut self,
        ids: &[u32],
        start: usize,
        chunk: usize,
        device: &Device,
        stop: impl Fn() -> bool,
        abandon: &(dyn Fn() -> bool + Sync),
    ) -> Result<Option<Vec<f32>>> {
        let mut logits = Vec::new();
        for piece in passes(ids.len(), chunk, MIN_PASS) {
            if stop() || abandon() {
                return Ok(None);
            }
            let (ids, pos) = (&ids[piece.clone()], start + piece.start);
            logits = match self {
                Network::GgufCpu(m) => match m.forward_until(ids, pos, abandon)? {
                    Some(logits) => logits,
                    None => return Ok(None),
                },
                _ => self.forward(ids, pos, device)?,
            };
        }
        Ok(Some(logits))
    }

    /// What of `prompt` the network's cache holds from the passes before (`Reuse::Prefix(0)`
    /// where this network does not reuse its cache: then the prompt runs from position 0
    /// after `clear_kv_cache`).
    pub fn reuse(&self, prompt: &[u32]) -> Reuse {
        match self {
            Network::GgufCpu(m) => m.reuse(prompt),
            Network::Mistral(_) | Network::Gguf(_) | Network::GgufSplit(_) => Reuse::Prefix(0),
        }
    }

    /// How many positions the cache holds for the next prompt to reuse; `None` where this
    /// network does not reuse its cache.
    pub fn cached_tokens(&self) -> Option<usize> {
        match self {
            Network::GgufCpu(m) => Some(m.cached_tokens()),
            Network::Mistral(_) | Network::Gguf(_) | Network::GgufSplit(_) => None,
        }
    }

    pub fn clear_kv_cache(&mut self) {
        match self {
            Network::Mistral(m) => m.clear_kv_cache(),
            Network::Gguf(m) => m.clear_kv_cache(),
            Network::GgufCpu(m) => m.clear_kv_cache(),
            Network::GgufSplit(m) => m.clear_kv_cache(),
        }
    }
}

/// The fewest tokens of a prefill pass where the prompt has as many: the threshold of
/// `gguf_cpu`'s prompt kernels.
const MIN_PASS: usize = crate::gguf_cpu::PROMPT_TILE_TOKENS;

/// `0..len` in ranges of at most `chunk` (raised to `2 · min`), none shorter than `min`
/// unless all of `len` is: a short remainder takes tokens from the range before it.
fn passes(len: usize, chunk: usize, min: usize) -> Vec<std::ops::Range<usize>> {
    let chunk = chunk.max(2 * min).max(1);
    let mut out = Vec::new();
    let mut at = 0;
    while at < len {
        let left = len - at;
        let take = if left > chunk && left - chunk < min {
            left - min
        } else {
            left.min(chunk)
        };
        out.push(at..at + take);
        at += take;
    }
    out
}

/// Opens the candle device for `device`; a GPU that does not start (no driver, a CPU-only
/// build, out of memory) is `device_unavailable`.
pub(crate) fn open_device(device: ComputeDevice) -> Result<Device> {
    let unavailable = |e: candle_core::Error| EngineError::DeviceUnavailable {
        device: device.to_string(),
        message: crate::error::candle_message(&e),
    };
    match device {
        ComputeDevice::Cpu => Ok(Device::Cpu),
        ComputeDevice::Cuda { ordinal, .. } => {
            Device::new_cuda(ordinal as usize).map_err(unavailable)
        }
        ComputeDevice::Metal => Device::new_metal(0).map_err(unavailable),
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
        // The engine and the GGUF metadata hold them as f32: 1e39 would become infinity.
        let single = value as f32;
        if !(value.is_finite() && single.is_finite() && single > 0.0) {
            return Err(format!(
                "`{field}` must be a finite number > 0 (in single precision). Given: {value}"
            ));
        }
    }
    Ok(())
}

/// Checks that a safetensors file is complete (its header parses and the data it describes
/// matches the file length exactly: a truncated download fails here, by name) and counts its
/// elements per float precision. Returns (file bytes, elements per precision).
pub fn inspect_safetensors(path: &Path) -> Result<(u64, Vec<(Precision, u64)>)> {
    let file = std::fs::File::open(path).map_err(|e| EngineError::io(path, e))?;
    // SAFETY: read-only map of a file we do not modify; a concurrent writer could only make
    // the parse fail, which is reported as an error.
    let mmap = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| EngineError::io(path, e))?;
    let tensors = safetensors::SafeTensors::deserialize(&mmap).map_err(|e| {
        let reason = match e {
            safetensors::SafeTensorError::MetadataIncompleteBuffer => format!(
                "truncated or corrupt: the header describes more or less data than the file's {} bytes",
                mmap.len()
            ),
            other => format!("not a valid safetensors file: {other}"),
        };
        EngineError::invalid_file(path, reason)
    })?;
    let mut counts: Vec<(Precision, u64)> = Vec::new();
    for (name, view) in tensors.tensors() {
        let precision = match view.dtype() {
            safetensors::Dtype::F32 => Precision::F32,
            safetensors::Dtype::BF16 => Precision::Bf16,
            safetensors::Dtype::F16 => Precision::F16,
            other => {
                return Err(EngineError::UnsupportedModel {
                    path: path.to_path_buf(),
                    reason: format!("tensor {name} is {other:?}; expected F32, BF16 or F16"),
                })
            }
        };
        let elements = view.shape().iter().map(|&d| d as u64).product::<u64>();
        match counts.iter_mut().find(|(p, _)| *p == precision) {
            Some((_, n)) => *n += elements,
            None => counts.push((precision, elements)),
        }
    }
    Ok((mmap.len() as u64, counts))
}

/// Loads safetensors at a float `precision` on `device`.
pub(crate) fn load_safetensors(
    description: &ModelDescription,
    precision: Precision,
    device: ComputeDevice,
) -> Result<LoadedNetwork> {
    let (
        NetworkDescription::Mistral(config),
        crate::files::WeightsFormat::Safetensors { shards, .. },
    ) = (&description.network, &description.weights)
    else {
        return Err(EngineError::invalid_file(
            &description.path,
            "not a safetensors model",
        ));
    };
    let dtype = match precision {
        Precision::F32 => DType::F32,
        Precision::Bf16 => DType::BF16,
        Precision::F16 => DType::F16,
        other => {
            return Err(EngineError::invalid(
                "precision",
                format!("{other} is made by quantizing, not by loading safetensors"),
            ))
        }
    };
    let candle_device = open_device(device)?;
    let root = description.path.clone();
    // SAFETY: the shards are memory-mapped read-only and validated above.
    let vb =
        unsafe { candle_nn::VarBuilder::from_mmaped_safetensors(shards, dtype, &candle_device) }
            .map_err(|e| crate::error::load_failed(&root, &e, ""))?;
    let model = MistralModel::new(config, vb)
        .map_err(|e| crate::error::load_failed(&root, &e, "weights do not match config.json"))?;
    Ok(LoadedNetwork {
        network: Network::Mistral(Box::new(model)),
        info: info(description, precision, device),
        device: candle_device,
    })
}

/// What runs, before the thread count is known.
fn info(description: &ModelDescription, precision: Precision, device: ComputeDevice) -> ModelInfo {
    let shape = &description.shape;
    ModelInfo {
        path: description.path.clone(),
        container: description.container,
        precision,
        vocab_size: shape.vocab_size as usize,
        context_length: description.context_tokens as usize,
        num_layers: shape.num_hidden_layers as usize,
        hidden_size: shape.hidden_size as usize,
        device,
        gpu_layers: None,
        threads: 0,
    }
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

/// Loads a GGUF on `device`: the CPU runs our memory-mapped runner (or candle's, for
/// comparison), GPUs candle's quantized llama. `context` caps the positions the KV cache and
/// RoPE table cover.
pub(crate) fn load_gguf(
    description: &ModelDescription,
    options: &crate::engine::LoadOptions,
    context: usize,
) -> Result<LoadedNetwork> {
    let (device, runner) = (options.device, options.gguf_runner);
    let (NetworkDescription::Llama(llama), crate::files::WeightsFormat::Gguf { file }) =
        (&description.network, &description.weights)
    else {
        return Err(EngineError::invalid_file(
            &description.path,
            "not a GGUF model",
        ));
    };
    // candle's quantized llama precomputes RoPE for MAX_SEQ_LEN positions only.
    let context = context.min(description.context_tokens as usize);
    let candle_device = open_device(device)?;
    // A split only where the GPU takes fewer than all the blocks.
    let split = options
        .gpu_layers
        .filter(|&n| device != ComputeDevice::Cpu && n < llama.dims.layers);
    // Resolved only where the mapped runner runs: a forced ISA is no error for candle's.
    let mapped = || -> Result<CpuRunner> {
        Ok(CpuRunner {
            context,
            isa: crate::isa::Isa::resolve(options.isa)?,
            kv: options.kv_cache,
        })
    };
    let network = if device == ComputeDevice::Cpu && runner == GgufRunner::Mapped {
        let blocks = llama.dims.layers;
        Network::GgufCpu(Box::new(GgufCpuModel::load(
            file,
            llama,
            mapped()?,
            blocks,
        )?))
    } else if let Some(gpu_layers) = split {
        Network::GgufSplit(Box::new(SplitGguf::load(
            file,
            llama,
            mapped()?,
            gpu_layers,
            &candle_device,
        )?))
    } else {
        Network::Gguf(Box::new(load_candle_llama(file, &candle_device)?))
    };
    let mut info = info(description, description.stored, device);
    info.gpu_layers = split;
    info.path = file.clone();
    info.context_length = context.min(quantized_llama::MAX_SEQ_LEN);
    Ok(LoadedNetwork {
        network,
        info,
        device: candle_device,
    })
}

/// candle's quantized llama reads the header itself (it takes it by value), from a file the
/// description has already checked.
pub(crate) fn load_candle_llama(
    file: &Path,
    device: &Device,
) -> Result<quantized_llama::ModelWeights> {
    let content = read_gguf_header(file)?;
    let reader = std::fs::File::open(file).map_err(|e| EngineError::io(file, e))?;
    let mut reader = std::io::BufReader::with_capacity(1 << 20, reader);
    quantized_llama::ModelWeights::from_gguf(content, &mut reader, device)
        .map_err(|e| crate::error::load_failed(file, &e, ""))
}

#[cfg(test)]
mod tests {
    use super::passes;

    #[test]
    fn passes_cover_the_prompt_and_none_is_short() {
        for chunk in [1, 8, 16, 17, 512] {
            for len in 0..1100 {
                let p = passes(len, chunk, 8);
                assert_eq!(p.iter().map(|r| r.len()).sum::<usize>(), len);
                for (i, r) in p.iter().enumerate() {
                    assert!(r.len() <= chunk.max(16), "{len} {chunk}: {p:?}");
                    assert!(r.len() >= 8 || p.len() == 1, "{len} {chunk}: {p:?}");
                    assert_eq!(r.start, if i == 0 { 0 } else { p[i - 1].end });
                }
            }
        }
        assert_eq!(passes(513, 512, 8), vec![0..505, 505..513]);
        assert_eq!(passes(1024, 512, 8), vec![0..512, 512..1024]);
    }
}
