//! Q6_K × Q8_K dot products with AVX-512 BW (VNNI where present), one weight row against `T`
//! activation rows (`kernels.rs` chooses them). Q4_K_M files keep `output.weight` and some
//! `ffn_down`/`attn_v` matrices in Q6_K (about a fifth of decode's time).
//!
//! ggml's arithmetic: value = d · scale_j · (q − 32) for 16-value group j, so a block's dot is
//! `d · dy · (Σ_j scale_j Σ q·y − 32 Σ_j scale_j · bsum_j)`, with the 6-bit q (0–63) as the
//! unsigned operand of `maddubs` (63 · 128 · 2 cannot saturate i16). Both sums stay in i32
//! lanes: the offset is one more `madd` of `−32 · scale_j` (at most 4,096, an i16) with the
//! activations' 16-value sums, and with VNNI every `madd` + add is one `vpdpwssd`. The high
//! bits come from one broadcast load per half and two per-lane shifts. With rows in cache this
//! went from 7.4 to 6.8 ns per block on Zen 4 (the variable shifts cost ~0.6 of that; the
//! scale permutes ~0.3; aligned activations ~0.15).

use super::block_views::{Q6K, Q8K};
use super::simd::view;
use candle_core::quantized::k_quants::{BlockQ6K, BlockQ8K};

