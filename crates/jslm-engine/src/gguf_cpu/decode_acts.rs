//! One token's activations arranged once per matrix-vector product for the decode kernels
//! that read them once per weight row: Q8_K rearranged for the Q4_K kernels
//! (`q4k_avx512::one_token`), Q8_0's offset pair sums for Q4_0's and Q5_0's.
//!
//! Why: that kernel pairs the low nibbles of a block's 64-byte half with activations 0–31 and
//! 64–95 of the half, the high nibbles with 32–63 and 96–127. From candle's `BlockQ8K` each
//! such vector took two loads and a lane insert, four inserts per block on the shuffle units,
//! the kernel's busiest; and the mins' sums needed the block's 16 `bsums` added in pairs,
//! another shuffle per block. A 4,096-value row is 16 blocks, multiplied by up to 14,336 rows:
//! rearranging the 16 activation blocks once costs nothing beside that. With rows in cache the
//! AVX-512 VNNI kernel went from 5.9 to 4.9 ns per block on Zen 4 (BENCHMARKS.md, stop 26).
#![cfg_attr(not(target_arch = "x86_64"), allow(dead_code))] // (built by x86 kernels only)

use super::block_views::{Q8, Q8K};
use super::simd::view;
use candle_core::quantized::k_quants::{BlockQ8K, BlockQ8_0};

/// One token's activations arranged for a decode kernel: which arrangement is the kernel's
/// (`kernels::Arranged` pairs each `arrange` with the `dot` that reads it).
pub(crate) enum Arrangement<'a> {
    /// Q8_K for Q4_K.
    Q8K(DecodeActs<'a>),
    /// Q8_0 for Q4_0 and Q5_0.
    Q8_0(Q8_0Offsets<'a>),
}

impl<'a> Arrangement<'a> {
    /// The Q8_K arrangement (Q4_K's kernels are paired with it in `kernels.rs`).
    pub fn q8k(&self) -> &DecodeActs<'a> {
        match self {
            Self::Q8K(acts) => acts,
            Self::Q8_0(_) => panic!("a Q8_K kernel was handed Q8_0 activations"),
        }
    }

    /// The Q8_0 arrangement (Q4_0's and Q5_0's kernels are paired with it).
    pub fn q8_0(&self) -> &Q8_0Offsets<'a> {
        match self {
            Self::Q8_0(acts) => acts,
            Self::Q8K(_) => panic!("a Q8_0 kernel was handed Q8_K activations"),
        }
    }
}

/// One token's Q8_0 activations for the Q4_0 and Q5_0 decode kernel (`q8_0_avx2::arranged`),
/// which multiplies the weights' unsigned `q` (`maddubs`, no sign trick) and takes their
/// offset off the pair sums with one subtraction: per block the 16 pair sums of `OFFSET · y`,
/// computed once per product instead of once per row. Exact: `Σ (q − OFFSET) · y` in
/// integers, as the reference sums it.
pub(crate) struct Q8_0Offsets<'a> {
    /// The blocks as quantized (their values and scales are read in place).
    pub blocks: &'a [BlockQ8_0],
    /// Per block, `OFFSET · (y[2i] + y[2i + 1])` for the 16 pairs (at most 16 · 254, an i16).
    pub pairs: Vec<[i16; 16]>,
}

impl<'a> Q8_0Offsets<'a> {
    pub fn new(blocks: &'a [BlockQ8_0], offset: i16) -> Self {
        assert!(
            (0..=16).contains(&offset),
            "offset {offset}: its pair sums would not fit i16"
        );
        // SAFETY: `Q8` has `BlockQ8_0`'s layout (asserted in `block_views`).
        let views: &[Q8] = unsafe { view(blocks, blocks.len()) };
        let pairs = views
            .iter()
            .map(|b| {
                let qs = &b.qs;
                let mut out = [0i16; 16];
                for (i, out) in out.iter_mut().enumerate() {
                    *out = offset * (qs[2 * i] as i16 + qs[2 * i + 1] as i16);
                }
                out
            })
            .collect();
        Self { blocks, pairs }
    }
}

/// A block's 256 quantized activations in kernel order: for each half `h` (128 values),
/// values 0–31 and 64–95 of the half (what its low nibbles multiply), then 32–63 and 96–127
/// (its high nibbles).
#[derive(Clone, Copy)]
#[repr(C, align(64))]
pub(crate) struct ArrangedQs(pub [i8; 256]);

