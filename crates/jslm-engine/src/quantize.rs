//! In-app quantization: official safetensors → a llama.cpp-compatible GGUF, written once.
//!
//! Tensors are read one at a time from the memory-mapped shards (and the mapped pages dropped
//! after use), converted, permuted and quantized; only the quantized output is held until the
//! file is written, so peak memory ≈ output size + one f32 tensor. The file is written to a
//! `.partial` name, synced and renamed: a crash never leaves a file that looks complete.
//!
//! Layout follows llama.cpp's `convert_hf_to_gguf.py` for Mistral (arch `llama`): tensor names
//! `token_embd`, `blk.N.attn_q`, ...; Q and K rows permuted from Hugging Face's rotate-half
//! RoPE order to GGUF's interleaved order. `Q4_K_M` follows llama.cpp's mix: Q6_K for
//! `output`, and for `attn_v`/`ffn_down` of the layers `use_more_bits` selects; Q4_K elsewhere.

use crate::error::{EngineError, Result};
use crate::file_hash::HashStore;
use crate::gguf_writer::{write_gguf_atomically, TensorPlan};
use crate::model::{inspect_safetensors, read_mistral_config};
use candle_core::quantized::{gguf_file, GgmlDType, QStorage, QTensor};
use candle_core::{DType, Device, Tensor};
use candle_transformers::models::mistral;
use jslm_core::Precision;
use jslm_hardware::IN_APP_QUANTIZATIONS;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// The quantizer's recipes: the one mapping from a precision to how tensors are quantized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Recipe {
    /// llama.cpp's Q4_K_M mix (~4.4 GB for 7B).
    Q4KM,
    /// 8-bit, near-lossless (~7.7 GB for 7B).
    Q8_0,
}

impl Recipe {
    /// The recipe for `precision`; the planner offers only [`IN_APP_QUANTIZATIONS`].
    fn for_precision(precision: Precision) -> Result<Self> {
        match precision {
            Precision::Q4KM => Ok(Self::Q4KM),
            Precision::Q8_0 => Ok(Self::Q8_0),
            other => Err(EngineError::invalid(
                "precision",
                format!(
                    "the app quantizes to {} only. Given: {other}",
                    IN_APP_QUANTIZATIONS.map(|p| p.label()).join(" or ")
                ),
            )),
        }
    }
}

/// Progress of a quantization run.
#[derive(Debug, Clone, Serialize)]
pub struct QuantizeProgress {
    pub tensor: String,
    pub tensors_done: usize,
    pub tensors_total: usize,
    /// Source bytes processed so far / in all.
    pub bytes_done: u64,
    pub bytes_total: u64,
}

/// Bumped whenever the quantizer's output for the same source changes (a recipe, the
/// metadata it writes, a fix): cached copies made by an older quantizer are then made again
/// instead of being used as if current. 2: the key took in config.json and this number.
pub const QUANTIZER_VERSION: u32 = 2;

/// Where the source came from, recorded in the GGUF's metadata.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SourceInfo {
    /// `org/name` when the files sit in a Hugging Face cache snapshot.
    pub repo: Option<String>,
    /// The snapshot's commit hash.
    pub revision: Option<String>,
    /// sha256 of `config.json`: the shapes, RoPE base and norm epsilon the quantizer writes
    /// into the file come from it (a new revision may change it alone).
    pub config_sha256: String,
    /// `(file name, sha256)` of every shard.
    pub files: Vec<(String, String)>,
}

impl SourceInfo {
    /// Identifies the source: repo and revision from a HF cache path
    /// (`models--org--name/snapshots/<commit>/…`), file hashes from the blob names the cache
    /// uses (a blob's name is its sha256), else from `hashes` (read once per file version).
    pub fn describe(config: &Path, shards: &[PathBuf], hashes: &mut HashStore) -> Result<Self> {
        let mut info = SourceInfo::default();
        if let Some(first) = shards.first() {
            let comps: Vec<String> = first
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if let Some(i) = comps.iter().position(|c| c == "snapshots") {
                if i >= 1 && i + 1 < comps.len() {
                    if let Some(repo) = comps[i - 1].strip_prefix("models--") {
                        info.repo = Some(repo.replacen("--", "/", 1));
                        info.revision = Some(comps[i + 1].clone());
                    }
                }
            }
        }
        info.config_sha256 = hashes.sha256(config)?;
        for shard in shards {
            let name = shard
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            info.files.push((name, hashes.sha256(shard)?));
        }
        Ok(info)
    }

