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
use crate::estimate::{estimate_memory, MemoryEstimate, CUDA_OVERHEAD_BYTES};
use crate::fit::{FitLevel, FitReport, MemoryPool};
use crate::model::ModelSpec;
use jslm_core::Precision;
use serde::{Deserialize, Serialize};

/// The smallest share of the blocks worth a split, as a fraction `1 / MIN_SHARE_DIVISOR`:
/// below a quarter, decode would gain under a third over the CPU alone, less than the GPU's
/// start-up, the transfers and the VRAM it takes from other programs are worth.
pub const MIN_SHARE_DIVISOR: u64 = 4;

/// Shorter prompt passes a split may use than the plan's setting: the GPU's attention scratch
/// grows with the pass (`heads × pass × context` scores, twice), and on a small card that is
/// worth blocks (for the 7B at 4,096 positions, 512 → 128 tokens frees ~0.4 GB: about three
/// blocks). The CPU's tiles run 128-token passes at the rate of 512-token ones
/// (BENCHMARKS.md); the weights are read once more per extra pass.
pub const SPLIT_PREFILL_CHUNKS: [u32; 2] = [256, 128];

/// How a model is split between a GPU and the CPU.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerSplit {
    /// Blocks on the GPU (the last ones, with the output head).
    pub gpu_layers: u32,
    /// All the model's blocks; the first `total_layers - gpu_layers` run on the CPU.
    pub total_layers: u32,
    /// The GPU half's estimate against the GPU's free VRAM.
    pub gpu_fit: FitReport,
    /// Prompt tokens per pass, which the GPU half's scratch is counted for: the plan's
    /// setting, or shorter where that puts more blocks on the GPU ([`SPLIT_PREFILL_CHUNKS`]).
    pub prefill_chunk_tokens: u32,
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

/// Bytes of one transformer block's weights and of the output head at `precision`, from the
/// file's size: the blocks share what the embedding and the head leave.
fn block_and_head_bytes(model: &ModelSpec, precision: Precision) -> (u64, u64) {
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
    (blocks / layers, head)
}