/// One activation row (`BlockQ8K`s of one token) in the order `q4k_avx512::one_token` reads.
pub(crate) struct DecodeActs<'a> {
    /// The blocks as quantized (the kernel's odd last block reads them).
    pub blocks: &'a [BlockQ8K],
    /// Each block's values, rearranged.
    pub qs: Vec<ArrangedQs>,
    /// Each block's scale, contiguous: a pair of blocks loads both with one load.
    pub d: Vec<f32>,
    /// Per block, eight zeros then the eight sub-block sums (`bsums[2j] + bsums[2j+1]`), the
    /// i16 lanes a pair of blocks' scales and mins (`[scales₀, mins₀, scales₁, mins₁]`, bytes
    /// widened) multiply in one `madd`: the scales meet the zeros. A sub-block sum is at most
    /// 32 · 128 in magnitude, an i16.
    pub min_sums: Vec<[i16; 16]>,
}

impl<'a> DecodeActs<'a> {
    /// Rearranges `blocks`.
    pub fn new(blocks: &'a [BlockQ8K]) -> Self {
        let mut qs = Vec::with_capacity(blocks.len());
        let mut d = Vec::with_capacity(blocks.len());
        let mut min_sums = Vec::with_capacity(blocks.len());
        // SAFETY: `Q8K` has `BlockQ8K`'s layout (asserted in `block_views`).
        let views: &[Q8K] = unsafe { view(blocks, blocks.len()) };
        for b in views {
            let (scale, values, bsums) = (b.d, &b.qs, &b.bsums);
            let mut arranged = [0i8; 256];
            for h in 0..2 {
                for (k, from) in [0, 64, 32, 96].into_iter().enumerate() {
                    let src = &values[128 * h + from..128 * h + from + 32];
                    arranged[128 * h + 32 * k..128 * h + 32 * (k + 1)].copy_from_slice(src);
                }
            }
            qs.push(ArrangedQs(arranged));
            d.push(scale);
            let mut sums = [0i16; 16];
            for j in 0..8 {
                sums[8 + j] = bsums[2 * j] + bsums[2 * j + 1];
            }
            min_sums.push(sums);
        }
        Self {
            blocks,
            qs,
            d,
            min_sums,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gguf_cpu::matrix::tests::values;
    use candle_core::quantized::k_quants::GgmlType;

    /// Each pair sum is the offset times the two activations it stands for.
    #[test]
    fn q8_0_offsets_are_the_offset_pair_sums() {
        use candle_core::quantized::k_quants::BlockQ8_0;
        let xs = values(64, 6);
        let mut q = vec![BlockQ8_0::zeros(); 2];
        BlockQ8_0::from_float(&xs, &mut q);
        let acts = Q8_0Offsets::new(&q, 16);
        // SAFETY: `Q8` has `BlockQ8_0`'s layout (asserted in `block_views`).
        let views: &[Q8] = unsafe { view(&q, q.len()) };
        for (b, block) in views.iter().enumerate() {
            let y = &block.qs;
            assert!(y.iter().any(|&v| v != 0));
            for i in 0..16 {
                let want = 16 * (y[2 * i] as i16 + y[2 * i + 1] as i16);
                assert_eq!(acts.pairs[b][i], want, "block {b} pair {i}");
            }
        }
    }

    /// Every value lands where the kernel reads it, and the sums are the pairs' sums.
    #[test]
    fn arranges_each_half_and_pairs_the_sums() {
        let xs = values(512, 5);
        let mut q = vec![BlockQ8K::zeros(); 2];
        BlockQ8K::from_float(&xs, &mut q);
        let acts = DecodeActs::new(&q);
        // SAFETY: `Q8K` has `BlockQ8K`'s layout (asserted in `block_views`).
        let views: &[Q8K] = unsafe { view(&q, q.len()) };
        for (b, block) in views.iter().enumerate() {
            let (d, values, bsums) = (block.d, &block.qs, &block.bsums);
            assert_eq!(acts.d[b], d);
            for (i, &value) in values.iter().enumerate() {
                let (h, v) = (i / 128, i % 128);
                // Position within the half: low-nibble values first, 32 at a time.
                let k = [0, 2, 1, 3][v / 32];
                assert_eq!(acts.qs[b].0[128 * h + 32 * k + v % 32], value, "value {i}");
            }
            assert_eq!(acts.min_sums[b][..8], [0; 8]);
            for j in 0..8 {
                let want: i16 = values[32 * j..32 * (j + 1)].iter().map(|&v| v as i16).sum();
                assert_eq!(acts.min_sums[b][8 + j], want);
                assert_eq!(acts.min_sums[b][8 + j], bsums[2 * j] + bsums[2 * j + 1]);
            }
        }
    }
}
