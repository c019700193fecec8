//! The memory estimate: weights + KV cache + activations + overhead, in bytes, for one device
//! and precision. Pure integer arithmetic, so the result is never NaN or negative.
//!
//! Sources for each term:
//! - A GGUF on the CPU runs in `jslm_engine`'s `gguf_cpu`: the whole file is memory-mapped
//!   and read in place (resident as it is touched, i.e. all of it after the first token), the
//!   KV cache is f16 (its default `KvCacheType`, as llama.cpp's) and `num_key_value_heads`
//!   wide, and attention is computed per head in blocks per worker thread, so its scratch is
//!   the MLP's and the hidden states'.
//! - Everything else is candle 0.11.1 (`candle-transformers/src/models`): `quantized_llama.rs`
//!   (GGUF on GPUs) reads tensors into owned buffers and dequantizes `token_embd.weight` to
//!   f32, dropping the quantized embedding when the file has its own `output.weight`
//!   (Mistral's does); `mistral.rs` (safetensors) keeps K and V per layer before `repeat_kv`.
//!   Their attention is unfused: `q·kᵀ` materialises `heads × chunk × kv_len` scores, and the
//!   mask/softmax step makes a second tensor of that size before the first is dropped;
//!   `repeat_kv` copies K and V to all heads.

use crate::device::DeviceKind;
use crate::model::ModelSpec;
use crate::units::MB;
use jslm_core::Precision;
use serde::{Deserialize, Serialize};

/// Process overhead on CPU, in bytes: runtime, tokenizer (32k vocab), thread stacks and
/// allocator slack. Initial value, to be calibrated against `jslm bench` peak RSS.
pub const CPU_OVERHEAD_BYTES: u64 = 300 * MB;
/// VRAM a CUDA context, cuBLAS handles/workspace and loaded candle kernels take, in bytes.
/// Typical for CUDA 12 with lazy module loading; to be calibrated on a GPU machine.
pub const CUDA_OVERHEAD_BYTES: u64 = 600 * MB;
/// Working-set bytes Metal's kernel library, command buffers and buffer pools take.
pub const METAL_OVERHEAD_BYTES: u64 = 300 * MB;

/// Estimated peak memory of a loaded model during generation, in bytes, by component.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryEstimate {
    /// Weights as held on the device.
    pub weights_bytes: u64,
    /// GGUF on a GPU: the f32 copy of the token embedding candle makes at load.
    pub dequantized_embedding_bytes: u64,
    /// K and V for every layer at the planned context.
    pub kv_cache_bytes: u64,
    /// Peak scratch of one forward pass over a prefill chunk at full context.
    pub activation_bytes: u64,
    /// Runtime, context and allocator overhead of the device.
    pub overhead_bytes: u64,
    /// Sum of the above.
    pub total_bytes: u64,
}

/// KV-cache bytes per token: layers × KV heads × head_dim × 2 (K and V) × bytes per element
/// of `precision`'s compute type. Mistral 7B: 128 KiB in f16/bf16, 256 KiB in f32 (candle's
/// quantized runner on a GPU). The mapped CPU runner keeps f16 whatever the weights.
pub fn kv_cache_bytes_per_token(model: &ModelSpec, precision: Precision) -> u64 {
    let shape = &model.shape;
    shape
        .num_hidden_layers
        .saturating_mul(shape.num_key_value_heads)
        .saturating_mul(shape.head_dim)
        .saturating_mul(2)
        .saturating_mul(activation_bytes(precision))
}

/// Bytes per element of activations and KV cache. candle's `quantized_llama` and the
/// mapped CPU runner compute in f32, so quantized and f32 plans keep an f32 KV cache.
pub fn activation_bytes(precision: Precision) -> u64 {
    match precision {
        Precision::Bf16 | Precision::F16 => 2,
        _ => 4,
    }
}