    /// A short key for the cache file name: changes whenever any source file (weights or
    /// config) or the quantizer changes.
    pub fn key(&self) -> String {
        let mut h = Sha256::new();
        h.update(format!("jslm-quantizer-{QUANTIZER_VERSION}").as_bytes());
        h.update([0]);
        h.update(self.config_sha256.as_bytes());
        h.update([0]);
        for (name, sha) in &self.files {
            h.update(name.as_bytes());
            h.update([0]);
            h.update(sha.as_bytes());
            h.update([0]);
        }
        hex(&h.finalize())[..16].to_string()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The cache file for `source` quantized as `q`, under `cache_dir`.
pub fn quantized_path(cache_dir: &Path, source: &SourceInfo, q: Precision) -> PathBuf {
    let stem = source
        .repo
        .as_deref()
        .map(|r| r.replace('/', "--"))
        .unwrap_or_else(|| "local".into());
    cache_dir.join(format!("{stem}-{}-{}.gguf", source.key(), q.as_str()))
}

/// Removes the copies in `cache_dir` of the same weights at the same precision that `keep`
/// supersedes: made from an older config.json or by an older quantizer (their names carry
/// another key), so no load would find them again, and each is gigabytes. A copy of other
/// weights, or one that cannot be read, is left alone; one in use elsewhere stays readable
/// where files can be removed while mapped, and is not removed where they cannot. Returns the
/// bytes freed.
pub fn remove_superseded(cache_dir: &Path, source: &SourceInfo, q: Precision, keep: &Path) -> u64 {
    let Some(keep_name) = keep.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return 0;
    };
    // `{stem}-{key}-{precision}.gguf`: the stem is what comes before the key.
    let suffix = format!("-{}.gguf", q.as_str());
    let stem = keep_name
        .strip_suffix(&suffix)
        .and_then(|rest| rest.rsplit_once('-'))
        .map(|(stem, _key)| format!("{stem}-"));
    let Some(stem) = stem else {
        return 0;
    };
    let Ok(entries) = std::fs::read_dir(cache_dir) else {
        return 0;
    };
    let files: Vec<String> = source
        .files
        .iter()
        .map(|(n, h)| format!("{n}:{h}"))
        .collect();
    let mut freed = 0u64;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == keep_name || !name.starts_with(&stem) || !name.ends_with(&suffix) {
            continue;
        }
        let path = entry.path();
        let same_weights = crate::gguf_header::read_gguf(&path).is_ok_and(|h| {
            matches!(
                h.metadata.get("jslm.source.files"),
                Some(crate::gguf_header::GgufValue::Array(crate::gguf_header::GgufArray::String(
                    theirs
                ))) if *theirs == files
            )
        });
        let size = entry.metadata().map_or(0, |m| m.len());
        if same_weights && std::fs::remove_file(&path).is_ok() {
            freed = freed.saturating_add(size);
        }
    }
    freed
}

struct SourceTensor {
    shard: usize,
    hf_name: String,
    gguf_name: String,
    shape: Vec<usize>,
    bytes: u64,
}

/// HF tensor name → GGUF name (llama.cpp's mapping for Mistral/Llama).
fn gguf_name(hf: &str) -> Option<String> {
    let fixed = match hf {
        "model.embed_tokens.weight" => Some("token_embd.weight"),
        "model.norm.weight" => Some("output_norm.weight"),
        "lm_head.weight" => Some("output.weight"),
        _ => None,
    };
    if let Some(f) = fixed {
        return Some(f.to_string());
    }
    let rest = hf.strip_prefix("model.layers.")?;
    let (layer, rest) = rest.split_once('.')?;
    let layer: usize = layer.parse().ok()?;
    let part = match rest {
        "self_attn.q_proj.weight" => "attn_q",
        "self_attn.k_proj.weight" => "attn_k",
        "self_attn.v_proj.weight" => "attn_v",
        "self_attn.o_proj.weight" => "attn_output",
        "mlp.gate_proj.weight" => "ffn_gate",
        "mlp.up_proj.weight" => "ffn_up",
        "mlp.down_proj.weight" => "ffn_down",
        "input_layernorm.weight" => "attn_norm",
        "post_attention_layernorm.weight" => "ffn_norm",
        _ => return None,
    };
    Some(format!("blk.{layer}.{part}.weight"))
}

