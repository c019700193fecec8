//! Q8_0 × Q8_0 dot products with AVX2 + FMA + F16C, one weight row against `T` activation
//! rows: what AVX2-only CPUs (and AVX-512 CPUs without VNNI) decode Q8_0 with, and every x86
//! CPU Q4_0 and Q5_0 (their values unpacked to Q8_0's signed bytes, `Block32`: candle's Q4_0
//! kernel decoded a 7B at 1.7 tokens/s on a Zen 3, a third of the memory's rate).
//!
//! ggml's arithmetic: `maddubs` needs an unsigned operand, so the weights enter as |x| and
//! their signs move onto the activations (`vpsignb`; activations are at most 127 in magnitude,
//! so the negation cannot overflow). Ours converts the f16 scales inline with F16C, prefetches,
//! and reuses the weights' magnitudes and signs for all `T` tokens.

use super::block_unpack::{Block32, Offset32};
use super::block_views::{Q4_0, Q5_0, Q8};
use super::decode_acts::Q8_0Offsets;
use super::simd::view;
use candle_core::quantized::k_quants::{BlockQ4_0, BlockQ5_0, BlockQ8_0};

/// One Q8_0 weight row against `T` activation rows.
pub(crate) fn rows<const T: usize>(n: usize, xs: &[BlockQ8_0], ys: [&[BlockQ8_0]; T]) -> [f32; T] {
    rows_of::<_, Q8, T>(n, xs, ys)
}

/// One Q4_0 weight row against `T` activation rows.
pub(crate) fn rows_q4_0<const T: usize>(
    n: usize,
    xs: &[BlockQ4_0],
    ys: [&[BlockQ8_0]; T],
) -> [f32; T] {
    rows_of::<_, Q4_0, T>(n, xs, ys)
}

/// One Q5_0 weight row against `T` activation rows.
pub(crate) fn rows_q5_0<const T: usize>(
    n: usize,
    xs: &[BlockQ5_0],
    ys: [&[BlockQ8_0]; T],
) -> [f32; T] {
    rows_of::<_, Q5_0, T>(n, xs, ys)
}

/// One Q4_0 weight row against one token's activations with their offset pair sums (decode).
pub(crate) fn arranged_q4_0(n: usize, xs: &[BlockQ4_0], acts: &Q8_0Offsets) -> f32 {
    arranged_of::<_, Q4_0>(n, xs, acts)
}

/// One Q5_0 weight row against one token's activations with their offset pair sums (decode).
pub(crate) fn arranged_q5_0(n: usize, xs: &[BlockQ5_0], acts: &Q8_0Offsets) -> f32 {
    arranged_of::<_, Q5_0>(n, xs, acts)
}

#[inline(always)]
fn arranged_of<X, B: Offset32>(n: usize, xs: &[X], acts: &Q8_0Offsets) -> f32 {
    assert!(crate::isa::Isa::Avx2.supported());
    let blocks = n / 32;
    assert!(
        acts.pairs.len() >= blocks,
        "activations for {blocks} blocks"
    );
    // SAFETY: as for `rows_of`; `acts` holds `blocks` blocks and pair sums (checked).
    unsafe { imp::arranged::<B>(view(xs, blocks), view(acts.blocks, blocks), &acts.pairs) }
}

/// `xs` (candle's blocks) read through their view `B`.
#[inline(always)]
fn rows_of<X, B: Block32, const T: usize>(n: usize, xs: &[X], ys: [&[BlockQ8_0]; T]) -> [f32; T] {
    assert!(crate::isa::Isa::Avx2.supported());
    // SAFETY: `B` and `Q8` have candle's sizes and alignments (asserted beside them) and
    // ggml's field orders; the check above guards the target features.
    unsafe { imp::dot::<B, T>(view(xs, n / 32), ys.map(|y| view(y, n / 32))) }
}

mod imp {
    use super::super::simd::{half_product, hsum256, prefetch_ahead};
    use super::{Block32, Offset32, Q8};
    use std::arch::x86_64::*;

