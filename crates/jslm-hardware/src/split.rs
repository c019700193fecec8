//! `LayerSplit`: a quantized model's blocks shared between an NVIDIA GPU and the CPU, like
//! llama.cpp's `-ngl`, for a GPU too small for the whole model (a 4 GB laptop card, or a big
//! one mostly taken by another program). The GPU takes the last blocks, the output norm and
//! the output head; the CPU the embedding and the first blocks, from the memory-mapped file.
//! A decode step then costs the CPU's share of the weights plus a few GPU kernels, so each
//! block moved to the GPU takes its share off the CPU's time.
//!
//! The GPU half runs in candle's quantized kernels (`jslm_engine`'s `gguf_split`), so its
//! memory is counted as [`crate::estimate`] counts a GGUF on a GPU: the blocks' quantized
//! weights, an f32 KV cache per block, the unfused attention's scratch and the CUDA context;
//! no dequantized embedding (the embedding stays on the CPU).

use crate::device::DeviceKind;
use crate::estimate::{estimate_memory, CUDA_OVERHEAD_BYTES};
use crate::fit::{FitLevel, FitReport, MemoryPool};
use crate::model::ModelSpec;
use jslm_core::Precision;
use serde::{Deserialize, Serialize};

/// The smallest share of the blocks worth a split, as a fraction `1 / MIN_SHARE_DIVISOR`:
/// below a quarter, decode would gain under a third over the CPU alone, less than the GPU's
/// start-up, the transfers and the VRAM it takes from other programs are worth.
pub const MIN_SHARE_DIVISOR: u64 = 4;

/// How a model is split between a GPU and the CPU.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerSplit {
    /// Blocks on the GPU (the last ones, with the output head).
    pub gpu_layers: u32,
    /// All the model's blocks; the first `total_layers - gpu_layers` run on the CPU.
    pub total_layers: u32,
    /// The GPU half's estimate against the GPU's free VRAM.
    pub gpu_fit: FitReport,
}

impl std::fmt::Display for LayerSplit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} of {} blocks on the GPU, {} on the CPU; the GPU's part {}",
            self.gpu_layers,
            self.total_layers,
            self.total_layers.saturating_sub(self.gpu_layers),
            self.gpu_fit
        )
    }
}

/// VRAM the GPU half needs with `gpu_layers` blocks, in bytes.
pub fn gpu_part_bytes(
    model: &ModelSpec,
    precision: Precision,
    context_tokens: u32,
    prefill_chunk_tokens: u32,
    gpu_layers: u32,
) -> u64 {
    let shape = &model.shape;
    let layers = shape.num_hidden_layers.max(1);
    let matrix = shape.vocab_size.saturating_mul(shape.hidden_size);
    let embedding = model.embedding_bytes(precision);
    // llama.cpp's Q4_K_M keeps the output head in Q6_K.
    let head = match precision {
        Precision::Q4KM => Precision::Q6K.bytes_for(matrix),
        other => other.bytes_for(matrix),
    };
    let blocks = model
        .weight_bytes(precision)
        .saturating_sub(embedding)
        .saturating_sub(head);
    let per_block = blocks / layers;
    // candle keeps K and V in f32, `kv_heads × head_dim` wide, per block.
    let kv_per_block = shape
        .num_key_value_heads
        .saturating_mul(shape.head_dim)
        .saturating_mul(2 * 4)
        .saturating_mul(u64::from(context_tokens.max(1)));
    // Scratch is one block's at a time, whatever the number of blocks.
    let scratch = estimate_memory(
        model,
        DeviceKind::Cuda,
        precision,
        context_tokens,
        prefill_chunk_tokens,
    )
    .activation_bytes;
    u64::from(gpu_layers)
        .saturating_mul(per_block.saturating_add(kv_per_block))
        .saturating_add(head)
        .saturating_add(scratch)
        .saturating_add(CUDA_OVERHEAD_BYTES)
}

