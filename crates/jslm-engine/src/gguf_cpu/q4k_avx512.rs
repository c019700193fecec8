//! Q4_K × Q8_K dot products with AVX-512 (F + BW, VNNI where present), one weight row against
//! `T` activation rows (`kernels.rs` chooses them).
//!
//! Written here because candle 0.11 has only a 256-bit version and llama.cpp's 512-bit kernels
//! decoded Q4_K_M 1.8× faster than it on the same file (`bench/compare_llama_cpp.sh`). The
//! arithmetic is ggml's: per 256-value block, `d·Σ_j scale_j·Σ q·y − dmin·Σ_j min_j·Σ y`,
//! with the 4-bit values as the unsigned operand of `maddubs` (15 · 127 · 2 cannot saturate
//! i16) and the 6-bit scales applied by `madd`. With VNNI, `vpdpbusd` sums four nibble × byte
//! products per i32 lane (at most 4 · 15 · 128 = 7,680, so the lanes pack to i16 without
//! saturating) and one `vpmaddwd` applies the scales: three multiplies per 128 values, not four.

use super::block_views::{Q4K, Q8K};
use super::decode_acts::DecodeActs;
use super::simd::view;
use candle_core::quantized::k_quants::{BlockQ4K, BlockQ8K};

/// One weight row against `T` activation rows, with VNNI (`vnni`) or AVX-512 BW alone.
#[cfg(target_arch = "x86_64")]
pub(crate) fn rows<const T: usize, const VNNI: bool>(
    n: usize,
    xs: &[BlockQ4K],
    ys: [&[BlockQ8K]; T],
) -> [f32; T] {
    assert!(crate::isa::Isa::Avx512.supported());
    assert!(!VNNI || vnni_detected());
    // SAFETY: `Q4K`/`Q8K` have candle's sizes and alignments (asserted above) and ggml's field
    // order; the feature checks guard the target features.
    unsafe {
        let xs: &[Q4K] = view(xs, n / 256);
        let ys: [&[Q8K]; T] = ys.map(|y| view(y, n / 256));
        if VNNI {
            avx512::rows_vnni(xs, ys)
        } else {
            avx512::rows_bw(xs, ys)
        }
    }
}

/// One weight row against one token's activations as `DecodeActs` arranges them (decode).
#[cfg(target_arch = "x86_64")]
pub(crate) fn arranged<const VNNI: bool>(n: usize, xs: &[BlockQ4K], acts: &DecodeActs) -> f32 {
    assert!(crate::isa::Isa::Avx512.supported());
    assert!(!VNNI || vnni_detected());
    let blocks = n / 256;
    assert!(acts.qs.len() >= blocks && acts.d.len() >= blocks && acts.min_sums.len() >= blocks);
    // SAFETY: as in `rows`; `arranged` holds `blocks` blocks of each part (asserted).
    unsafe {
        let xs: &[Q4K] = view(xs, blocks);
        let ys: &[Q8K] = view(acts.blocks, blocks);
        if VNNI {
            avx512::arranged_vnni(xs, acts, ys)
        } else {
            avx512::arranged_bw(xs, acts, ys)
        }
    }
}

