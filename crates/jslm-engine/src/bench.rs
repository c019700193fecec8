//! Speed measurement of the network alone: load time, prompt processing and decoding rates,
//! time to first token and peak memory, for any model file the engine loads.

use crate::description::ModelDescription;
use crate::engine::{LoadOptions, Runner};
use crate::error::Result;
use crate::sampling::argmax;
use jslm_core::{Container, Precision};
use jslm_hardware::ComputeDevice;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Instant;

/// One benchmark run. Rates in tokens/s, times in ms, memory in bytes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BenchReport {
    pub model: PathBuf,
    pub container: Container,
    /// What ran.
    pub precision: Precision,
    pub device: ComputeDevice,
    /// A split network's blocks on the GPU (`runner` "split"); the others ran on the CPU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_layers: Option<usize>,
    /// "mapped" (ours), "candle" (candle's quantized llama), "split" (ours on the CPU, candle's
    /// on the GPU: `gguf_split`) or "safetensors" (`mistral_model`).
    #[serde(default)]
    pub runner: String,
    /// The mapped runner's kernels ("avx512", "avx2", "generic"); empty for candle's runners.
    #[serde(default)]
    pub isa: String,
    pub file_bytes: u64,
    pub threads: usize,
    /// Reading the weights.
    pub load_ms: f64,
    /// The first forward pass after loading (a prefill of the same length plus one step):
    /// candle repacks quantized weights for its kernels on first use, a one-time cost per load.
    pub warmup_ms: f64,
    pub prompt_tokens: usize,
    /// Most prompt tokens per forward pass (`LoadOptions::prefill_chunk_tokens`): a longer
    /// prompt runs in passes of this many, as in a generation.
    #[serde(default)]
    pub prefill_chunk_tokens: usize,
    pub decode_tokens: usize,
    pub prompt_tokens_per_s: f64,
    pub decode_tokens_per_s: f64,
    /// Prefill of the prompt plus choosing the first token.
    pub ttft_ms: f64,
    /// Peak resident memory of this process (Linux `VmHWM`; 0 where unknown).
    pub peak_rss_bytes: u64,
    /// The mapped runner's weights on 2 MiB pages, in bytes (Linux; 0 elsewhere and for
    /// candle's runners): decode streams faster from them.
    #[serde(default)]
    pub huge_page_bytes: u64,
    /// Bytes of weights a decode step reads (the mapped runner; 0 for candle's runners).
    #[serde(default)]
    pub decode_bytes_per_token: u64,
    /// How fast this machine streamed those bytes from memory with the benchmark's threads,
    /// in bytes per second (0 where not measured).
    #[serde(default)]
    pub weights_read_bytes_per_s: f64,
    /// Decode's bound from memory: `weights_read_bytes_per_s / decode_bytes_per_token`.
    #[serde(default)]
    pub decode_roofline_tokens_per_s: f64,
}

/// Loads the described model with `options` (device, precision, threads and runner as for a
/// generation; no tokenizer is needed) and times a prefill of `prompt_tokens` random ids
/// followed by `decode_tokens` single-token steps.
pub fn run_bench(
    description: &ModelDescription,
    options: &LoadOptions,
    prompt_tokens: usize,
    decode_tokens: usize,
) -> Result<BenchReport> {
    let t0 = Instant::now();
    let engine = Runner::load(description, options, |_| {})?;
    let load_ms = t0.elapsed().as_secs_f64() * 1e3;
    let info = engine.info.clone();
    // Random prompt ids are drawn from 3..vocab (above the special tokens), and one token is
    // reused for the warm-up: both need something to draw from.
    let vocab = u32::try_from(info.vocab_size)
        .ok()
        .filter(|&v| v > 3)
        .ok_or_else(|| crate::error::EngineError::UnsupportedModel {
            path: description.path.clone(),
            reason: format!(
                "a vocabulary of {} tokens is too small to benchmark",
                info.vocab_size
            ),
        })?;
    if prompt_tokens == 0 {
        return Err(crate::error::EngineError::invalid(
            "prompt_tokens",
            "must be at least 1",
        ));
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let prompt: Vec<u32> = (0..prompt_tokens)
        .map(|_| rng.random_range(3..vocab))
        .collect();
    let mut network = engine.take_network()?;
    // Warm-up with a prompt of the same length, so every one-time repack (some kernels pack
    // only for multi-token inputs) happens before the timed runs.
    let tw = Instant::now();
    engine.prefill(&mut network, &prompt)?;
    engine.forward(&mut network, &prompt[..1], prompt.len())?;
    let warmup_ms = tw.elapsed().as_secs_f64() * 1e3;
    let t1 = Instant::now();
    let logits = engine.prefill(&mut network, &prompt)?;
    let prefill = t1.elapsed().as_secs_f64();
    let mut next = argmax(&logits);
    let ttft_ms = t1.elapsed().as_secs_f64() * 1e3;
    let t2 = Instant::now();
    for step in 0..decode_tokens {
        let logits = engine.forward(&mut network, &[next], prompt.len() + step)?;
        // The argmax of random weights may repeat one id; any valid id times the same.
        next = argmax(&logits).min(vocab.saturating_sub(1));
    }
    let decode = t2.elapsed().as_secs_f64();
    let stream = match &*network {
        crate::model::Network::GgufCpu(model) => Some(engine.in_pool(|| model.weights_stream())),
        _ => None,
    };
    Ok(BenchReport {
        model: info.path.clone(),
        container: info.container,
        precision: info.precision,
        device: info.device,
        gpu_layers: info.gpu_layers,
        runner: runner_name(&network).into(),
        isa: match &*network {
            crate::model::Network::GgufCpu(_) | crate::model::Network::GgufSplit(_) => {
                crate::isa::Isa::resolve(options.isa)?.to_string()
            }
            _ => String::new(),
        },
        file_bytes: description.size_bytes,
        threads: info.threads,
        load_ms,
        warmup_ms,
        prompt_tokens: prompt.len(),
        prefill_chunk_tokens: options.prefill_chunk_tokens.max(1),
        decode_tokens,
        prompt_tokens_per_s: prompt.len() as f64 / prefill,
        decode_tokens_per_s: if decode > 0.0 {
            decode_tokens as f64 / decode
        } else {
            0.0
        },
        ttft_ms,
        peak_rss_bytes: peak_rss_bytes(),
        huge_page_bytes: match &*network {
            crate::model::Network::GgufCpu(model) => model.huge_page_bytes(),
            _ => 0,
        },
        decode_bytes_per_token: stream.map_or(0, |s| s.bytes_per_token),
        weights_read_bytes_per_s: stream.map_or(0.0, |s| s.bytes_per_s),
        decode_roofline_tokens_per_s: stream
            .map_or(0.0, |s| s.bytes_per_s / s.bytes_per_token.max(1) as f64),
    })
}

fn runner_name(network: &crate::model::Network) -> &'static str {
    match network {
        crate::model::Network::GgufCpu(_) => "mapped",
        crate::model::Network::Gguf(_) => "candle",
        crate::model::Network::GgufSplit(_) => "split",
        crate::model::Network::Mistral(_) => "safetensors",
    }
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