/// The split with the most blocks on the GPU whose half fits comfortably in `free_vram_bytes`
/// (VRAM does not swap: headroom first), if that is at least a quarter of the blocks and not
/// all of them (a model that fits whole is the GPU plan's).
pub fn plan_split(
    model: &ModelSpec,
    precision: Precision,
    context_tokens: u32,
    prefill_chunk_tokens: u32,
    free_vram_bytes: u64,
) -> Option<LayerSplit> {
    if !precision.is_quantized() {
        return None;
    }
    let total = u32::try_from(model.shape.num_hidden_layers).ok()?;
    let min = u32::try_from(u64::from(total).div_ceil(MIN_SHARE_DIVISOR))
        .ok()?
        .max(1);
    let fit = |n: u32| {
        let needed = gpu_part_bytes(model, precision, context_tokens, prefill_chunk_tokens, n);
        FitReport::new(needed, free_vram_bytes, MemoryPool::GpuVram)
    };
    // Needs grow with the blocks: the first that does not fit comfortably bounds the split.
    let gpu_layers = (min..total)
        .take_while(|&n| fit(n).level == FitLevel::Comfortable)
        .last()?;
    Some(LayerSplit {
        gpu_layers,
        total_layers: total,
        gpu_fit: fit(gpu_layers),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::tests::seven_b;
    use crate::units::{GB, MB};

    /// The 7B Q4_K_M at the full context, per block and for the head: the file's numbers.
    #[test]
    fn the_gpu_half_grows_by_a_block_and_its_cache() {
        let model = seven_b();
        let one = gpu_part_bytes(&model, Precision::Q4KM, 4096, 512, 1);
        let two = gpu_part_bytes(&model, Precision::Q4KM, 4096, 512, 2);
        let per_block = two - one;
        // ~121 MB of Q4_K/Q6_K weights and 32 MiB of f32 K and V at 4,096 positions.
        assert!(
            (140 * MB..=170 * MB).contains(&per_block),
            "{per_block} bytes per block"
        );
        // The CUDA context, the Q6_K head (~107 MB) and the attention's scratch come first.
        assert!(one > CUDA_OVERHEAD_BYTES + 100 * MB, "{one}");
        let all = gpu_part_bytes(&model, Precision::Q4KM, 4096, 512, 32);
        let whole = estimate_memory(&model, DeviceKind::Cuda, Precision::Q4KM, 4096, 512);
        // Without the dequantized embedding (it stays on the CPU), within 10 % of the whole
        // model's GPU estimate otherwise.
        let without_embedding = whole.total_bytes - whole.dequantized_embedding_bytes;
        assert!(
            all.abs_diff(without_embedding) * 10 <= without_embedding,
            "{all} against {without_embedding}"
        );
    }

    /// Simulated GPUs for the 7B Q4_K_M at 4,096 tokens: how many blocks each takes.
    #[test]
    fn blocks_by_free_vram() {
        let model = seven_b();
        let cases = [
            // (free VRAM, expected blocks on the GPU: None = no split)
            (2 * GB, None),
            // (0.8 · 3 GB − 1.65 GB of context, head and scratch) / 155 MB: 4 blocks, under a
            // quarter.
            (3 * GB, None),
            (4 * GB, Some(8..=12)),
            (5 * GB, Some(13..=17)),
            (6 * GB, Some(18..=22)),
            (8 * GB, Some(28..=31)),
            // Never all of them: a model that fits whole is the GPU plan's.
            (24 * GB, Some(31..=31)),
        ];
        for (free, want) in cases {
            let got = plan_split(&model, Precision::Q4KM, 4096, 512, free);
            match (&got, want.clone()) {
                (None, None) => {}
                (Some(split), Some(range)) => {
                    assert!(range.contains(&split.gpu_layers), "{free}: {split:?}");
                    assert_eq!(split.total_layers, 32);
                    assert_eq!(split.gpu_fit.level, FitLevel::Comfortable);
                    // One more block would not fit comfortably (or would be all of them).
                    let more = split.gpu_layers + 1;
                    let next = gpu_part_bytes(&model, Precision::Q4KM, 4096, 512, more);
                    assert!(
                        more == 32 || FitLevel::classify(next, free) != FitLevel::Comfortable,
                        "{free}: {split:?}"
                    );
                }
                _ => panic!("{free} bytes free: got {got:?}, expected {want:?}"),
            }
        }
    }

    #[test]
    fn floats_are_not_split() {
        assert_eq!(
            plan_split(&seven_b(), Precision::Bf16, 4096, 512, 10 * GB),
            None
        );
    }
}