/// llama.cpp `use_more_bits(i_layer, n_layers)` of the Q4_K_M mix.
fn use_more_bits(layer: usize, n_layers: usize) -> bool {
    let eighth = n_layers / 8;
    layer < eighth || layer >= 7 * n_layers / 8 || (layer - eighth) % 3 == 2
}

fn layer_of(gguf: &str) -> Option<usize> {
    gguf.strip_prefix("blk.")?.split('.').next()?.parse().ok()
}

/// The GGML type for one tensor; falls back when a row is not a multiple of the block size
/// (only in small test models: all 7B rows are multiples of 256).
fn target_dtype(gguf: &str, shape: &[usize], q: Recipe, n_layers: usize) -> GgmlDType {
    if shape.len() < 2 {
        return GgmlDType::F32;
    }
    let row = *shape.last().unwrap_or(&0);
    let wanted = match q {
        Recipe::Q8_0 => GgmlDType::Q8_0,
        Recipe::Q4KM => {
            let more_bits = (gguf.ends_with("attn_v.weight") || gguf.ends_with("ffn_down.weight"))
                && layer_of(gguf).is_some_and(|l| use_more_bits(l, n_layers));
            if gguf == "output.weight" || more_bits {
                GgmlDType::Q6K
            } else {
                GgmlDType::Q4K
            }
        }
    };
    if row.is_multiple_of(wanted.block_size()) {
        wanted
    } else if row.is_multiple_of(GgmlDType::Q8_0.block_size()) {
        GgmlDType::Q8_0
    } else {
        GgmlDType::F16
    }
}

/// Hugging Face rotate-half order → GGUF interleaved order for Q/K rows
/// (`permute` in llama.cpp's converter).
fn permute_qk(w: &Tensor, n_head: usize) -> candle_core::Result<Tensor> {
    let (rows, cols) = w.dims2()?;
    w.reshape((n_head, 2, rows / n_head / 2, cols))?
        .transpose(1, 2)?
        .contiguous()?
        .reshape((rows, cols))
}

fn to_candle_dtype(d: safetensors::Dtype) -> Option<DType> {
    match d {
        safetensors::Dtype::F32 => Some(DType::F32),
        safetensors::Dtype::F16 => Some(DType::F16),
        safetensors::Dtype::BF16 => Some(DType::BF16),
        _ => None,
    }
}

