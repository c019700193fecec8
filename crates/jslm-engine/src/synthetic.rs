//! Random-weight models of a given shape, written as GGUF: a 7B-shaped file runs at exactly
//! the speed of the real model, so benchmarks need no download.

use crate::error::Result;
use crate::gguf_writer::{write_gguf_atomically, TensorPlan};
use crate::quantize::{llama_metadata, planned_dtype, quantize_tensor, QuantizeProgress};
use candle_core::quantized::gguf_file;
use candle_core::{Device, Tensor};
use candle_transformers::models::mistral;
use jslm_core::Precision;
use rand::{Rng, SeedableRng};
use std::path::Path;

/// The real model's shape (Mistral-7B-v0.1, which Japanese StableLM Instruct Gamma 7B shares).
pub fn mistral_7b_config() -> mistral::Config {
    mistral::Config::config_7b_v0_1(false)
}

/// Writes a random model of `config`'s shape as a `q` GGUF at `out` (atomically).
/// Matrices are uniform with standard deviation 0.02, norms 1.0.
pub fn write_random_gguf(
    out: &Path,
    config: &mistral::Config,
    q: Precision,
    seed: u64,
    mut progress: impl FnMut(&QuantizeProgress),
) -> Result<()> {
    let head_dim = config
        .head_dim
        .unwrap_or(config.hidden_size / config.num_attention_heads);
    let (h, i, v) = (
        config.hidden_size,
        config.intermediate_size,
        config.vocab_size,
    );
    let q_rows = config.num_attention_heads * head_dim;
    let kv_rows = config.num_key_value_heads * head_dim;
    let mut shapes: Vec<(String, Vec<usize>)> = vec![("token_embd.weight".into(), vec![v, h])];
    for l in 0..config.num_hidden_layers {
        for (part, shape) in [
            ("attn_norm", vec![h]),
            ("attn_q", vec![q_rows, h]),
            ("attn_k", vec![kv_rows, h]),
            ("attn_v", vec![kv_rows, h]),
            ("attn_output", vec![h, q_rows]),
            ("ffn_norm", vec![h]),
            ("ffn_gate", vec![i, h]),
            ("ffn_up", vec![i, h]),
            ("ffn_down", vec![h, i]),
        ] {
            shapes.push((format!("blk.{l}.{part}.weight"), shape));
        }
    }
    shapes.push(("output_norm.weight".into(), vec![h]));
    shapes.push(("output.weight".into(), vec![v, h]));
    let bytes_total: u64 = shapes
        .iter()
        .map(|(_, s)| s.iter().product::<usize>() as u64 * 4)
        .sum();
    let plan = shapes
        .iter()
        .map(|(name, shape)| {
            Ok(TensorPlan {
                name: name.clone(),
                shape: shape.clone(),
                dtype: planned_dtype(name, shape, config, q)?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let mut metadata = llama_metadata(config, q, None);
    metadata.extend(placeholder_vocabulary(v));
    let mut bytes_done = 0;
    // One tensor at a time: drawn, quantized, written, dropped.
    write_gguf_atomically(out, &metadata, &plan, |n| {
        let (name, shape) = &shapes[n];
        let count: usize = shape.iter().product();
        let tensor = if shape.len() == 1 {
            Tensor::ones(shape.as_slice(), candle_core::DType::F32, &Device::Cpu)?
        } else {
            Tensor::from_vec(
                random_values(count, seed, n as u64),
                shape.as_slice(),
                &Device::Cpu,
            )?
        };
        let qt = quantize_tensor(name, tensor, config, q)?;
        bytes_done += count as u64 * 4;
        progress(&QuantizeProgress {
            tensor: name.clone(),
            tensors_done: n + 1,
            tensors_total: shapes.len(),
            bytes_done,
            bytes_total,
        });
        Ok(qt)
    })
}

/// Values drawn per chunk of 1 Mi from the ChaCha stream (`seed`, `tensor`, chunk), in
/// parallel: a 7B model is 7.2 billion draws, a minute of one core. The same arguments give
/// the same values on any number of threads.
fn random_values(count: usize, seed: u64, tensor: u64) -> Vec<f32> {
    use rayon::prelude::*;
    const CHUNK: usize = 1 << 20;
    let bound = 0.02f32 * 3f32.sqrt();
    let mut data = vec![0f32; count];
    data.par_chunks_mut(CHUNK)
        .enumerate()
        .for_each(|(chunk, values)| {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            rng.set_stream((tensor << 32) | chunk as u64);
            for v in values {
                *v = rng.random_range(-bound..bound);
            }
        });
    data
}

/// A llama-style (sentencepiece) vocabulary of `size` entries with Mistral's special and byte
/// tokens at their real ids and placeholder pieces elsewhere: enough for llama.cpp to load the
/// file, so that both engines of the benchmark read the same bytes. (Our engine always takes
/// its tokenizer from `tokenizer.json`.)
fn placeholder_vocabulary(size: usize) -> Vec<(&'static str, gguf_file::Value)> {
    use gguf_file::Value as V;
    let piece = |id: usize| match id {
        0 => "<unk>".to_string(),
        1 => "<s>".to_string(),
        2 => "</s>".to_string(),
        3..=258 => format!("<0x{:02X}>", id - 3),
        _ => format!("▁t{id}"),
    };
    // llama.cpp's token types: 1 normal, 2 unknown, 3 control, 6 byte.
    let kind = |id: usize| match id {
        0 => 2,
        1 | 2 => 3,
        3..=258 => 6,
        _ => 1,
    };
    vec![
        ("tokenizer.ggml.model", V::String("llama".into())),
        (
            "tokenizer.ggml.tokens",
            V::Array((0..size).map(|i| V::String(piece(i))).collect()),
        ),
        (
            "tokenizer.ggml.scores",
            V::Array((0..size).map(|i| V::F32(-(i as f32))).collect()),
        ),
        (
            "tokenizer.ggml.token_type",
            V::Array((0..size).map(|i| V::I32(kind(i))).collect()),
        ),
        ("tokenizer.ggml.bos_token_id", V::U32(1)),
        ("tokenizer.ggml.eos_token_id", V::U32(2)),
        ("tokenizer.ggml.unknown_token_id", V::U32(0)),
    ]
}