/// Whether the CPU has AVX-512 VNNI (whatever `JSLM_NO_VNNI` says).
#[cfg(target_arch = "x86_64")]
pub(super) fn vnni_detected() -> bool {
    is_x86_feature_detected!("avx512vnni")
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::super::block_views::scales_and_mins;
    use super::super::q4k_avx2::{factor, PairHeads, GROUP};
    use super::super::simd::{half_to_f32, prefetch_ahead};
    use super::{DecodeActs, Q4K, Q8K};
    use std::arch::x86_64::*;

    #[target_feature(enable = "avx512f,avx512bw,avx2,fma,f16c")]
    pub(super) unsafe fn rows_bw<const T: usize>(xs: &[Q4K], ys: [&[Q8K]; T]) -> [f32; T] {
        // SAFETY: this function's target features are the kernels'.
        unsafe { body::<T, false>(xs, ys) }
    }

    #[target_feature(enable = "avx512f,avx512bw,avx512vnni,avx2,fma,f16c")]
    pub(super) unsafe fn rows_vnni<const T: usize>(xs: &[Q4K], ys: [&[Q8K]; T]) -> [f32; T] {
        // SAFETY: this function's target features are the kernels'.
        unsafe { body::<T, true>(xs, ys) }
    }

    #[target_feature(enable = "avx512f,avx512bw,avx2,fma,f16c")]
    pub(super) unsafe fn arranged_bw(xs: &[Q4K], acts: &DecodeActs, ys: &[Q8K]) -> f32 {
        // SAFETY: this function's target features are the kernels'.
        unsafe { arranged::<false>(xs, acts, ys) }
    }

    #[target_feature(enable = "avx512f,avx512bw,avx512vnni,avx2,fma,f16c")]
    pub(super) unsafe fn arranged_vnni(xs: &[Q4K], acts: &DecodeActs, ys: &[Q8K]) -> f32 {
        // SAFETY: this function's target features are the kernels'.
        unsafe { arranged::<true>(xs, acts, ys) }
    }

    /// Whole pairs of blocks through `one_token`, an odd last block through `body` (from the
    /// blocks as quantized, `ys`).
    #[inline(always)]
    unsafe fn arranged<const VNNI: bool>(xs: &[Q4K], acts: &DecodeActs, ys: &[Q8K]) -> f32 {
        let whole = xs.len() / GROUP * GROUP;
        // SAFETY: the callers' target features; both parts index within `xs`, `acts` and `ys`
        // (the caller checked their lengths).
        unsafe {
            one_token::<VNNI>(&xs[..whole], acts) + body::<1, VNNI>(&xs[whole..], [&ys[whole..]])[0]
        }
    }

    /// i16 lane p of the scale vector for the two products of half h, for a block whose
    /// eight scales are lanes `first`…`first + 7` of the widened scales. Without VNNI the low
    /// nibbles of bytes 0–31 are sub-block 4h and of bytes 32–63 sub-block 4h+2 (the high
    /// nibbles one more), one scale per 32-byte half. With VNNI, after `packs_epi32(lo, hi)`
    /// lane p of 128-bit lane k holds lo's sums for p % 8 < 4 and hi's otherwise; lo is
    /// sub-block 4h (k < 2) or 4h+2, hi one more. Indexed `[h][part]`.
    #[inline(always)]
    unsafe fn scale_orders<const VNNI: bool>(first: i16) -> [[__m512i; 2]; 2] {
        let order = |h: i16, part: i16| {
            let mut idx = [0i16; 32];
            for (p, v) in idx.iter_mut().enumerate() {
                let k = (p / 8) as i16;
                *v = first
                    + if VNNI {
                        4 * h + if k >= 2 { 2 } else { 0 } + if p % 8 < 4 { 0 } else { 1 }
                    } else {
                        4 * h + part + if p >= 16 { 2 } else { 0 }
                    };
            }
            // SAFETY: 64 bytes from a 64-byte array.
            unsafe { _mm512_loadu_si512(idx.as_ptr() as *const _) }
        };
        [[order(0, 0), order(0, 1)], [order(1, 0), order(1, 1)]]
    }

    /// The scale vectors of one half for `half_sum`, from a block's widened scales and that
    /// half's `scale_orders`; VNNI needs only the first.
    #[inline(always)]
    unsafe fn scale_vectors<const VNNI: bool>(
        order: &[__m512i; 2],
        scales: __m512i,
    ) -> [__m512i; 2] {
        let first = _mm512_permutexvar_epi16(order[0], scales);
        if VNNI {
            [first, first]
        } else {
            [first, _mm512_permutexvar_epi16(order[1], scales)]
        }
    }

    /// The activations half `h` of a block's low and high nibbles multiply, from the block
    /// as quantized: values 0–31 and 64–95 of the half, and 32–63 and 96–127.
    #[inline(always)]
    unsafe fn natural_halves(y: &Q8K, h: usize) -> [__m512i; 2] {
        // (A macro, not a closure: a closure would not share the callers' target features.)
        // SAFETY: offsets 0–127 of half h, inside the 256 `qs`.
        macro_rules! load {
            ($off:expr) => {
                unsafe { _mm256_loadu_si256(y.qs.as_ptr().add(128 * h + $off) as *const __m256i) }
            };
        }
        [
            _mm512_inserti64x4::<1>(_mm512_castsi256_si512(load!(0)), load!(64)),
            _mm512_inserti64x4::<1>(_mm512_castsi256_si512(load!(32)), load!(96)),
        ]
    }

    /// `acc` plus half `h` (128 values) of a block against its activations `[ylo, yhi]`
    /// (`natural_halves`): i32 lanes whose sum is `Σ_j scale_j · Σ q·y` over its four
    /// sub-blocks, from its nibbles `[lo, hi]` and scale vectors (`svec[1]` unused with VNNI).
    #[inline(always)]
    unsafe fn half_sum<const VNNI: bool>(
        acc: __m512i,
        nibbles: [__m512i; 2],
        svec: [__m512i; 2],
        [ylo, yhi]: [__m512i; 2],
    ) -> __m512i {
        let [lo, hi] = nibbles;
        if VNNI {
            let zero = _mm512_setzero_si512();
            let packed = _mm512_packs_epi32(
                _mm512_dpbusd_epi32(zero, lo, ylo),
                _mm512_dpbusd_epi32(zero, hi, yhi),
            );
            _mm512_dpwssd_epi32(acc, packed, svec[0])
        } else {
            _mm512_add_epi32(
                acc,
                _mm512_add_epi32(
                    _mm512_madd_epi16(_mm512_maddubs_epi16(lo, ylo), svec[0]),
                    _mm512_madd_epi16(_mm512_maddubs_epi16(hi, yhi), svec[1]),
                ),
            )
        }
    }

    /// The low and high nibbles of half `h` of a block's `qs`.
    #[inline(always)]
    unsafe fn nibbles_of(x: &Q4K, h: usize) -> [__m512i; 2] {
        let m4 = _mm512_set1_epi8(0x0F);
        // SAFETY: 64 bytes inside the 128-byte `qs`.
        let q4 = unsafe { _mm512_loadu_si512(x.qs.as_ptr().add(64 * h) as *const _) };
        [
            _mm512_and_si512(q4, m4),
            _mm512_and_si512(_mm512_srli_epi16::<4>(q4), m4),
        ]
    }

    /// One weight row against one token's arranged activations (`DecodeActs`), two blocks
    /// at a time. The per-block bookkeeping (f16 factors, 6-bit scales and mins) is done for
    /// both blocks in vector registers (`PairHeads`, shared with the AVX2 kernel), the mins'
    /// sums for both in one `madd`, and every activation vector is one load: decode on an
    /// AVX-512 core is bound by the instructions per block, not by memory (BENCHMARKS.md,
    /// stops 22 and 25).
    #[inline(always)]
    unsafe fn one_token<const VNNI: bool>(xs: &[Q4K], acts: &DecodeActs) -> f32 {
        debug_assert_eq!(xs.len() % GROUP, 0);
        // SAFETY: the callers' target features.
        let (heads, orders) = unsafe {
            (
                PairHeads::new(),
                [scale_orders::<VNNI>(0), scale_orders::<VNNI>(16)],
            )
        };
        // f32 lanes 1 and 3 of `PairHeads::scaled`'s factors (dmin · y.d of each block) for
        // the lanes of the min products: 4–7 are block 0's, 12–15 block 1's (0–3 and 8–11
        // are the scales' products with zeros).
        let min_factors = _mm512_setr_epi32(1, 1, 1, 1, 1, 1, 1, 1, 3, 3, 3, 3, 3, 3, 3, 3);
        let mut acc = _mm512_setzero_ps();
        let mut acc_m = _mm512_setzero_ps();
        for (p, x) in xs.chunks_exact(GROUP).enumerate() {
            let b = GROUP * p;
            prefetch_ahead(&x[0], GROUP * std::mem::size_of::<Q4K>().div_ceil(64));
            // SAFETY: `acts` holds every block of `xs` (the caller checked); two blocks each.
            let (f, fx, sm, sums) = unsafe {
                let yd = _mm_castpd_ps(_mm_load_sd(acts.d.as_ptr().add(b) as *const f64));
                let (f, fx, sm) = heads.scaled(x, _mm_unpacklo_ps(yd, yd));
                let sums = _mm512_loadu_si512(acts.min_sums.as_ptr().add(b) as *const _);
                (f, fx, sm, sums)
            };
            // i16 lanes [scales₀, mins₀, scales₁, mins₁].
            let widened = _mm512_cvtepu8_epi16(sm);
            let fm = _mm512_permutexvar_ps(min_factors, _mm512_castps128_ps512(fx));
            let mins = _mm512_cvtepi32_ps(_mm512_madd_epi16(widened, sums));
            acc_m = _mm512_fmadd_ps(fm, mins, acc_m);
            for q in 0..GROUP {
                let qs = acts.qs[b + q].0.as_ptr();
                let mut sumi = _mm512_setzero_si512();
                for (h, order) in orders[q].iter().enumerate() {
                    // SAFETY: the callers' target features; `x[q]` a whole block, `qs` 256
                    // bytes.
                    sumi = unsafe {
                        let svec = scale_vectors::<VNNI>(order, widened);
                        let ys = [
                            _mm512_load_si512(qs.add(128 * h) as *const _),
                            _mm512_load_si512(qs.add(128 * h + 64) as *const _),
                        ];
                        half_sum::<VNNI>(sumi, nibbles_of(&x[q], h), svec, ys)
                    };
                }
                let fd = _mm512_set1_ps(factor(&f, 2 * q));
                acc = _mm512_fmadd_ps(fd, _mm512_cvtepi32_ps(sumi), acc);
            }
        }
        _mm512_reduce_add_ps(acc) - _mm512_reduce_add_ps(acc_m)
    }

    /// The kernel, inlined into the two entry points above so that it is compiled with their
    /// target features.
    #[inline(always)]
    unsafe fn body<const T: usize, const VNNI: bool>(xs: &[Q4K], ys: [&[Q8K]; T]) -> [f32; T] {
        // SAFETY: the callers' target features.
        let orders = unsafe { scale_orders::<VNNI>(0) };
        let mut acc = [_mm512_setzero_ps(); T];
        let mut acc_m = [_mm_setzero_ps(); T];
        for (b, x) in xs.iter().enumerate() {
            prefetch_ahead(x, 3);
            let (xd, xdmin) = (half_to_f32(x.d.to_bits()), half_to_f32(x.dmin.to_bits()));
            let sm = scales_and_mins(&x.scales);
            let sm = _mm_set_epi32(sm[3] as i32, sm[2] as i32, sm[1] as i32, sm[0] as i32);
            let scales = _mm512_castsi128_si512(_mm_cvtepu8_epi16(sm));
            let mins = _mm_cvtepu8_epi16(_mm_unpackhi_epi64(sm, sm));
            // The block's nibbles and scale vectors, shared by all T activation rows.
            // (No closures: they would not share the callers' target features.)
            // SAFETY: the callers' target features.
            let nibbles = unsafe { [nibbles_of(x, 0), nibbles_of(x, 1)] };
            let mut svec = [[_mm512_setzero_si512(); 2]; 2];
            for (s, order) in svec.iter_mut().zip(&orders) {
                // SAFETY: the callers' target features.
                *s = unsafe { scale_vectors::<VNNI>(order, scales) };
            }
            for t in 0..T {
                let y = &ys[t][b];
                // Σ_j min_j · Σ_{sub-block j} y: adjacent 16-value sums pair up per sub-block.
                // SAFETY: 32 bytes, the whole `bsums`.
                let bsums = unsafe { _mm256_loadu_si256(y.bsums.as_ptr() as *const __m256i) };
                let q8s = _mm_hadd_epi16(
                    _mm256_castsi256_si128(bsums),
                    _mm256_extracti128_si256::<1>(bsums),
                );
                let prod = _mm_madd_epi16(mins, q8s);
                acc_m[t] = _mm_fmadd_ps(_mm_set1_ps(y.d * xdmin), _mm_cvtepi32_ps(prod), acc_m[t]);
                let mut sumi = _mm512_setzero_si512();
                for h in 0..2 {
                    // SAFETY: the callers' target features; `x` and `y` whole blocks.
                    sumi = unsafe {
                        half_sum::<VNNI>(sumi, nibbles[h], svec[h], natural_halves(y, h))
                    };
                }
                acc[t] =
                    _mm512_fmadd_ps(_mm512_set1_ps(y.d * xd), _mm512_cvtepi32_ps(sumi), acc[t]);
            }
        }
        let mut out = [0f32; T];
        for t in 0..T {
            let m = _mm_hadd_ps(acc_m[t], acc_m[t]);
            let m = _mm_hadd_ps(m, m);
            out[t] = _mm512_reduce_add_ps(acc[t]) - _mm_cvtss_f32(m);
        }
        out
    }
}