/// Quantizes the safetensors model (`config`, `shards`) into `out`. Returns `out`.
pub fn quantize_safetensors(
    config_path: &Path,
    shards: &[PathBuf],
    source: &SourceInfo,
    q: Precision,
    out: &Path,
    mut progress: impl FnMut(&QuantizeProgress),
) -> Result<PathBuf> {
    let recipe = Recipe::for_precision(q)?;
    let config = read_mistral_config(config_path)?;
    let mut maps = Vec::new();
    let mut plan: Vec<SourceTensor> = Vec::new();
    for (i, shard) in shards.iter().enumerate() {
        inspect_safetensors(shard)?;
        let file = std::fs::File::open(shard).map_err(|e| EngineError::io(shard, e))?;
        // SAFETY: read-only map, validated by inspect_safetensors.
        let mmap = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| EngineError::io(shard, e))?;
        let st = safetensors::SafeTensors::deserialize(&mmap)
            .map_err(|e| EngineError::invalid_file(shard, e))?;
        for (name, view) in st.tensors() {
            let Some(gguf) = gguf_name(&name) else {
                if name.ends_with("rotary_emb.inv_freq") {
                    continue;
                }
                return Err(EngineError::UnsupportedModel {
                    path: shard.clone(),
                    reason: format!("unexpected tensor {name} for a Mistral model"),
                });
            };
            plan.push(SourceTensor {
                shard: i,
                hf_name: name,
                gguf_name: gguf,
                shape: view.shape().to_vec(),
                bytes: view.data().len() as u64,
            });
        }
        maps.push(mmap);
    }
    // Before minutes of work: every tensor config.json implies, with its shape, and no other.
    check_source_tensors(config_path, &config, &plan)?;
    // llama.cpp's order: token_embd, the blocks in layer order, output_norm, output.
    plan.sort_by_key(|t| {
        let rank = match t.gguf_name.as_str() {
            "token_embd.weight" => (0, 0),
            "output_norm.weight" => (2, 0),
            "output.weight" => (3, 0),
            g => (1, layer_of(g).unwrap_or(0)),
        };
        (rank, t.gguf_name.clone())
    });
    let targets: Vec<TensorPlan> = plan
        .iter()
        .map(|t| TensorPlan {
            name: t.gguf_name.clone(),
            shape: t.shape.clone(),
            dtype: target_dtype(&t.gguf_name, &t.shape, recipe, config.num_hidden_layers),
        })
        .collect();
    // A model whose rows are too short for k-quants (a tiny test model) falls back to Q8_0
    // throughout: its file says so, so that what reports say runs is what runs.
    let main_type = target_dtype("blk.0.attn_q.weight", &[256, 256], recipe, 1);
    let written = if targets.iter().any(|t| t.dtype == main_type) {
        q
    } else {
        Precision::Q8_0
    };
    check_free_space(out, &targets)?;
    let metadata = llama_metadata(&config, written, Some(source));
    let bytes_total: u64 = plan.iter().map(|t| t.bytes).sum();
    let mut bytes_done = 0u64;
    // One tensor at a time: read, quantized, written, dropped (the output is never all in
    // memory, nor the source: `release_pages`).
    write_gguf_atomically(out, &metadata, &targets, |done| {
        let t = &plan[done];
        let mmap = &maps[t.shard];
        let st = safetensors::SafeTensors::deserialize(mmap)
            .map_err(|e| EngineError::invalid_file(&shards[t.shard], e))?;
        let view = st
            .tensor(&t.hf_name)
            .map_err(|e| EngineError::invalid_file(&shards[t.shard], e))?;
        let dtype = to_candle_dtype(view.dtype()).ok_or_else(|| {
            EngineError::invalid_file(
                &shards[t.shard],
                format!(
                    "tensor {} has unsupported dtype {:?}",
                    t.hf_name,
                    view.dtype()
                ),
            )
        })?;
        let tensor = Tensor::from_raw_buffer(view.data(), dtype, view.shape(), &Device::Cpu)?
            .to_dtype(DType::F32)?;
        let qt = quantize_tensor(&t.gguf_name, tensor, &config, q)?;
        release_pages(mmap, view.data());
        bytes_done += t.bytes;
        progress(&QuantizeProgress {
            tensor: t.gguf_name.clone(),
            tensors_done: done + 1,
            tensors_total: plan.len(),
            bytes_done,
            bytes_total,
        });
        Ok(qt)
    })?;
    Ok(out.to_path_buf())
}

/// Room the metadata and the tensors' padding take beyond the tensor data, and what the
/// file system and other writers may need meanwhile.
const FREE_SPACE_MARGIN: u64 = 64 << 20;

/// Refuses before minutes of work when the disk holding `out` cannot take the file (a disk
/// that fills up midway is an I/O error later, with the partial file removed).
fn check_free_space(out: &Path, targets: &[TensorPlan]) -> Result<()> {
    let dir = out.parent().unwrap_or(out);
    // A disk that cannot be found is not refused: the write itself still reports a full one.
    match jslm_hardware::DiskSpace::detect(dir) {
        Ok(disk) => check_room(dir, targets, disk.available_bytes),
        Err(_) => Ok(()),
    }
}

fn check_room(dir: &Path, targets: &[TensorPlan], available_bytes: u64) -> Result<()> {
    let mut needed_bytes = FREE_SPACE_MARGIN;
    for t in targets {
        needed_bytes = needed_bytes.saturating_add(t.bytes()? as u64);
    }
    if available_bytes < needed_bytes {
        return Err(EngineError::DiskFull {
            dir: dir.to_path_buf(),
            needed_bytes,
            available_bytes,
        });
    }
    Ok(())
}