/// Peak RAM of a split's CPU half with `gpu_layers` blocks on the GPU: the mapped runner's
/// estimate for the whole model less what the GPU takes off it — its blocks' and the head's
/// weights (the runner maps in only the embedding and its own blocks: `jslm_engine`'s
/// `gguf_cpu::weights_map`) and their share of the f16 KV cache (the runner's cache holds
/// its own blocks). The GPU half reads its tensors from the file through the page cache,
/// which the kernel may drop, and the CUDA driver's own host memory is within the CPU
/// overhead's margin.
pub fn cpu_part_memory(
    model: &ModelSpec,
    precision: Precision,
    context_tokens: u32,
    prefill_chunk_tokens: u32,
    gpu_layers: u32,
) -> MemoryEstimate {
    let whole = estimate_memory(
        model,
        DeviceKind::Cpu,
        precision,
        context_tokens,
        prefill_chunk_tokens,
    );
    let layers = model.shape.num_hidden_layers.max(1);
    let on_gpu = u64::from(gpu_layers).min(layers);
    let (per_block, head) = block_and_head_bytes(model, precision);
    let weights_bytes = whole
        .weights_bytes
        .saturating_sub(on_gpu.saturating_mul(per_block))
        .saturating_sub(head);
    let kv_cache_bytes = whole.kv_cache_bytes / layers * (layers - on_gpu);
    MemoryEstimate {
        weights_bytes,
        kv_cache_bytes,
        total_bytes: weights_bytes
            .saturating_add(whole.dequantized_embedding_bytes)
            .saturating_add(kv_cache_bytes)
            .saturating_add(whole.activation_bytes)
            .saturating_add(whole.overhead_bytes),
        ..whole
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
    let (per_block, head) = block_and_head_bytes(model, precision);
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

/// The GPU half's fit with `gpu_layers` blocks at the longest prompt pass (the plan's
/// `prefill_chunk_tokens`, else [`SPLIT_PREFILL_CHUNKS`]) where it fits comfortably, else
/// tightly, else the plan's pass's numbers; and that pass.
pub fn split_fit(
    model: &ModelSpec,
    precision: Precision,
    context_tokens: u32,
    prefill_chunk_tokens: u32,
    free_vram_bytes: u64,
    gpu_layers: u32,
) -> (FitReport, u32) {
    let chunk = prefill_chunk_tokens.max(1);
    let fits: Vec<(FitReport, u32)> = std::iter::once(chunk)
        .chain(SPLIT_PREFILL_CHUNKS.into_iter().filter(|&c| c < chunk))
        .map(|c| {
            let needed = gpu_part_bytes(model, precision, context_tokens, c, gpu_layers);
            (
                FitReport::new(needed, free_vram_bytes, MemoryPool::GpuVram),
                c,
            )
        })
        .collect();
    let first_at = |level| fits.iter().find(|(fit, _)| fit.level == level);
    first_at(FitLevel::Comfortable)
        .or_else(|| first_at(FitLevel::Tight))
        .unwrap_or(&fits[0])
        .clone()
}

/// The split with the most blocks on the GPU whose half fits comfortably in `free_vram_bytes`
/// (VRAM does not swap: headroom first), at the longest prompt pass that allows it, if that
/// is at least a quarter of the blocks and not all of them (a model that fits whole is the
/// GPU plan's).
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
    (min..total).rev().find_map(|gpu_layers| {
        let (gpu_fit, chunk) = split_fit(
            model,
            precision,
            context_tokens,
            prefill_chunk_tokens,
            free_vram_bytes,
            gpu_layers,
        );
        (gpu_fit.level == FitLevel::Comfortable).then_some(LayerSplit {
            gpu_layers,
            total_layers: total,
            gpu_fit,
            prefill_chunk_tokens: chunk,
        })
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
            // (0.8 · 3 GB − 1.22 GB of CUDA context, head and 128-token scratch) / 155 MB: 7
            // blocks, under a quarter.
            (3 * GB, None),
            (4 * GB, Some(11..=13)),
            (5 * GB, Some(16..=18)),
            (6 * GB, Some(21..=24)),
            (8 * GB, Some(30..=31)),
            // Never all of them: a model that fits whole is the GPU plan's; the plan's pass.
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
                    // One more block would not fit comfortably at any pass (or would be all).
                    let more = split.gpu_layers + 1;
                    let next = split_fit(&model, Precision::Q4KM, 4096, 512, free, more).0;
                    assert!(
                        more == 32 || next.level != FitLevel::Comfortable,
                        "{free}: {split:?}"
                    );
                    // The longest pass that allows these blocks.
                    let at = |chunk| {
                        gpu_part_bytes(&model, Precision::Q4KM, 4096, chunk, split.gpu_layers)
                    };
                    assert_eq!(
                        FitLevel::classify(at(split.prefill_chunk_tokens), free),
                        FitLevel::Comfortable
                    );
                    if split.prefill_chunk_tokens < 512 {
                        let longer = split.prefill_chunk_tokens * 2;
                        assert_ne!(
                            FitLevel::classify(at(longer), free),
                            FitLevel::Comfortable,
                            "{free}: {split:?}"
                        );
                    }
                }
                _ => panic!("{free} bytes free: got {got:?}, expected {want:?}"),
            }
        }
    }

    /// The CPU half holds the file less the GPU's blocks and the head, and the KV cache of
    /// its own blocks; with no block on the GPU it is the CPU plan's estimate less the head.
    #[test]
    fn the_cpu_half_leaves_the_gpus_blocks_out_of_ram() {
        let model = seven_b();
        let whole = estimate_memory(&model, DeviceKind::Cpu, Precision::Q4KM, 4096, 512);
        let none = cpu_part_memory(&model, Precision::Q4KM, 4096, 512, 0);
        let head = Precision::Q6K.bytes_for(32000 * 4096);
        assert_eq!(none.weights_bytes, whole.weights_bytes - head);
        assert_eq!(none.kv_cache_bytes, whole.kv_cache_bytes);
        // 21 of 32 blocks on a 6 GB card: 11 blocks (~121 MB each) and the embedding in RAM.
        let split = cpu_part_memory(&model, Precision::Q4KM, 4096, 512, 21);
        assert!(
            (1_300 * MB..=1_600 * MB).contains(&split.weights_bytes),
            "{}",
            split.weights_bytes
        );
        assert_eq!(split.kv_cache_bytes, whole.kv_cache_bytes / 32 * 11);
        assert_eq!(
            split.total_bytes,
            split.weights_bytes
                + split.kv_cache_bytes
                + split.activation_bytes
                + split.overhead_bytes
        );
        assert!(split.total_bytes < whole.total_bytes / 2, "{split:?}");
        // Never below the embedding and the overhead, whatever the count.
        let all = cpu_part_memory(&model, Precision::Q4KM, 4096, 512, 99);
        assert_eq!(all.kv_cache_bytes, 0);
        assert!(all.weights_bytes >= model.embedding_bytes(Precision::Q4KM) - MB);
    }

    #[test]
    fn floats_are_not_split() {
        assert_eq!(
            plan_split(&seven_b(), Precision::Bf16, 4096, 512, 10 * GB),
            None
        );
    }
}
