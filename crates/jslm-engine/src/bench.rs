//! Speed measurement of the network alone: load time, prompt processing and decoding rates,
//! time to first token and peak memory, for any model file the engine loads.

use crate::error::Result;
use crate::files::{ModelFiles, WeightsFormat};
use crate::model::{load_gguf, load_safetensors};
use crate::sampling::argmax;
use candle_core::{DType, Device};
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Debug, Clone)]
pub struct BenchOptions {
    pub prompt_tokens: usize,
    pub decode_tokens: usize,
    pub device: Device,
    /// Element type for safetensors folders.
    pub dtype: DType,
    /// Prompt chunk per forward pass (as in generation).
    pub prefill_chunk_tokens: usize,
    /// Which CPU implementation runs a GGUF.
    pub gguf_runner: crate::engine::GgufRunner,
}

/// One benchmark run. Rates in tokens/s, times in ms, memory in bytes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BenchReport {
    pub model: PathBuf,
    pub format: String,
    pub precision: String,
    /// "mapped" (ours), "candle" (candle's quantized llama) or "candle-safetensors".
    #[serde(default)]
    pub runner: String,
    pub file_bytes: u64,
    pub threads: usize,
    /// Reading the weights.
    pub load_ms: f64,
    /// The first forward pass after loading (a 1-token prefill plus one step): candle repacks
    /// quantized weights for its kernels on first use, a one-time cost per load.
    pub warmup_ms: f64,
    pub prompt_tokens: usize,
    pub decode_tokens: usize,
    pub prompt_tokens_per_s: f64,
    pub decode_tokens_per_s: f64,
    /// Prefill of the prompt plus choosing the first token.
    pub ttft_ms: f64,
    /// Peak resident memory of this process (Linux `VmHWM`; 0 where unknown).
    pub peak_rss_bytes: u64,
}

/// Loads `path` (GGUF file or safetensors folder) and times a prefill of `prompt_tokens`
/// random ids followed by `decode_tokens` single-token steps.
pub fn run_bench(path: &Path, options: &BenchOptions) -> Result<BenchReport> {
    let weights = ModelFiles::locate_weights(path)?;
    let t0 = Instant::now();
    let (mut loaded, file_bytes) = match &weights {
        WeightsFormat::Gguf { file } => (
            load_gguf(file, &options.device, options.gguf_runner)?,
            file_len(file),
        ),
        WeightsFormat::Safetensors { config, shards } => (
            load_safetensors(config, shards, options.dtype, &options.device)?,
            shards.iter().map(|s| file_len(s)).sum(),
        ),
    };
    let load_ms = t0.elapsed().as_secs_f64() * 1e3;
    // Random prompt ids are drawn from 3..vocab (above the special tokens), and one token is
    // reused for the warm-up: both need something to draw from.
    let vocab = u32::try_from(loaded.info.vocab_size)
        .ok()
        .filter(|&v| v > 3)
        .ok_or_else(|| crate::error::EngineError::UnsupportedModel {
            path: path.to_path_buf(),
            reason: format!(
                "a vocabulary of {} tokens is too small to benchmark",
                loaded.info.vocab_size
            ),
        })?;
    if options.prompt_tokens == 0 {
        return Err(crate::error::EngineError::invalid(
            "prompt_tokens",
            "must be at least 1",
        ));
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let prompt: Vec<u32> = (0..options.prompt_tokens)
        .map(|_| rng.random_range(3..vocab))
        .collect();
    let network = &mut loaded.network;
    // Warm-up with a prompt of the same length, so every one-time repack (some kernels pack
    // only for multi-token inputs) happens before the timed runs.
    let tw = Instant::now();
    network.clear_kv_cache();
    network.prefill(&prompt, options.prefill_chunk_tokens, &loaded.device)?;
    network.forward(&prompt[..1], prompt.len(), &loaded.device)?;
    let warmup_ms = tw.elapsed().as_secs_f64() * 1e3;
    network.clear_kv_cache();
    let t1 = Instant::now();
    let logits = network.prefill(&prompt, options.prefill_chunk_tokens, &loaded.device)?;
    let prefill = t1.elapsed().as_secs_f64();
    let mut next = argmax(&logits);
    let ttft_ms = t1.elapsed().as_secs_f64() * 1e3;
    let t2 = Instant::now();
    for step in 0..options.decode_tokens {
        let logits = network.forward(&[next], prompt.len() + step, &loaded.device)?;
        // The argmax of random weights may repeat one id; any valid id times the same.
        next = argmax(&logits).min(vocab - 1);
    }
    let decode = t2.elapsed().as_secs_f64();
    Ok(BenchReport {
        model: path.to_path_buf(),
        format: loaded.info.format.to_string(),
        precision: loaded.info.precision.clone(),
        runner: runner_name(&loaded.network).into(),
        file_bytes,
        threads: rayon::current_num_threads(),
        load_ms,
        warmup_ms,
        prompt_tokens: options.prompt_tokens,
        decode_tokens: options.decode_tokens,
        prompt_tokens_per_s: options.prompt_tokens as f64 / prefill,
        decode_tokens_per_s: if decode > 0.0 {
            options.decode_tokens as f64 / decode
        } else {
            0.0
        },
        ttft_ms,
        peak_rss_bytes: peak_rss_bytes(),
    })
}

fn runner_name(network: &crate::model::Network) -> &'static str {
    match network {
        crate::model::Network::GgufCpu(_) => "mapped",
        crate::model::Network::Gguf(_) => "candle",
        crate::model::Network::Mistral(_) => "candle-safetensors",
    }
}

fn file_len(p: &Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

/// Peak resident set size of this process (Linux); 0 elsewhere.
pub fn peak_rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}
