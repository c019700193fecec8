//! Q4_K × Q8_K dot products with AVX2 + FMA + F16C, one weight row against `T` activation
//! rows: what AVX2-only CPUs decode with.
//!
//! ggml's AVX2 arithmetic (candle's `vec_dot_q4k_q8k` is the same): per 64 values the low and
//! high nibbles of 32 bytes enter `maddubs` as the unsigned operand (15 · 128 · 2 cannot
//! saturate i16), one `madd` applies the sub-block scale, and the mins are `dmin · Σ_j m_j ·
//! bsum_j`. Ours adds what made the AVX-512 kernel fast: F16C scales inline, software
//! prefetch, and the block unpacked once for all `T` tokens.

use super::q4k_avx512::{Q4K, Q8K};
use super::simd::view;
use candle_core::quantized::k_quants::{BlockQ4K, BlockQ8K};

/// One weight row against `T` activation rows.
#[cfg(target_arch = "x86_64")]
pub(crate) fn rows<const T: usize>(n: usize, xs: &[BlockQ4K], ys: [&[BlockQ8K]; T]) -> [f32; T] {
    assert!(crate::isa::Isa::Avx2.supported());
    // SAFETY: `Q4K`/`Q8K` have candle's sizes and alignments (asserted beside them) and ggml's
    // field order; the check above guards the target features.
    unsafe { imp::dot::<T>(view(xs, n / 256), ys.map(|y| view(y, n / 256))) }
}

#[cfg(target_arch = "x86_64")]
mod imp {
    use super::super::simd::{half_to_f32, prefetch_ahead};
    use super::{Q4K, Q8K};
    use std::arch::x86_64::*;

    /// i16 pairs (2j, 2j+1) of the scale vector: lanes of sub-block `j` take scale j.
    const fn shuffle_k4() -> [[u8; 32]; 8] {
        let mut out = [[0u8; 32]; 8];
        let mut j = 0;
        while j < 8 {
            let mut i = 0;
            while i < 32 {
                out[j][i] = (2 * j + i % 2) as u8;
                i += 1;
            }
            j += 1;
        }
        out
    }
    static SHUFFLE_K4: [[u8; 32]; 8] = shuffle_k4();

    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) unsafe fn dot<const T: usize>(xs: &[Q4K], ys: [&[Q8K]; T]) -> [f32; T] {
        let m4 = _mm256_set1_epi8(0x0F);
        let mut acc = [_mm256_setzero_ps(); T];
        let mut acc_m = [_mm_setzero_ps(); T];
        for (b, x) in xs.iter().enumerate() {
            prefetch_ahead(x, 3);
            let (xd, xdmin) = (half_to_f32(x.d.to_bits()), half_to_f32(x.dmin.to_bits()));
            let sm = super::super::q4k_avx512::scales_and_mins(&x.scales);
            let mins_and_scales = _mm256_cvtepu8_epi16(_mm_set_epi32(
                sm[3] as i32,
                sm[2] as i32,
                sm[1] as i32,
                sm[0] as i32,
            ));
            let mins = _mm256_extracti128_si256::<1>(mins_and_scales);
            let sc128 = _mm256_castsi256_si128(mins_and_scales);
            let scales = _mm256_inserti128_si256::<1>(_mm256_castsi128_si256(sc128), sc128);
            let mut sumi = [_mm256_setzero_si256(); T];
            for j in 0..4 {
                let scale_l = _mm256_shuffle_epi8(
                    scales,
                    _mm256_loadu_si256(SHUFFLE_K4[2 * j].as_ptr() as *const __m256i),
                );
                let scale_h = _mm256_shuffle_epi8(
                    scales,
                    _mm256_loadu_si256(SHUFFLE_K4[2 * j + 1].as_ptr() as *const __m256i),
                );
                let q4 = _mm256_loadu_si256(x.qs.as_ptr().add(32 * j) as *const __m256i);
                let q4l = _mm256_and_si256(q4, m4);
                let q4h = _mm256_and_si256(_mm256_srli_epi16::<4>(q4), m4);
                for t in 0..T {
                    let q8 = ys[t][b].qs.as_ptr().add(64 * j);
                    let q8l = _mm256_loadu_si256(q8 as *const __m256i);
                    let q8h = _mm256_loadu_si256(q8.add(32) as *const __m256i);
                    let pl = _mm256_madd_epi16(scale_l, _mm256_maddubs_epi16(q4l, q8l));
                    let ph = _mm256_madd_epi16(scale_h, _mm256_maddubs_epi16(q4h, q8h));
                    sumi[t] = _mm256_add_epi32(sumi[t], _mm256_add_epi32(pl, ph));
                }
            }
            for t in 0..T {
                let y = &ys[t][b];
                let bsums = _mm256_loadu_si256(y.bsums.as_ptr() as *const __m256i);
                let q8s = _mm_hadd_epi16(
                    _mm256_castsi256_si128(bsums),
                    _mm256_extracti128_si256::<1>(bsums),
                );
                let prod = _mm_madd_epi16(mins, q8s);
                acc_m[t] = _mm_fmadd_ps(_mm_set1_ps(y.d * xdmin), _mm_cvtepi32_ps(prod), acc_m[t]);
                acc[t] = _mm256_fmadd_ps(
                    _mm256_set1_ps(y.d * xd),
                    _mm256_cvtepi32_ps(sumi[t]),
                    acc[t],
                );
            }
        }
        let mut out = [0f32; T];
        for t in 0..T {
            out[t] = hsum(acc[t]) - hsum128(acc_m[t]);
        }
        out
    }

    #[inline(always)]
    pub(in super::super) unsafe fn hsum(x: __m256) -> f32 {
        hsum128(_mm_add_ps(
            _mm256_castps256_ps128(x),
            _mm256_extractf128_ps::<1>(x),
        ))
    }

    #[inline(always)]
    unsafe fn hsum128(x: __m128) -> f32 {
        let x = _mm_add_ps(x, _mm_movehl_ps(x, x));
        _mm_cvtss_f32(_mm_add_ss(x, _mm_movehdup_ps(x)))
    }
}

#[cfg(target_arch = "x86_64")]
pub(super) use imp::hsum as hsum256;