/// The tensors of a Mistral model as config.json describes it: Hugging Face name → shape.
fn expected_tensors(config: &mistral::Config) -> Vec<(String, Vec<usize>)> {
    let hidden = config.hidden_size;
    let head_dim = config
        .head_dim
        .unwrap_or(hidden / config.num_attention_heads);
    let (q, kv) = (
        config.num_attention_heads * head_dim,
        config.num_key_value_heads * head_dim,
    );
    let ffn = config.intermediate_size;
    let mut out = vec![
        (
            "model.embed_tokens.weight".to_string(),
            vec![config.vocab_size, hidden],
        ),
        ("model.norm.weight".to_string(), vec![hidden]),
        (
            "lm_head.weight".to_string(),
            vec![config.vocab_size, hidden],
        ),
    ];
    for layer in 0..config.num_hidden_layers {
        let name = |part: &str| format!("model.layers.{layer}.{part}.weight");
        out.extend([
            (name("self_attn.q_proj"), vec![q, hidden]),
            (name("self_attn.k_proj"), vec![kv, hidden]),
            (name("self_attn.v_proj"), vec![kv, hidden]),
            (name("self_attn.o_proj"), vec![hidden, q]),
            (name("mlp.gate_proj"), vec![ffn, hidden]),
            (name("mlp.up_proj"), vec![ffn, hidden]),
            (name("mlp.down_proj"), vec![hidden, ffn]),
            (name("input_layernorm"), vec![hidden]),
            (name("post_attention_layernorm"), vec![hidden]),
        ]);
    }
    out
}

/// The source's tensors against config.json: a missing, doubled, extra or misshapen tensor
/// is an error naming the model folder, before anything is written (a file quantized from
/// them would be refused only when loaded, as a broken cache file, after minutes).
fn check_source_tensors(
    config_path: &Path,
    config: &mistral::Config,
    plan: &[SourceTensor],
) -> Result<()> {
    let folder = config_path.parent().unwrap_or(config_path);
    let mismatch = |what: String| {
        EngineError::invalid_file(folder, format!("weights do not match config.json: {what}"))
    };
    let mut found: std::collections::HashMap<&str, &[usize]> = std::collections::HashMap::new();
    for t in plan {
        if found.insert(t.hf_name.as_str(), &t.shape).is_some() {
            return Err(mismatch(format!("tensor {} is stored twice", t.hf_name)));
        }
    }
    let expected = expected_tensors(config);
    for (name, shape) in &expected {
        match found.get(name.as_str()) {
            None => return Err(mismatch(format!("tensor {name} is missing"))),
            Some(given) if *given != shape.as_slice() => {
                return Err(mismatch(format!(
                    "tensor {name} has shape {given:?}, config.json says {shape:?}"
                )))
            }
            Some(_) => {}
        }
    }
    if let Some(extra) = plan
        .iter()
        .find(|t| !expected.iter().any(|(name, _)| *name == t.hf_name))
    {
        return Err(mismatch(format!(
            "tensor {} is beyond the {} layers of config.json",
            extra.hf_name, config.num_hidden_layers
        )));
    }
    Ok(())
}

/// Converts one f32 tensor, named as in GGUF, to its quantized form: Q/K permuted to GGUF's
/// RoPE order, then the type the mix assigns.
pub fn quantize_tensor(
    gguf_name: &str,
    tensor: Tensor,
    config: &mistral::Config,
    q: Precision,
) -> Result<QTensor> {
    let recipe = Recipe::for_precision(q)?;
    let tensor = if gguf_name.ends_with("attn_q.weight") {
        permute_qk(&tensor, config.num_attention_heads)?
    } else if gguf_name.ends_with("attn_k.weight") {
        permute_qk(&tensor, config.num_key_value_heads)?
    } else {
        tensor
    };
    let target = target_dtype(gguf_name, tensor.dims(), recipe, config.num_hidden_layers);
    quantize_rows_in_parallel(&tensor, target)
}

/// The type [`quantize_tensor`] gives `gguf_name` of `shape` (for a file's header, written
/// before the tensors are made).
pub(crate) fn planned_dtype(
    gguf_name: &str,
    shape: &[usize],
    config: &mistral::Config,
    q: Precision,
) -> Result<GgmlDType> {
    Ok(target_dtype(
        gguf_name,
        shape,
        Recipe::for_precision(q)?,
        config.num_hidden_layers,
    ))
}

/// Rows per task of [`quantize_rows_in_parallel`]: 64 rows of 14,336 values are 3.7 MB of f32,
/// so a 7B matrix gives hundreds of tasks and every core stays busy to the end.
const ROWS_PER_TASK: usize = 64;