/// Estimates peak memory for `model` on `device` at `precision`, holding `context_tokens` of
/// KV cache and feeding prompts `prefill_chunk_tokens` at a time.
pub fn estimate_memory(
    model: &ModelSpec,
    device: DeviceKind,
    precision: Precision,
    context_tokens: u32,
    prefill_chunk_tokens: u32,
) -> MemoryEstimate {
    let shape = &model.shape;
    let context = u64::from(context_tokens.max(1));
    let chunk = u64::from(prefill_chunk_tokens.max(1)).min(context);
    let act = activation_bytes(precision);

    let file_bytes = model.weight_bytes(precision);
    // The memory-mapped CPU runner holds exactly the file; candle drops the quantized
    // embedding but keeps an f32 copy of it.
    let mapped = device == DeviceKind::Cpu && precision.is_quantized();
    let weights_bytes = if mapped {
        file_bytes
    } else {
        file_bytes.saturating_sub(model.embedding_bytes(precision))
    };
    let dequantized_embedding_bytes = if precision.is_quantized() && !mapped {
        shape
            .vocab_size
            .saturating_mul(shape.hidden_size)
            .saturating_mul(4)
    } else {
        0
    };
    // The mapped runner keeps K and V in f16 whatever the weights; candle in its compute type.
    let kv_cache_bytes = if mapped {
        kv_cache_bytes_per_token(model, Precision::F16)
    } else {
        kv_cache_bytes_per_token(model, precision)
    }
    .saturating_mul(context);

    // gate, up, activated gate and their product (candle); gate and up (mapped).
    let mlp = chunk
        .saturating_mul(shape.intermediate_size)
        .saturating_mul(act)
        .saturating_mul(if mapped { 2 } else { 4 });
    // Residual stream, normed input, q and attention output (+ projection output, mapped).
    let hidden_states = chunk
        .saturating_mul(shape.hidden_size)
        .saturating_mul(act)
        .saturating_mul(if mapped { 5 } else { 4 });
    let logits = shape.vocab_size.saturating_mul(4);
    let activation_bytes = if mapped {
        // Attention needs one score row per worker thread: kilobytes, below the rounding.
        mlp.saturating_add(hidden_states).saturating_add(logits)
    } else {
        let heads = shape.num_attention_heads;
        // Two score tensors alive at once (scores, then masked/softmaxed copy).
        let scores = heads
            .saturating_mul(chunk)
            .saturating_mul(context)
            .saturating_mul(act)
            .saturating_mul(2);
        // repeat_kv copies of K and V across all heads at full context.
        let repeated_kv = heads
            .saturating_mul(context)
            .saturating_mul(shape.head_dim)
            .saturating_mul(act)
            .saturating_mul(2);
        let mask = chunk.saturating_mul(context).saturating_mul(act);
        let attention = scores.saturating_add(repeated_kv).saturating_add(mask);
        // On GPUs candle dequantizes a GGUF matrix to f32 for multi-token matmuls; the largest
        // is the MLP projection.
        let dequant_scratch = if precision.is_quantized() && device != DeviceKind::Cpu {
            shape
                .intermediate_size
                .saturating_mul(shape.hidden_size)
                .saturating_mul(4)
        } else {
            0
        };
        attention
            .max(mlp)
            .saturating_add(hidden_states)
            .saturating_add(logits)
            .saturating_add(dequant_scratch)
    };

    let overhead_bytes = match device {
        DeviceKind::Cpu => CPU_OVERHEAD_BYTES,
        DeviceKind::Cuda => CUDA_OVERHEAD_BYTES,
        DeviceKind::Metal => METAL_OVERHEAD_BYTES,
    };
    let total_bytes = weights_bytes
        .saturating_add(dequantized_embedding_bytes)
        .saturating_add(kv_cache_bytes)
        .saturating_add(activation_bytes)
        .saturating_add(overhead_bytes);
    MemoryEstimate {
        weights_bytes,
        dequantized_embedding_bytes,
        kv_cache_bytes,
        activation_bytes,
        overhead_bytes,
        total_bytes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::tests::seven_b;
    use crate::units::{GB, KIB};
    use jslm_core::ModelShape;

    #[test]
    fn kv_cache_per_token_matches_the_issue() {
        let cases = [
            (Precision::Bf16, 128 * KIB),
            (Precision::F16, 128 * KIB),
            (Precision::Q4KM, 256 * KIB),
            (Precision::Q8_0, 256 * KIB),
            (Precision::F32, 256 * KIB),
        ];
        for (precision, want) in cases {
            assert_eq!(
                kv_cache_bytes_per_token(&seven_b(), precision),
                want,
                "{precision}"
            );
        }
    }

    /// Totals for the 7B at 4096 tokens, 512-token chunks, in decimal GB (rounded to 0.1).
    #[test]
    fn seven_b_totals_table() {
        let cases = [
            // device, precision, total GB
            (DeviceKind::Cpu, Precision::Q4KM, 5.3),
            (DeviceKind::Cpu, Precision::Q8_0, 8.6),
            (DeviceKind::Cpu, Precision::Bf16, 15.7),
            (DeviceKind::Cpu, Precision::F32, 31.0),
            (DeviceKind::Cuda, Precision::Bf16, 16.0),
            (DeviceKind::Cuda, Precision::Q4KM, 7.4),
            (DeviceKind::Metal, Precision::F16, 15.7),
            (DeviceKind::Metal, Precision::Q4KM, 7.1),
        ];
        for (device, precision, total_gb) in cases {
            let e = estimate_memory(&seven_b(), device, precision, 4096, 512);
            let got = (e.total_bytes as f64 / GB as f64 * 10.0).round() / 10.0;
            assert_eq!(got, total_gb, "{device} {precision}: {e:?}");
            assert_eq!(
                e.total_bytes,
                e.weights_bytes
                    + e.dequantized_embedding_bytes
                    + e.kv_cache_bytes
                    + e.activation_bytes
                    + e.overhead_bytes
            );
        }
    }

    #[test]
    fn components_of_the_cpu_q4_k_m_estimate() {
        let e = estimate_memory(&seven_b(), DeviceKind::Cpu, Precision::Q4KM, 4096, 512);
        // The whole file, memory-mapped; no dequantized copy of anything.
        assert_eq!(e.weights_bytes, 4_370_000_000);
        assert_eq!(e.dequantized_embedding_bytes, 0);
        // f16 K and V: 128 KiB per token.
        assert_eq!(e.kv_cache_bytes, 4096 * 128 * KIB);
        // A 512-token chunk: gate and up (2 × 512 × 14336 × 4 B), five hidden-sized rows
        // per token and the logits.
        assert_eq!(
            e.activation_bytes,
            2 * 512 * 14336 * 4 + 5 * 512 * 4096 * 4 + 32000 * 4
        );
    }

    /// Peak RSS measured with `jslm bench --threads 2 --json` on random-weight 7B GGUFs
    /// (`bench/compare_llama_cpp.sh`). The bench prefills its whole prompt in one forward
    /// pass, so the chunk is the prompt length.
    #[test]
    fn estimate_matches_measured_peak_rss() {
        // (precision, prompt tokens, decoded tokens, measured peak RSS bytes)
        let cases = [
            (Precision::Q4KM, 128u32, 64u32, 4_443_926_528u64),
            (Precision::Q8_0, 128, 64, 7_771_029_504),
        ];
        for (precision, prompt, decoded, measured) in cases {
            let e = estimate_memory(
                &seven_b(),
                DeviceKind::Cpu,
                precision,
                prompt + decoded,
                prompt,
            );
            // An upper bound (the 300 MB overhead covers the app's runtime and tokenizer, which
            // the bench does not load), and not a loose one.
            let over = e.total_bytes as f64 / measured as f64 - 1.0;
            assert!(
                (0.0..0.08).contains(&over),
                "{precision} prompt {prompt}: {e:?} vs {measured}: {over:+.3}"
            );
        }
    }

    #[test]
    fn chunking_bounds_activations() {
        let est =
            |device, precision, chunk| estimate_memory(&seven_b(), device, precision, 4096, chunk);
        // candle's unchunked 4096-token prompt needs > 4 GB of f32 attention scores; the
        // mapped runner's scratch still grows with the chunk (MLP rows), chunking bounds it.
        assert!(est(DeviceKind::Cpu, Precision::F32, 4096).activation_bytes > 4 * GB);
        assert!(est(DeviceKind::Cpu, Precision::Q4KM, 4096).activation_bytes > GB / 2);
        assert!(est(DeviceKind::Cpu, Precision::Q4KM, 512).activation_bytes < GB / 4);
    }

    #[test]
    fn degenerate_inputs_are_finite_and_ordered() {
        let zero_shape = ModelShape {
            hidden_size: 0,
            intermediate_size: 0,
            num_hidden_layers: 0,
            num_attention_heads: 0,
            num_key_value_heads: 0,
            head_dim: 0,
            vocab_size: 0,
        };
        let huge_shape = ModelShape {
            hidden_size: u64::MAX,
            intermediate_size: u64::MAX,
            num_hidden_layers: u64::MAX,
            num_attention_heads: u64::MAX,
            num_key_value_heads: u64::MAX,
            head_dim: u64::MAX,
            vocab_size: u64::MAX,
        };
        for shape in [zero_shape, huge_shape] {
            let model = ModelSpec::new("x", shape, 0, vec![]);
            for precision in [Precision::Bf16, Precision::Q4KM, Precision::F32] {
                for (context, chunk) in [(0, 0), (1, u32::MAX), (u32::MAX, u32::MAX)] {
                    let e = estimate_memory(&model, DeviceKind::Cpu, precision, context, chunk);
                    assert!(e.total_bytes >= e.weights_bytes);
                    assert!(e.total_bytes >= e.overhead_bytes);
                }
            }
        }
    }
}
