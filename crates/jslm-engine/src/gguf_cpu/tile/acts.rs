//! The activations of one matmul, quantized once (Q8_K or Q8_0, exactly as candle and
//! llama.cpp quantize them) and laid out for the tiled kernels: tiles of `L` tokens, and in
//! each block the four bytes of group `g` of every token side by side, so one vector load
//! feeds `L` tokens' dot products with a broadcast weight dword.

use crate::gguf_cpu::acts_quant::{quantize, quantize_q8_0};
use crate::gguf_cpu::block_views::{Q8, Q8K};
use crate::gguf_cpu::simd::view;
use crate::isa::Isa;
use candle_core::quantized::k_quants::{BlockQ8K, BlockQ8_0, GgmlType};
use rayon::prelude::*;

/// How Q8_0 activations are stored for the tiles.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Q8_0Form {
    /// y + 128, for `vpdpbusd`'s unsigned operand (Q8_0 weights on VNNI).
    Unsigned,
    /// Each y as an i16, two per group (Q8_0 weights on AVX2's `vpmaddwd`).
    Pairs,
    /// y as it is, with block sums (Q4_0 and Q5_0 in the K-quant tiles).
    Signed { scaled_sums: bool },
}

/// Quantized activations in tile layout. Tokens past `m` in the last tile are zeros.
pub(super) struct Acts {
    pub lanes: usize,
    pub blocks: usize,
    /// Groups of four bytes per token and block (64 for Q8_K, 8 for Q8_0, 16 for Q8_0 pairs).
    pub groups: usize,
    /// Sums per block (the K-quants' sub-blocks) kept per token.
    pub nsub: usize,
    pub tiles: usize,
    /// `[tile][block][group][lane][4 bytes]`.
    qs: Vec<u8>,
    /// `[tile][block][lane]`: each token's block scale.
    d: Vec<f32>,
    /// `[tile][block][sub][lane]`: Σ y over each sub-block (Q8_K only).
    sums: Vec<f32>,
}

impl Acts {
    /// Q8_K for Q4_K (`nsub` 8: sums over 32 values) and Q6_K (`nsub` 16: over 16 values).
    /// `isa` quantizes (`acts_quant`).
    /// With `scaled_sums` each sum is times the block's scale `d` (for the tiles that scale
    /// integer sums once per block, `Lanes::I16`).
    pub fn q8k(
        isa: Isa,
        xs: &[f32],
        cols: usize,
        lanes: usize,
        nsub: usize,
        scaled_sums: bool,
    ) -> Self {
        assert!(nsub == 8 || nsub == 16);
        let m = xs.len() / cols;
        let blocks = cols / 256;
        let mut acts = Self::zeroed(m, lanes, blocks, 64, nsub);
        let (qs_tile, d_tile, sums_tile) = acts.tile_sizes();
        acts.qs
            .par_chunks_mut(qs_tile)
            .zip(acts.d.par_chunks_mut(d_tile))
            .zip(acts.sums.par_chunks_mut(sums_tile))
            .enumerate()
            .for_each(|(tile, ((qs, d), sums))| {
                let mut q = vec![BlockQ8K::zeros(); blocks];
                for lane in 0..lanes.min(m - tile * lanes) {
                    let t = tile * lanes + lane;
                    quantize(isa, &xs[t * cols..(t + 1) * cols], &mut q);
                    // SAFETY: `Q8K` is `BlockQ8K`'s layout (asserted beside it).
                    let q: &[Q8K] = unsafe { view(&q, blocks) };
                    for (b, block) in q.iter().enumerate() {
                        for g in 0..64 {
                            let at = ((b * 64 + g) * lanes + lane) * 4;
                            for i in 0..4 {
                                qs[at + i] = block.qs[4 * g + i] as u8;
                            }
                        }
                        d[b * lanes + lane] = block.d;
                        let per = 16 / nsub;
                        for j in 0..nsub {
                            let s: i32 = (0..per).map(|k| block.bsums[per * j + k] as i32).sum();
                            let factor = if scaled_sums { block.d } else { 1.0 };
                            sums[(b * nsub + j) * lanes + lane] = s as f32 * factor;
                        }
                    }
                }
            });
        acts
    }

    /// Q8_0 for Q8_0 weights, stored as y + 128 (unsigned: `vpdpbusd`'s unsigned operand;
    /// the weights' `128 · Σ w` is subtracted per block), four bytes per token and group.
    pub fn q8_0(xs: &[f32], cols: usize, lanes: usize) -> Self {
        Self::q8_0_as(xs, cols, lanes, Q8_0Form::Unsigned)
    }

    /// Q8_0 as for [`Self::q8_0`], but each y widened to i16 (signed, no offset): 16 groups of
    /// two values per block, the four bytes per token and group `vpmaddwd`'s i16 pair (AVX2's
    /// tiles).
    pub fn q8_0_pairs(xs: &[f32], cols: usize, lanes: usize) -> Self {
        Self::q8_0_as(xs, cols, lanes, Q8_0Form::Pairs)
    }