/// `QTensor::quantize`, with the rows split among rayon's threads. Each block of a row is
/// quantized on its own (k-quants and Q8_0 alike), so the bytes are exactly those of one
/// `QTensor::quantize` of the whole tensor: candle's is single-threaded, and a 7B model took
/// minutes of one core where a machine has many.
pub fn quantize_rows_in_parallel(tensor: &Tensor, target: GgmlDType) -> Result<QTensor> {
    use rayon::prelude::*;
    let dims = tensor.dims().to_vec();
    let cols = match dims.as_slice() {
        [rows, cols]
            if *rows > ROWS_PER_TASK && *cols > 0 && cols.is_multiple_of(target.block_size()) =>
        {
            *cols
        }
        _ => return Ok(QTensor::quantize(tensor, target)?),
    };
    let values = tensor
        .to_dtype(DType::F32)?
        .flatten_all()?
        .to_vec1::<f32>()?;
    let parts = values
        .par_chunks(ROWS_PER_TASK * cols)
        .map(|chunk| {
            let part = Tensor::from_slice(chunk, (chunk.len() / cols, cols), &Device::Cpu)?;
            Ok(QTensor::quantize(&part, target)?.data()?.into_owned())
        })
        .collect::<Result<Vec<Vec<u8>>>>()?;
    let storage = QStorage::from_data(
        std::borrow::Cow::Owned(parts.concat()),
        &Device::Cpu,
        target,
    )?;
    Ok(QTensor::new(storage, dims)?)
}

/// The GGUF metadata llama.cpp and candle's quantized llama read, plus our provenance keys.
pub fn llama_metadata(
    config: &mistral::Config,
    q: Precision,
    source: Option<&SourceInfo>,
) -> Vec<(&'static str, gguf_file::Value)> {
    use gguf_file::Value as V;
    let head_dim = config
        .head_dim
        .unwrap_or(config.hidden_size / config.num_attention_heads);
    let context = config
        .sliding_window
        .unwrap_or(config.max_position_embeddings)
        .min(config.max_position_embeddings) as u32;
    let default_source = SourceInfo::default();
    let source = source.unwrap_or(&default_source);
    let files_value = V::Array(
        source
            .files
            .iter()
            .map(|(n, h)| V::String(format!("{n}:{h}")))
            .collect(),
    );
    let mut metadata: Vec<(&'static str, V)> = vec![
        ("general.architecture", V::String("llama".into())),
        (
            "general.name",
            V::String(source.repo.clone().unwrap_or_else(|| "local model".into())),
        ),
        ("general.file_type", V::U32(q.gguf_file_type())),
        ("general.quantization_version", V::U32(2)),
        ("llama.context_length", V::U32(context)),
        ("llama.embedding_length", V::U32(config.hidden_size as u32)),
        ("llama.block_count", V::U32(config.num_hidden_layers as u32)),
        (
            "llama.feed_forward_length",
            V::U32(config.intermediate_size as u32),
        ),
        ("llama.rope.dimension_count", V::U32(head_dim as u32)),
        (
            "llama.attention.head_count",
            V::U32(config.num_attention_heads as u32),
        ),
        (
            "llama.attention.head_count_kv",
            V::U32(config.num_key_value_heads as u32),
        ),
        (
            "llama.attention.layer_norm_rms_epsilon",
            V::F32(config.rms_norm_eps as f32),
        ),
        ("llama.rope.freq_base", V::F32(config.rope_theta as f32)),
        ("llama.vocab_size", V::U32(config.vocab_size as u32)),
        ("jslm.quantization", V::String(q.as_str().into())),
        ("jslm.quantizer.version", V::U32(QUANTIZER_VERSION)),
        ("jslm.source.key", V::String(source.key())),
        (
            "jslm.source.config_sha256",
            V::String(source.config_sha256.clone()),
        ),
        ("jslm.source.files", files_value),
    ];
    if let Some(repo) = &source.repo {
        metadata.push(("jslm.source.repo", V::String(repo.clone())));
    }
    if let Some(rev) = &source.revision {
        metadata.push(("jslm.source.revision", V::String(rev.clone())));
    }
    if let Some(w) = config.sliding_window {
        metadata.push(("llama.attention.sliding_window", V::U32(w as u32)));
    }
    metadata
}