/// One weight row against `T` activation rows, with VNNI (`VNNI`) or AVX-512 BW alone.
#[cfg(target_arch = "x86_64")]
pub(crate) fn rows<const T: usize, const VNNI: bool>(
    n: usize,
    xs: &[BlockQ6K],
    ys: [&[BlockQ8K]; T],
) -> [f32; T] {
    assert!(crate::isa::Isa::Avx512.supported());
    assert!(!VNNI || super::q4k_avx512::vnni_detected());
    // SAFETY: `Q6K`/`Q8K` have candle's sizes and alignments (asserted) and ggml's field
    // order; the feature checks guard the target features.
    unsafe {
        let xs: &[Q6K] = view(xs, n / 256);
        let ys: [&[Q8K]; T] = ys.map(|y| view(y, n / 256));
        if VNNI {
            avx512::dot_vnni(xs, ys)
        } else {
            avx512::dot_bw(xs, ys)
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::super::simd::{half_to_f32, prefetch_ahead};
    use super::{Q6K, Q8K};
    use std::arch::x86_64::*;

    /// i16 lane p of the scale vector for the 64 values `v` of half `h`, part `part` (0: the
    /// low nibbles, y[128h..128h+64]; 1: the high ones, y[128h+64..128h+128]) takes group
    /// `8h + 4·part + p/8`.
    #[target_feature(enable = "avx512f,avx512bw")]
    fn order(h: usize, part: usize) -> __m512i {
        let mut idx = [0i16; 32];
        for (p, v) in idx.iter_mut().enumerate() {
            *v = (8 * h + 4 * part + p / 8) as i16;
        }
        // SAFETY: reads 64 bytes from a 64-byte array.
        unsafe { _mm512_loadu_si512(idx.as_ptr() as *const _) }
    }

    /// 16 i16 lanes of `low` then 16 of `high` (per-lane shift counts).
    #[target_feature(enable = "avx512f,avx512bw")]
    fn counts(low: i16, high: i16) -> __m512i {
        let mut c = [high; 32];
        c[..16].fill(low);
        // SAFETY: reads 64 bytes from a 64-byte array.
        unsafe { _mm512_loadu_si512(c.as_ptr() as *const _) }
    }

    #[target_feature(enable = "avx512f,avx512bw,avx2,fma,f16c")]
    pub(super) unsafe fn dot_bw<const T: usize>(xs: &[Q6K], ys: [&[Q8K]; T]) -> [f32; T] {
        // SAFETY: this function's target features are the kernel's.
        unsafe { dot::<T, false>(xs, ys) }
    }

    #[target_feature(enable = "avx512f,avx512bw,avx512vnni,avx2,fma,f16c")]
    pub(super) unsafe fn dot_vnni<const T: usize>(xs: &[Q6K], ys: [&[Q8K]; T]) -> [f32; T] {
        // SAFETY: this function's target features are the kernel's.
        unsafe { dot::<T, true>(xs, ys) }
    }

    /// `acc + Σ pairs of a·b` (i16 × i16 → i32): one `vpdpwssd` with VNNI.
    #[inline(always)]
    unsafe fn madd_acc<const VNNI: bool>(acc: __m512i, a: __m512i, b: __m512i) -> __m512i {
        // SAFETY: the caller's AVX-512 BW, and VNNI where `VNNI`.
        unsafe {
            if VNNI {
                _mm512_dpwssd_epi32(acc, a, b)
            } else {
                _mm512_add_epi32(acc, _mm512_madd_epi16(a, b))
            }
        }
    }

    /// `T` activation rows against one weight row; the 6-bit values are assembled once.
    #[inline(always)]
    unsafe fn dot<const T: usize, const VNNI: bool>(xs: &[Q6K], ys: [&[Q8K]; T]) -> [f32; T] {
        let m4 = _mm512_set1_epi8(0x0F);
        let m30 = _mm512_set1_epi8(0x30);
        // A half's 32 bytes of high bits, in both 256-bit halves of a vector, hold bits 4–5 of
        // its four 32-value vectors: bit pairs 0, 1 (shifted left by 4, 2) for the values of
        // the low nibbles, 2, 3 (right by 0, 2) for the high ones. The 16-bit shifts move bits
        // across bytes, which the mask drops.
        let (to_low, to_high) = (counts(4, 2), counts(0, 2));
        let orders = [[order(0, 0), order(0, 1)], [order(1, 0), order(1, 1)]];
        let mut acc = [_mm512_setzero_ps(); T];
        for (b, x) in xs.iter().enumerate() {
            prefetch_ahead(x, 4);
            let d = half_to_f32(x.d.to_bits());
            // SAFETY (the loads): each reads inside `x` or `ys[t][b]`.
            let sc16 =
                unsafe { _mm256_cvtepi8_epi16(_mm_loadu_si128(x.scales.as_ptr() as *const _)) };
            let scales = _mm512_castsi256_si512(sc16);
            // −32 · scale_j in lanes 0–15 for the activations' 16-value sums; zeros above,
            // which meet whatever the upper lanes of the sums' vector hold.
            let offsets = _mm512_zextsi256_si512(_mm256_sub_epi16(
                _mm256_setzero_si256(),
                _mm256_slli_epi16::<5>(sc16),
            ));
            let mut values = [[_mm512_setzero_si512(); 2]; 2];
            let mut svec = [[_mm512_setzero_si512(); 2]; 2];
            for h in 0..2 {
                let (ql, qh) = unsafe {
                    (
                        _mm512_loadu_si512(x.ql.as_ptr().add(64 * h) as *const _),
                        _mm512_broadcast_i64x4(_mm256_loadu_si256(
                            x.qh.as_ptr().add(32 * h) as *const __m256i
                        )),
                    )
                };
                let hi_low = _mm512_and_si512(_mm512_sllv_epi16(qh, to_low), m30);
                let hi_high = _mm512_and_si512(_mm512_srlv_epi16(qh, to_high), m30);
                // (a & b) | c
                values[h][0] = _mm512_ternarylogic_epi32::<0xEA>(ql, m4, hi_low);
                values[h][1] =
                    _mm512_ternarylogic_epi32::<0xEA>(_mm512_srli_epi16::<4>(ql), m4, hi_high);
                svec[h][0] = _mm512_permutexvar_epi16(orders[h][0], scales);
                svec[h][1] = _mm512_permutexvar_epi16(orders[h][1], scales);
            }
            for t in 0..T {
                let y = &ys[t][b];
                let mut sumi = _mm512_setzero_si512();
                for h in 0..2 {
                    for part in 0..2 {
                        let yv = unsafe {
                            _mm512_loadu_si512(y.qs.as_ptr().add(128 * h + 64 * part) as *const _)
                        };
                        let p = _mm512_maddubs_epi16(values[h][part], yv);
                        sumi = unsafe { madd_acc::<VNNI>(sumi, p, svec[h][part]) };
                    }
                }
                let bsums = unsafe {
                    _mm512_castsi256_si512(_mm256_loadu_si256(y.bsums.as_ptr() as *const _))
                };
                sumi = unsafe { madd_acc::<VNNI>(sumi, offsets, bsums) };
                acc[t] = _mm512_fmadd_ps(_mm512_set1_ps(d * y.d), _mm512_cvtepi32_ps(sumi), acc[t]);
            }
        }
        acc.map(|acc| _mm512_reduce_add_ps(acc))
    }
}