    /// Blocks in pairs, each block of a pair into its own accumulators: with one, each
    /// block's FMA waited for the previous block's (4 cycles on Zen 4; with rows in cache 1.16
    /// ns per block, 1.10 with two).
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) unsafe fn dot<B: Block32, const T: usize>(xs: &[B], ys: [&[Q8]; T]) -> [f32; T] {
        let mut even = [_mm256_setzero_ps(); T];
        let mut odd = [_mm256_setzero_ps(); T];
        // A pair of blocks: 68 bytes of Q8_0, 36 of Q4_0, 44 of Q5_0.
        let lines = (2 * std::mem::size_of::<B>()).div_ceil(64);
        for b in (0..xs.len() / 2).map(|p| 2 * p) {
            prefetch_ahead(&xs[b], lines);
            // SAFETY: the callers' target features.
            unsafe {
                block::<B, T>(&xs[b], ys.map(|y| &y[b]), &mut even);
                block::<B, T>(&xs[b + 1], ys.map(|y| &y[b + 1]), &mut odd);
            }
        }
        if xs.len() % 2 == 1 {
            let b = xs.len() - 1;
            // SAFETY: the callers' target features.
            unsafe { block::<B, T>(&xs[b], ys.map(|y| &y[b]), &mut even) };
        }
        let mut out = [0f32; T];
        for t in 0..T {
            out[t] = hsum256(_mm256_add_ps(even[t], odd[t]));
        }
        out
    }

    /// Q4_0 or Q5_0 against one token: the unsigned `q` times `y` (`maddubs`: at most
    /// 2 · 31 · 127 per pair), less the token's offset pair sums (`Q8_0Offsets`; the
    /// difference fits i16 too), so each block is exactly `Σ (q − OFFSET) · y`. Per block that
    /// is one subtraction where Q8_0's kernel (`dot`) moves the weights' signs onto the
    /// activations with two; blocks in pairs into two accumulators, as there.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) unsafe fn arranged<B: Offset32>(xs: &[B], ys: &[Q8], pairs: &[[i16; 16]]) -> f32 {
        let ones = _mm256_set1_epi16(1);
        let lines = (2 * std::mem::size_of::<B>()).div_ceil(64);
        // SAFETY (both): the callers' target features; the 32 bytes of `qs` and of the pair
        // sums of block `b`.
        let block = |b: usize, acc: __m256| unsafe {
            let x = &xs[b];
            let y = _mm256_loadu_si256(ys[b].qs.as_ptr() as *const __m256i);
            let c = _mm256_loadu_si256(pairs[b].as_ptr() as *const __m256i);
            let s = _mm256_sub_epi16(_mm256_maddubs_epi16(x.q(), y), c);
            let s = _mm256_madd_epi16(s, ones);
            let d = _mm256_set1_ps(half_product(x.d().to_bits(), ys[b].d.to_bits()));
            _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(s), acc)
        };
        let (mut even, mut odd) = (_mm256_setzero_ps(), _mm256_setzero_ps());
        for b in (0..xs.len() / 2).map(|p| 2 * p) {
            prefetch_ahead(&xs[b], lines);
            even = block(b, even);
            odd = block(b + 1, odd);
        }
        if xs.len() % 2 == 1 {
            even = block(xs.len() - 1, even);
        }
        hsum256(_mm256_add_ps(even, odd))
    }

    /// One weight block against the tokens' blocks `ys`, into `acc`. The weights' magnitudes
    /// and signs are computed once for all of them.
    #[inline(always)]
    unsafe fn block<B: Block32, const T: usize>(x: &B, ys: [&Q8; T], acc: &mut [__m256; T]) {
        // SAFETY: the caller's AVX2.
        let xv = unsafe { x.values() };
        let ax = _mm256_sign_epi8(xv, xv);
        for t in 0..T {
            // SAFETY: the 32 bytes of `qs`.
            let yv = unsafe { _mm256_loadu_si256(ys[t].qs.as_ptr() as *const __m256i) };
            let sy = _mm256_sign_epi8(yv, xv);
            let s = _mm256_madd_epi16(_mm256_set1_epi16(1), _mm256_maddubs_epi16(ax, sy));
            let d = _mm256_set1_ps(half_product(x.d().to_bits(), ys[t].d.to_bits()));
            acc[t] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(s), acc[t]);
        }
    }
}