/// Tells the kernel the mapped source pages of one tensor are no longer needed, so reading a
/// 14.5 GB source does not inflate resident memory.
fn release_pages(mmap: &memmap2::Mmap, data: &[u8]) {
    #[cfg(unix)]
    {
        let base = mmap.as_ptr() as usize;
        let start = data.as_ptr() as usize - base;
        let page = 4096;
        let aligned = start / page * page;
        let len = data.len() + (start - aligned);
        // SAFETY: DontNeed on a private read-only file mapping only drops cached pages; later
        // reads fault them back in from the file. No reference into the range is used after.
        let _ = unsafe {
            mmap.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, aligned, len)
        };
    }
    #[cfg(not(unix))]
    {
        let _ = (mmap, data);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_quantized_in_parallel_are_the_bytes_of_one_quantize() {
        // 3 tasks and a short last one; values spread so every block gets its own scales.
        let (rows, cols) = (2 * ROWS_PER_TASK + 5, 512);
        let values: Vec<f32> = (0..rows * cols)
            .map(|i| ((i * 7919 % 1013) as f32 - 506.0) * 1e-3 * (1 + i / cols % 5) as f32)
            .collect();
        let tensor = Tensor::from_vec(values, (rows, cols), &Device::Cpu).unwrap();
        for dtype in [GgmlDType::Q4K, GgmlDType::Q6K, GgmlDType::Q8_0] {
            let parallel = quantize_rows_in_parallel(&tensor, dtype).unwrap();
            let whole = QTensor::quantize(&tensor, dtype).unwrap();
            assert_eq!(parallel.shape().dims(), &[rows, cols]);
            assert_eq!(parallel.dtype(), dtype);
            assert!(
                parallel.data().unwrap() == whole.data().unwrap(),
                "{dtype:?}: parallel bytes differ"
            );
        }
    }

    #[test]
    fn a_tensor_with_empty_rows_is_not_split() {
        // 100 rows of 0 values (a crafted safetensors shape): no zero-sized tasks, no panic.
        let tensor = Tensor::zeros((100, 0), DType::F32, &Device::Cpu).unwrap();
        let _ = quantize_rows_in_parallel(&tensor, GgmlDType::Q8_0);
    }

    #[test]
    fn names_follow_llama_cpp() {
        assert_eq!(
            gguf_name("model.embed_tokens.weight").unwrap(),
            "token_embd.weight"
        );
        assert_eq!(
            gguf_name("model.layers.31.mlp.down_proj.weight").unwrap(),
            "blk.31.ffn_down.weight"
        );
        assert_eq!(
            gguf_name("model.layers.0.post_attention_layernorm.weight").unwrap(),
            "blk.0.ffn_norm.weight"
        );
        assert!(gguf_name("model.layers.0.self_attn.rotary_emb.inv_freq").is_none());
    }

    #[test]
    fn q4_k_m_mix_matches_llama_cpp_for_32_layers() {
        // llama.cpp Q4_K_M on a 32-layer model upgrades attn_v/ffn_down in layers
        // 0-3, 28-31 and every third layer between, starting at 6.
        let more: Vec<usize> = (0..32).filter(|&l| use_more_bits(l, 32)).collect();
        assert_eq!(
            more,
            vec![0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31]
        );
        assert_eq!(
            target_dtype("output.weight", &[32000, 4096], Recipe::Q4KM, 32),
            GgmlDType::Q6K
        );
        assert_eq!(
            target_dtype("blk.5.attn_q.weight", &[4096, 4096], Recipe::Q4KM, 32),
            GgmlDType::Q4K
        );
        assert_eq!(
            target_dtype("blk.5.attn_norm.weight", &[4096], Recipe::Q4KM, 32),
            GgmlDType::F32
        );
        // Rows of 64 cannot be Q4_K (block 256): Q8_0 instead.
        assert_eq!(
            target_dtype("blk.0.attn_q.weight", &[64, 64], Recipe::Q4KM, 2),
            GgmlDType::Q8_0
        );
    }

    #[test]
    fn permute_matches_llama_cpp_reference() {
        // rows r = h*hd + half*(hd/2) + i  →  h*hd + i*2 + half
        let (n_head, hd, cols) = (2usize, 4usize, 1usize);
        let w = Tensor::arange(0f32, (n_head * hd * cols) as f32, &Device::Cpu)
            .unwrap()
            .reshape((n_head * hd, cols))
            .unwrap();
        let p: Vec<f32> = permute_qk(&w, n_head)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        assert_eq!(p, vec![0., 2., 1., 3., 4., 6., 5., 7.]);
    }

    #[test]
    fn source_info_from_hf_cache_path() {
        let dir = tempfile::tempdir().unwrap();
        let sha = "a".repeat(64);
        let blobs = dir.path().join("models--org--name/blobs");
        let snap = dir.path().join("models--org--name/snapshots/abc123");
        std::fs::create_dir_all(&blobs).unwrap();
        std::fs::create_dir_all(&snap).unwrap();
        std::fs::write(blobs.join(&sha), b"x").unwrap();
        std::fs::write(snap.join("config.json"), b"{}").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(format!("../../blobs/{sha}"), snap.join("model.safetensors"))
            .unwrap();
        #[cfg(unix)]
        {
            let mut hashes = HashStore::in_memory();
            let shards = [snap.join("model.safetensors")];
            let info =
                SourceInfo::describe(&snap.join("config.json"), &shards, &mut hashes).unwrap();
            assert_eq!(info.repo.as_deref(), Some("org/name"));
            assert_eq!(info.revision.as_deref(), Some("abc123"));
            assert_eq!(
                info.files,
                vec![("model.safetensors".to_string(), sha.clone())]
            );
            // Only config.json was read: the shard's hash is its blob's name.
            assert_eq!(hashes.hashed, vec![snap.join("config.json")]);
            let p = quantized_path(Path::new("/c"), &info, Precision::Q8_0);
            assert!(p.to_string_lossy().starts_with("/c/org--name-"));
            assert!(p.to_string_lossy().ends_with("-q8_0.gguf"));
        }
    }

    #[test]
    fn a_changed_config_is_another_quantized_copy() {
        // The same weights under a config.json that changed (a revision fixing the RoPE base,
        // say) must not reuse the copy made from the old one.
        let dir = tempfile::tempdir().unwrap();
        let (config, shard) = (
            dir.path().join("config.json"),
            dir.path().join("m.safetensors"),
        );
        std::fs::write(&shard, b"weights").unwrap();
        std::fs::write(&config, br#"{"rope_theta": 10000.0}"#).unwrap();
        let path = |hashes: &mut HashStore| {
            let info = SourceInfo::describe(&config, std::slice::from_ref(&shard), hashes).unwrap();
            quantized_path(Path::new("/c"), &info, Precision::Q4KM)
        };
        let mut hashes = HashStore::in_memory();
        let before = path(&mut hashes);
        assert_eq!(path(&mut hashes), before, "the same source, the same copy");
        assert_eq!(hashes.hashed.len(), 2, "each file read once");
        std::fs::write(&config, br#"{"rope_theta": 1000000.0}"#).unwrap();
        assert_ne!(path(&mut hashes), before);
    }

    #[test]
    fn a_disk_too_small_for_the_copy_is_refused_with_the_numbers() {
        // A 7B Q8_0's largest matrices: 32000 × 4096 twice and one 14336 × 4096.
        let targets: Vec<TensorPlan> = [(32000, 4096), (32000, 4096), (14336, 4096)]
            .into_iter()
            .map(|(rows, cols)| TensorPlan {
                name: "t".into(),
                shape: vec![rows, cols],
                dtype: GgmlDType::Q8_0,
            })
            .collect();
        let data: u64 = (2 * 32000 + 14336) * 4096 / 32 * 34;
        let needed = data + FREE_SPACE_MARGIN;
        let dir = Path::new("/cache/quantized");
        check_room(dir, &targets, needed).unwrap();
        let err = check_room(dir, &targets, needed - 1).unwrap_err();
        assert_eq!(err.code(), jslm_core::ErrorCode::DiskFull);
        let EngineError::DiskFull {
            needed_bytes,
            available_bytes,
            ..
        } = &err
        else {
            panic!("{err}")
        };
        assert_eq!((*needed_bytes, *available_bytes), (needed, needed - 1));
        assert!(err.to_string().contains("JSLM_CACHE_DIR"), "{err}");
    }
}
