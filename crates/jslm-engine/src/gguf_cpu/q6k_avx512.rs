//! Q6_K × Q8_K dot products with AVX-512 BW, one weight row against `T` activation rows
//! (`kernels.rs` chooses them). Q4_K_M files keep `output.weight` and some `ffn_down`/`attn_v` matrices in Q6_K
//! (about a fifth of the work).
//!
//! ggml's arithmetic: value = d · scale_j · (q − 32) for 16-value group j, so a block's dot is
//! `d · dy · (Σ_j scale_j Σ q·y − 32 Σ_j scale_j · bsum_j)`, with the 6-bit q (0–63) as the
//! unsigned operand of `maddubs` (63 · 128 · 2 cannot saturate i16).

use super::q4k_avx512::Q8K;
use super::simd::view;
use candle_core::quantized::k_quants::{BlockQ6K, BlockQ8K};
use half::f16;

/// ggml's `block_q6_K` (candle's fields are crate-private).
#[repr(C)]
pub(super) struct Q6K {
    pub ql: [u8; 128],
    pub qh: [u8; 64],
    pub scales: [i8; 16],
    pub d: f16,
}

const _: () = assert!(std::mem::size_of::<Q6K>() == std::mem::size_of::<BlockQ6K>());
const _: () = assert!(std::mem::align_of::<Q6K>() == std::mem::align_of::<BlockQ6K>());

/// One weight row against `T` activation rows.
#[cfg(target_arch = "x86_64")]
pub(crate) fn rows<const T: usize>(n: usize, xs: &[BlockQ6K], ys: [&[BlockQ8K]; T]) -> [f32; T] {
    assert!(crate::isa::Isa::Avx512.supported());
    // SAFETY: `Q6K`/`Q8K` have candle's sizes and alignments (asserted) and ggml's field
    // order; the feature check guards the target features.
    unsafe { avx512::dot::<T>(view(xs, n / 256), ys.map(|y| view(y, n / 256))) }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::super::simd::{half_to_f32, hsum256, prefetch_ahead};
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

    /// `T` activation rows against one weight row; the 6-bit values are assembled once.
    #[target_feature(enable = "avx512f,avx512bw,avx2,fma,f16c")]
    pub(super) unsafe fn dot<const T: usize>(xs: &[Q6K], ys: [&[Q8K]; T]) -> [f32; T] {
        let m4 = _mm512_set1_epi8(0x0F);
        let m2 = _mm512_set1_epi8(0x03);
        let orders = [[order(0, 0), order(0, 1)], [order(1, 0), order(1, 1)]];
        let mut acc = [_mm512_setzero_ps(); T];
        // 32 · Σ_j scale_j · bsum_j (the offset of the stored 6-bit values) in f32 lanes,
        // summed once per row: a horizontal sum per block cost three shuffles and a scalar
        // chain.
        let mut acc_min = [_mm256_setzero_ps(); T];
        for (b, x) in xs.iter().enumerate() {
            prefetch_ahead(x, 4);
            let d = half_to_f32(x.d.to_bits());
            let sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(x.scales.as_ptr() as *const __m128i));
            let scales = _mm512_castsi256_si512(sc16);
            // For each half: the 128 values as two vectors of 64 (y[0..64], y[64..128]).
            let mut values = [[_mm512_setzero_si512(); 2]; 2];
            let mut svec = [[_mm512_setzero_si512(); 2]; 2];
            for h in 0..2 {
                let ql = _mm512_loadu_si512(x.ql.as_ptr().add(64 * h) as *const _);
                let qh = _mm256_loadu_si256(x.qh.as_ptr().add(32 * h) as *const __m256i);
                // High bits: bytes 0–31 of the first vector take qh >> 0, bytes 32–63 qh >> 2;
                // of the second, qh >> 4 and qh >> 6.
                let h01 =
                    _mm512_inserti64x4::<1>(_mm512_castsi256_si512(qh), _mm256_srli_epi16::<2>(qh));
                let h23 = _mm512_inserti64x4::<1>(
                    _mm512_castsi256_si512(_mm256_srli_epi16::<4>(qh)),
                    _mm256_srli_epi16::<6>(qh),
                );
                let hi01 = _mm512_slli_epi16::<4>(_mm512_and_si512(h01, m2));
                let hi23 = _mm512_slli_epi16::<4>(_mm512_and_si512(h23, m2));
                values[h][0] = _mm512_or_si512(_mm512_and_si512(ql, m4), hi01);
                values[h][1] =
                    _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16::<4>(ql), m4), hi23);
                svec[h][0] = _mm512_permutexvar_epi16(orders[h][0], scales);
                svec[h][1] = _mm512_permutexvar_epi16(orders[h][1], scales);
            }
            for t in 0..T {
                let y = &ys[t][b];
                let mut sumi = _mm512_setzero_si512();
                for h in 0..2 {
                    for part in 0..2 {
                        let yv =
                            _mm512_loadu_si512(y.qs.as_ptr().add(128 * h + 64 * part) as *const _);
                        let p = _mm512_maddubs_epi16(values[h][part], yv);
                        sumi = _mm512_add_epi32(sumi, _mm512_madd_epi16(p, svec[h][part]));
                    }
                }
                let dy = d * y.d;
                acc[t] = _mm512_fmadd_ps(_mm512_set1_ps(dy), _mm512_cvtepi32_ps(sumi), acc[t]);
                let bsums = _mm256_loadu_si256(y.bsums.as_ptr() as *const __m256i);
                let m = _mm256_cvtepi32_ps(_mm256_madd_epi16(sc16, bsums));
                acc_min[t] = _mm256_fmadd_ps(_mm256_set1_ps(dy * 32.0), m, acc_min[t]);
            }
        }
        let mut out = [0f32; T];
        for t in 0..T {
            out[t] = _mm512_reduce_add_ps(acc[t]) - hsum256(acc_min[t]);
        }
        out
    }
}
