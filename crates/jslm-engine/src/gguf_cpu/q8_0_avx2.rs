//! Q8_0 × Q8_0 dot products with AVX2 + FMA + F16C, one weight row against `T` activation
//! rows: what AVX2-only CPUs (and AVX-512 CPUs without VNNI) decode Q8_0 with.
//!
//! ggml's arithmetic: `maddubs` needs an unsigned operand, so the weights enter as |x| and
//! their signs move onto the activations (`vpsignb`; activations are at most 127 in magnitude,
//! so the negation cannot overflow). Ours converts the f16 scales inline with F16C, prefetches,
//! and reuses the weights' magnitudes and signs for all `T` tokens.

use super::q8_0_avx512::Q8;
use super::simd::view;
use candle_core::quantized::k_quants::BlockQ8_0;

/// One weight row against `T` activation rows.
#[cfg(target_arch = "x86_64")]
pub(crate) fn rows<const T: usize>(n: usize, xs: &[BlockQ8_0], ys: [&[BlockQ8_0]; T]) -> [f32; T] {
    assert!(crate::isa::Isa::Avx2.supported());
    // SAFETY: `Q8` has candle's size and alignment (asserted beside it) and ggml's field
    // order; the check above guards the target features.
    unsafe { imp::dot::<T>(view(xs, n / 32), ys.map(|y| view(y, n / 32))) }
}

#[cfg(target_arch = "x86_64")]
mod imp {
    use super::super::simd::{half_to_f32, hsum256, prefetch_ahead};
    use super::Q8;
    use std::arch::x86_64::*;

    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) unsafe fn dot<const T: usize>(xs: &[Q8], ys: [&[Q8]; T]) -> [f32; T] {
        let ones = _mm256_set1_epi16(1);
        let mut acc = [_mm256_setzero_ps(); T];
        for (b, x) in xs.iter().enumerate() {
            // Every other block: a 34-byte block per 32 bytes of cache line.
            if b % 2 == 0 {
                prefetch_ahead(x, 2);
            }
            let xv = _mm256_loadu_si256(x.qs.as_ptr() as *const __m256i);
            let ax = _mm256_sign_epi8(xv, xv);
            let dx = half_to_f32(x.d.to_bits());
            for t in 0..T {
                let y = &ys[t][b];
                let yv = _mm256_loadu_si256(y.qs.as_ptr() as *const __m256i);
                let sy = _mm256_sign_epi8(yv, xv);
                let s = _mm256_madd_epi16(ones, _mm256_maddubs_epi16(ax, sy));
                let d = _mm256_set1_ps(dx * half_to_f32(y.d.to_bits()));
                acc[t] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(s), acc[t]);
            }
        }
        let mut out = [0f32; T];
        for t in 0..T {
            out[t] = hsum256(acc[t]);
        }
        out
    }
}