    /// Q8_0 for the 4- and 5-bit weights that run the K-quant tiles (Q4_0, Q5_0: unsigned
    /// values and an offset): each y a signed byte, and each block's Σ y as its one
    /// sub-block sum (times the block's `d` with `scaled_sums`, as for [`Self::q8k`]).
    pub fn q8_0_signed(xs: &[f32], cols: usize, lanes: usize, scaled_sums: bool) -> Self {
        Self::q8_0_as(xs, cols, lanes, Q8_0Form::Signed { scaled_sums })
    }

    fn q8_0_as(xs: &[f32], cols: usize, lanes: usize, form: Q8_0Form) -> Self {
        let m = xs.len() / cols;
        let blocks = cols / 32;
        let groups = if form == Q8_0Form::Pairs { 16 } else { 8 };
        let nsub = if let Q8_0Form::Signed { .. } = form {
            1
        } else {
            0
        };
        let mut acts = Self::zeroed(m, lanes, blocks, groups, nsub);
        let (qs_tile, d_tile, sums_tile) = acts.tile_sizes();
        // Padding tokens: y = 0, stored as 128 where the weights' correction must cancel it
        // (the other forms are signed: 0 already).
        if form == Q8_0Form::Unsigned {
            acts.qs.fill(128);
        }
        acts.qs
            .par_chunks_mut(qs_tile)
            .zip(acts.d.par_chunks_mut(d_tile))
            .zip(acts.sums.par_chunks_mut(sums_tile))
            .enumerate()
            .for_each(|(tile, ((qs, d), sums))| {
                let mut q = vec![BlockQ8_0::zeros(); blocks];
                for lane in 0..lanes.min(m - tile * lanes) {
                    let t = tile * lanes + lane;
                    // Every tiling family has AVX2.
                    quantize_q8_0(Isa::Avx2, &xs[t * cols..(t + 1) * cols], &mut q);
                    // SAFETY: `Q8` is `BlockQ8_0`'s layout (asserted beside it).
                    let q: &[Q8] = unsafe { view(&q, blocks) };
                    for (b, block) in q.iter().enumerate() {
                        for g in 0..groups {
                            let at = ((b * groups + g) * lanes + lane) * 4;
                            let group = match form {
                                Q8_0Form::Pairs => {
                                    let y = |i: usize| block.qs[2 * g + i] as i16 as u16 as u32;
                                    y(0) | y(1) << 16
                                }
                                Q8_0Form::Unsigned | Q8_0Form::Signed { .. } => {
                                    // Unsigned: stored as y + 128.
                                    let flip = if form == Q8_0Form::Unsigned { 0x80 } else { 0 };
                                    let u = |i: usize| (block.qs[4 * g + i] as u8 ^ flip) as u32;
                                    u(0) | u(1) << 8 | u(2) << 16 | u(3) << 24
                                }
                            };
                            qs[at..at + 4].copy_from_slice(&group.to_le_bytes());
                        }
                        let scale = block.d.to_f32();
                        d[b * lanes + lane] = scale;
                        if let Q8_0Form::Signed { scaled_sums } = form {
                            let s: i32 = block.qs.iter().map(|&y| y as i32).sum();
                            let factor = if scaled_sums { scale } else { 1.0 };
                            sums[b * lanes + lane] = s as f32 * factor;
                        }
                    }
                }
            });
        acts
    }

    fn zeroed(m: usize, lanes: usize, blocks: usize, groups: usize, nsub: usize) -> Self {
        // At least one sum per tile (`tile_sizes`), so that every form can zip its tiles'
        // sums with their values.
        let sums_per_tile = (blocks * lanes * nsub).max(1);
        let tiles = m.div_ceil(lanes);
        Self {
            lanes,
            blocks,
            groups,
            nsub,
            tiles,
            qs: vec![0; tiles * blocks * groups * lanes * 4],
            d: vec![0.0; tiles * blocks * lanes],
            sums: vec![0.0; tiles * sums_per_tile],
        }
    }

    /// Elements of `qs`, `d` and `sums` per tile.
    fn tile_sizes(&self) -> (usize, usize, usize) {
        let b = self.blocks * self.lanes;
        (b * self.groups * 4, b, (b * self.nsub).max(1))
    }

    /// The group bytes of block `b` of `tile`.
    pub fn qs(&self, tile: usize, b: usize) -> *const u8 {
        let (per_tile, _, _) = self.tile_sizes();
        self.qs[tile * per_tile + b * self.groups * self.lanes * 4..].as_ptr()
    }

    /// The token scales of block `b` of `tile`.
    pub fn d(&self, tile: usize, b: usize) -> *const f32 {
        self.d[(tile * self.blocks + b) * self.lanes..].as_ptr()
    }

    /// The sub-block sums of block `b` of `tile`.
    pub fn sums(&self, tile: usize, b: usize) -> *const f32 {
        self.sums[(tile * self.blocks + b) * self.nsub * self.lanes..].as_ptr()
    }
}
