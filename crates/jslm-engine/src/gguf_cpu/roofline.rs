//! How fast this machine streams the model's weights out of memory: the bound on decode, which
//! reads every weight once per token. `jslm bench` reports decode against it, so a table says
//! whether the kernels or the memory hold a machine back.
//!
//! Measured, not taken from a spec sheet: a shared VM gets a share of its host's bandwidth
//! that moves from day to day (27–32 GB/s one day, 24–27 another on the 2-vCPU EPYC VMs of
//! `BENCHMARKS.md`), and a laptop's depends on its DIMMs.

use super::matrix::QMatrix;
use rayon::prelude::*;
use std::time::Instant;

/// Pieces handed to one task: large enough for the hardware prefetchers to run ahead.
const CHUNK_BYTES: usize = 256 << 10;
/// Passes timed; the fastest counts (the first may still find pages to map).
const PASSES: usize = 3;

/// What decode streams per token, and how fast this machine streams it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WeightsStream {
    /// Bytes of every matrix a decode step multiplies with (not the embedding table, of which
    /// it reads one row).
    pub bytes_per_token: u64,
    /// The fastest pass over those bytes with the current thread pool, in bytes per second.
    pub bytes_per_s: f64,
}

/// Reads `matrices` end to end `PASSES` times with rayon's current pool: every thread XORs its
/// share of 8-byte words, which compilers turn into one vector load and XOR per 16–64 bytes,
/// far below memory's rate.
pub(crate) fn measure(matrices: &[&QMatrix]) -> WeightsStream {
    let chunks: Vec<&[u8]> = matrices
        .iter()
        .flat_map(|m| m.bytes().chunks(CHUNK_BYTES))
        .collect();
    let bytes_per_token: u64 = chunks.iter().map(|c| c.len() as u64).sum();
    let mut best = f64::INFINITY;
    for _ in 0..PASSES {
        let t = Instant::now();
        let x = chunks
            .par_iter()
            .map(|c| {
                // SAFETY: every bit pattern is a valid u64; the unaligned ends are skipped
                // (at most 14 bytes a chunk).
                let (_, words, _) = unsafe { c.align_to::<u64>() };
                words.iter().fold(0u64, |a, &w| a ^ w)
            })
            .reduce(|| 0, |a, b| a ^ b);
        std::hint::black_box(x);
        best = best.min(t.elapsed().as_secs_f64());
    }
    WeightsStream {
        bytes_per_token,
        bytes_per_s: bytes_per_token as f64 / best.max(1e-9),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gguf_cpu::matrix::tests::{mapped, values};
    use candle_core::quantized::k_quants::{BlockQ4K, BlockQ8_0};

    #[test]
    fn counts_every_byte_of_every_matrix() {
        let a = mapped::<BlockQ4K>(&values(8 * 512, 1), 8, 512);
        let b = mapped::<BlockQ8_0>(&values(3 * 64, 2), 3, 64);
        let s = measure(&[&a, &b]);
        // Q4_K: 144 bytes per 256 values; Q8_0: 34 per 32.
        assert_eq!(s.bytes_per_token, 8 * 2 * 144 + 3 * 2 * 34);
        assert!(s.bytes_per_s.is_finite() && s.bytes_per_s > 0.0);
    }
}
