//! Random-weight models of a given shape, written as GGUF: a 7B-shaped file runs at exactly
//! the speed of the real model, so benchmarks need no download.

use crate::error::Result;
use crate::quantize::{
    llama_metadata, quantize_tensor, write_atomically, Quantization, QuantizeProgress,
};
use candle_core::{Device, Tensor};
use candle_transformers::models::mistral;
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
    q: Quantization,
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
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let bound = 0.02f32 * 3f32.sqrt();
    let mut outputs = Vec::with_capacity(shapes.len());
    let mut bytes_done = 0;
    for (n, (name, shape)) in shapes.iter().enumerate() {
        let count: usize = shape.iter().product();
        let tensor = if shape.len() == 1 {
            Tensor::ones(shape.as_slice(), candle_core::DType::F32, &Device::Cpu)?
        } else {
            let data: Vec<f32> = (0..count)
                .map(|_| rng.random_range(-bound..bound))
                .collect();
            Tensor::from_vec(data, shape.as_slice(), &Device::Cpu)?
        };
        outputs.push((name.clone(), quantize_tensor(name, tensor, config, q)?));
        bytes_done += count as u64 * 4;
        progress(&QuantizeProgress {
            tensor: name.clone(),
            tensors_done: n + 1,
            tensors_total: shapes.len(),
            bytes_done,
            bytes_total,
        });
    }
    let metadata = llama_metadata(config, q, None);
    write_atomically(out, &metadata, &outputs)
}
