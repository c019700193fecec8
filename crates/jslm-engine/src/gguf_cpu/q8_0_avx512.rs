//! Q8_0 × Q8_0 dot products with AVX-512 BW + VNNI, one weight row against `T` activation
//! rows (`kernels.rs` chooses them; without VNNI the AVX2 kernel runs).
//!
//! Written here for the same reasons as the Q4_K kernel: candle's is 256-bit and cannot
//! prefetch. Two 32-value blocks fill a 512-bit register; `vpdpbusd` needs an unsigned
//! operand, so the weights enter as |x| and their signs move onto the activations (the
//! activations are at most 127 in magnitude, so the negation cannot overflow).

use super::block_views::Q8;
use super::simd::view;
use candle_core::quantized::k_quants::BlockQ8_0;

/// One weight row against `T` activation rows.
#[cfg(target_arch = "x86_64")]
pub(crate) fn rows<const T: usize>(n: usize, xs: &[BlockQ8_0], ys: [&[BlockQ8_0]; T]) -> [f32; T] {
    assert!(crate::isa::Isa::Avx512.supported() && super::q4k_avx512::vnni_detected());
    // SAFETY: `Q8` has candle's size and alignment (asserted) and ggml's field order; the
    // feature check guards the target features (VNNI implies the rest).
    unsafe { avx512::dot::<T>(view(xs, n / 32), ys.map(|y| view(y, n / 32))) }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::super::simd::{half_product, half_to_f32, prefetch_ahead};
    use super::Q8;
    use std::arch::x86_64::*;

    /// `T` activation rows against one weight row; the weight pair's magnitudes and signs are
    /// computed once for all of them.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni,avx2,fma,f16c")]
    pub(super) unsafe fn dot<const T: usize>(xs: &[Q8], ys: [&[Q8]; T]) -> [f32; T] {
        let zero = _mm512_setzero_si512();
        let mut acc = [_mm512_setzero_ps(); T];
        let pairs = xs.len() / 2;
        macro_rules! pair256 {
            ($blocks:expr, $b:expr) => {
                _mm512_inserti64x4::<1>(
                    _mm512_castsi256_si512(_mm256_loadu_si256(
                        $blocks[$b].qs.as_ptr() as *const __m256i
                    )),
                    _mm256_loadu_si256($blocks[$b + 1].qs.as_ptr() as *const __m256i),
                )
            };
        }
        macro_rules! halves {
            ($a:expr, $b:expr) => {
                _mm512_castpd_ps(_mm512_insertf64x4::<1>(
                    _mm512_castps_pd(_mm512_castps256_ps512(_mm256_set1_ps($a))),
                    _mm256_castps_pd(_mm256_set1_ps($b)),
                ))
            };
        }
        for p in 0..pairs {
            let b = 2 * p;
            prefetch_ahead(&xs[b], 2);
            let x = pair256!(xs, b);
            let ax = _mm512_abs_epi8(x);
            let negative = _mm512_movepi8_mask(x);
            for t in 0..T {
                let y = pair256!(ys[t], b);
                let sy = _mm512_mask_sub_epi8(y, negative, zero, y);
                let s = _mm512_dpbusd_epi32(zero, ax, sy);
                let d = halves!(
                    half_product(xs[b].d.to_bits(), ys[t][b].d.to_bits()),
                    half_product(xs[b + 1].d.to_bits(), ys[t][b + 1].d.to_bits())
                );
                acc[t] = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(s), acc[t]);
            }
        }
        let mut out = [0f32; T];
        for t in 0..T {
            out[t] = _mm512_reduce_add_ps(acc[t]);
            if xs.len() % 2 == 1 {
                let b = xs.len() - 1;
                let (x, y) = (&xs[b], &ys[t][b]);
                let s: i32 =
                    x.qs.iter()
                        .zip(&y.qs)
                        .map(|(&a, &c)| a as i32 * c as i32)
                        .sum();
                out[t] += s as f32 * half_to_f32(x.d.to_bits()) * half_to_f32(y.d.to_bits());
            }
        }
        out
    }
}
