//! Activations quantized to the weights' partner type with AVX-512 or AVX2, bit for bit as
//! candle's scalar `from_float` does it: Q8_K (the partner of Q4_K and Q6_K) and Q8_0 (of
//! Q8_0).
//!
//! Written here because candle's versions are scalar (a `round()` call per value): a decode
//! step quantizes its activations once per matrix on one thread while the other threads wait,
//! 13 µs for a row of 4,096 and 44–70 µs for 14,336, about 4.5 ms of each 7B token on a 2-core
//! Zen 4. These take 1.2 µs (AVX-512) or 1.5 µs (AVX2) for 4,096, 4.3 or 5.2 µs for 14,336.
//! A Q8_0 prompt of 128 tokens quantized 4.7 µs per token and row of 4,096 with candle's code
//! (BENCHMARKS.md, stop 28).
//!
//! Q8_K's arithmetic is candle's: `max` is the first value of the largest magnitude, `q =
//! round(-127 / max · x)` (halves away from zero, as Rust's `round`; NaN to 0 and ±∞ — a
//! subnormal `max` — saturated, as `as i8` does),
//! `d = 1 / (-127 / max)`, and `bsums` the sums of 16 consecutive `q`. Q8_0's: `amax` the
//! largest magnitude (NaN ignored), `d = amax / 127` stored as f16, `q = round(x · (1 / d))`
//! (`1 / d` as 0 where `d` is 0; out-of-range products saturate and NaN becomes 0, as `as i8`).

use crate::isa::Isa;
use candle_core::quantized::k_quants::{BlockQ8K, BlockQ8_0, GgmlType};

/// Quantizes `xs` (whole blocks of 256) into `ys` with `isa`'s instructions (candle's scalar
/// code for `Isa::Generic`).
pub(crate) fn quantize(isa: Isa, xs: &[f32], ys: &mut [BlockQ8K]) {
    assert_eq!(
        xs.len(),
        ys.len() * 256,
        "activations are not whole Q8_K blocks"
    );
    #[cfg(target_arch = "x86_64")]
    {
        use super::block_views::Q8K;
        use super::simd::view_mut;
        let wide = match isa {
            Isa::Avx512 => true,
            Isa::AvxVnni | Isa::Avx2 => false,
            Isa::Generic => return BlockQ8K::from_float(xs, ys),
        };
        assert!(isa.supported());
        // SAFETY: `Q8K` has `BlockQ8K`'s layout (asserted beside it); any bits are valid.
        let ys: &mut [Q8K] = unsafe { view_mut(ys) };
        for (x, y) in xs.chunks_exact(256).zip(ys) {
            let x: &[f32; 256] = x.try_into().expect("chunks of 256");
            // SAFETY: `isa.supported()` checked the target features.
            unsafe {
                if wide {
                    x86::block_avx512(x, y)
                } else {
                    x86::block_avx2(x, y)
                }
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = isa;
        BlockQ8K::from_float(xs, ys)
    }
}

/// Quantizes `xs` (whole blocks of 32) into `ys` as candle's `BlockQ8_0::from_float` does,
/// with AVX2 where `isa` has it (every x86 set but `Generic`).
pub(crate) fn quantize_q8_0(isa: Isa, xs: &[f32], ys: &mut [BlockQ8_0]) {
    assert_eq!(
        xs.len(),
        ys.len() * 32,
        "activations are not whole Q8_0 blocks"
    );
    #[cfg(target_arch = "x86_64")]
    if isa != Isa::Generic {
        use super::block_views::Q8;
        use super::simd::view_mut;
        assert!(isa.supported());
        // SAFETY: `Q8` has `BlockQ8_0`'s layout (asserted beside it); any bits are valid.
        let ys: &mut [Q8] = unsafe { view_mut(ys) };
        for (x, y) in xs.chunks_exact(32).zip(ys) {
            let x: &[f32; 32] = x.try_into().expect("chunks of 32");
            // SAFETY: every x86 set but `Generic` has AVX2 and F16C; `supported` checked it.
            unsafe { x86::q8_0_avx2(x, y) }
        }
        return;
    }
    let _ = isa;
    BlockQ8_0::from_float(xs, ys)
}

/// The quantization of activations to a weight type's partner: ours for Q8_K and Q8_0,
/// candle's `from_float` for every other type.
pub(crate) fn quantize_for<U: GgmlType>(isa: Isa, xs: &[f32], ys: &mut [U]) {
    if U::DTYPE == BlockQ8K::DTYPE {
        // SAFETY: `U` is `BlockQ8K` (same dtype, and each dtype has one block type).
        let ys: &mut [BlockQ8K] =
            unsafe { std::slice::from_raw_parts_mut(ys.as_mut_ptr().cast(), ys.len()) };
        quantize(isa, xs, ys)
    } else if U::DTYPE == BlockQ8_0::DTYPE {
        // SAFETY: as above, for `BlockQ8_0`.
        let ys: &mut [BlockQ8_0] =
            unsafe { std::slice::from_raw_parts_mut(ys.as_mut_ptr().cast(), ys.len()) };
        quantize_q8_0(isa, xs, ys)
    } else {
        U::from_float(xs, ys)
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::super::block_views::Q8;
    use super::super::block_views::Q8K;
    use std::arch::x86_64::*;

    /// Index of the first value whose magnitude is `amax`, from per-vector equality masks.
    #[inline(always)]
    fn first(masks: impl Iterator<Item = u32>, per_vector: u32) -> usize {
        for (i, mask) in masks.enumerate() {
            if mask != 0 {
                return i * per_vector as usize + mask.trailing_zeros() as usize;
            }
        }
        unreachable!("amax is the magnitude of some value")
    }

    fn zero(y: &mut Q8K) {
        y.d = 0.0;
        y.qs.fill(0);
        y.bsums.fill(0);
    }

    #[target_feature(enable = "avx512f,avx512bw")]
    pub(super) unsafe fn block_avx512(x: &[f32; 256], y: &mut Q8K) {
        let load = |i: usize| {
            // SAFETY: 16 floats at 16·i < 256.
            unsafe { _mm512_loadu_ps(x.as_ptr().add(16 * i)) }
        };
        let mut vmax = _mm512_setzero_ps();
        for i in 0..16 {
            // NaN in the first operand yields the second: NaN never wins, as in candle's `<`.
            vmax = _mm512_max_ps(_mm512_abs_ps(load(i)), vmax);
        }
        let amax = _mm512_reduce_max_ps(vmax);
        if amax == 0.0 {
            return zero(y);
        }
        let target = _mm512_set1_ps(amax);
        let masks = (0..16)
            .map(|i| _mm512_cmp_ps_mask::<_CMP_EQ_OQ>(_mm512_abs_ps(load(i)), target) as u32);
        let iscale = -127f32 / x[first(masks, 16)];
        let (scale, half, one) = (
            _mm512_set1_ps(iscale),
            _mm512_set1_ps(0.5),
            _mm512_set1_ps(1.0),
        );
        let sign = _mm512_set1_epi32(i32::MIN);
        for i in 0..16 {
            let v = _mm512_mul_ps(scale, load(i));
            let t = _mm512_roundscale_ps::<{ _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC }>(v);
            // Exact for |v| < 2²³; halves round away from zero.
            let away = _mm512_cmp_ps_mask::<_CMP_GE_OQ>(_mm512_abs_ps(_mm512_sub_ps(v, t)), half);
            let step = _mm512_castsi512_ps(_mm512_or_si512(
                _mm512_castps_si512(one),
                _mm512_and_si512(_mm512_castps_si512(v), sign),
            ));
            // ±∞ (a subnormal `max` makes the scale infinite) saturate as `as i8` does.
            let r = _mm512_min_ps(
                _mm512_max_ps(_mm512_mask_add_ps(t, away, t, step), _mm512_set1_ps(-128.0)),
                _mm512_set1_ps(127.0),
            );
            let ordered = _mm512_cmp_ps_mask::<_CMP_ORD_Q>(v, v);
            let ints = _mm512_maskz_cvttps_epi32(ordered, r);
            // SAFETY: 16 bytes at 16·i of the 256 `qs`.
            unsafe {
                _mm_storeu_si128(
                    y.qs.as_mut_ptr().add(16 * i) as *mut __m128i,
                    _mm512_cvtsepi32_epi8(ints),
                )
            };
            y.bsums[i] = _mm512_reduce_add_epi32(ints) as i16;
        }
        y.d = 1.0 / iscale;
    }

    /// `f32::round(v) as i8` per lane, in i32 lanes: halves away from zero (exact for
    /// |v| < 2²³), saturated to i8's range, NaN to 0.
    #[inline(always)]
    unsafe fn round_as_i8(v: __m256) -> __m256i {
        let t = _mm256_round_ps::<{ _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC }>(v);
        let frac = _mm256_andnot_ps(_mm256_set1_ps(-0.0), _mm256_sub_ps(v, t));
        let away = _mm256_cmp_ps::<_CMP_GE_OQ>(frac, _mm256_set1_ps(0.5));
        let sign = _mm256_and_ps(v, _mm256_set1_ps(-0.0));
        let step = _mm256_and_ps(away, _mm256_or_ps(_mm256_set1_ps(1.0), sign));
        // ±∞ (and anything past i8) saturate as `as i8` does; NaN is masked to 0 below.
        let r = _mm256_min_ps(
            _mm256_max_ps(_mm256_add_ps(t, step), _mm256_set1_ps(-128.0)),
            _mm256_set1_ps(127.0),
        );
        let ordered = _mm256_castps_si256(_mm256_cmp_ps::<_CMP_ORD_Q>(v, v));
        _mm256_and_si256(_mm256_cvttps_epi32(r), ordered)
    }

    /// One Q8_0 block, as candle's `BlockQ8_0::from_float`.
    #[target_feature(enable = "avx2,f16c")]
    pub(super) unsafe fn q8_0_avx2(x: &[f32; 32], y: &mut Q8) {
        // SAFETY: 8 floats at 8·i < 32.
        let v: [__m256; 4] =
            std::array::from_fn(|i| unsafe { _mm256_loadu_ps(x.as_ptr().add(8 * i)) });
        let abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(i32::MAX));
        let mut vmax = _mm256_setzero_ps();
        for v in v {
            // NaN in the first operand yields the second: NaN never wins, as in `f32::max`.
            vmax = _mm256_max_ps(_mm256_and_ps(v, abs_mask), vmax);
        }
        let m = _mm_max_ps(
            _mm256_castps256_ps128(vmax),
            _mm256_extractf128_ps::<1>(vmax),
        );
        let m = _mm_max_ps(m, _mm_movehl_ps(m, m));
        let amax = _mm_cvtss_f32(_mm_max_ss(m, _mm_shuffle_ps::<1>(m, m)));
        let d = amax / 127.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        y.d = half::f16::from_f32(d);
        let scale = _mm256_set1_ps(id);
        let q = v.map(|v| round_as_i8(_mm256_mul_ps(v, scale)));
        // In i8's range, so the saturating packs only narrow; the permute undoes their
        // per-lane interleaving.
        let words = _mm256_packs_epi32(q[0], q[1]);
        let words2 = _mm256_packs_epi32(q[2], q[3]);
        let bytes = _mm256_permutevar8x32_epi32(
            _mm256_packs_epi16(words, words2),
            _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7),
        );
        // SAFETY: the 32 bytes of `qs`.
        unsafe { _mm256_storeu_si256(y.qs.as_mut_ptr() as *mut __m256i, bytes) };
    }

    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn block_avx2(x: &[f32; 256], y: &mut Q8K) {
        let load = |i: usize| {
            // SAFETY: 8 floats at 8·i < 256.
            unsafe { _mm256_loadu_ps(x.as_ptr().add(8 * i)) }
        };
        let abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(i32::MAX));
        let abs = |v: __m256| _mm256_and_ps(v, abs_mask);
        let mut vmax = _mm256_setzero_ps();
        for i in 0..32 {
            vmax = _mm256_max_ps(abs(load(i)), vmax);
        }
        let m = _mm_max_ps(
            _mm256_castps256_ps128(vmax),
            _mm256_extractf128_ps::<1>(vmax),
        );
        let m = _mm_max_ps(m, _mm_movehl_ps(m, m));
        let amax = _mm_cvtss_f32(_mm_max_ss(m, _mm_shuffle_ps::<1>(m, m)));
        if amax == 0.0 {
            return zero(y);
        }
        let target = _mm256_set1_ps(amax);
        let masks = (0..32)
            .map(|i| _mm256_movemask_ps(_mm256_cmp_ps::<_CMP_EQ_OQ>(abs(load(i)), target)) as u32);
        let iscale = -127f32 / x[first(masks, 8)];
        let scale = _mm256_set1_ps(iscale);
        for i in 0..16 {
            let a = round_as_i8(_mm256_mul_ps(scale, load(2 * i)));
            let b = round_as_i8(_mm256_mul_ps(scale, load(2 * i + 1)));
            // |q| ≤ 127, so the saturating packs only narrow; the permute undoes their
            // per-lane interleaving.
            let words = _mm256_permute4x64_epi64::<0b11_01_10_00>(_mm256_packs_epi32(a, b));
            let bytes = _mm_packs_epi16(
                _mm256_castsi256_si128(words),
                _mm256_extracti128_si256::<1>(words),
            );
            // SAFETY: 16 bytes at 16·i of the 256 `qs`.
            unsafe { _mm_storeu_si128(y.qs.as_mut_ptr().add(16 * i) as *mut __m128i, bytes) };
            let s = _mm256_add_epi32(a, b);
            let s = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256::<1>(s));
            let s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
            let s = _mm_add_epi32(s, _mm_shuffle_epi32::<1>(s));
            y.bsums[i] = _mm_cvtsi128_si32(s) as i16;
        }
        y.d = 1.0 / iscale;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gguf_cpu::simd::test_data::Lcg;

    /// The raw bytes of blocks, to compare them bit for bit (NaN-safe).
    fn bytes<T>(blocks: &[T]) -> &[u8] {
        // SAFETY: plain old data.
        unsafe { std::slice::from_raw_parts(blocks.as_ptr().cast(), std::mem::size_of_val(blocks)) }
    }

    fn rows() -> Vec<Vec<f32>> {
        let mut rng = Lcg::new(7);
        let mut uniform = |scale: f32| -> Vec<f32> {
            (0..1024)
                .map(|_| (rng.next_u32() as f32 / u32::MAX as f32 * 2.0 - 1.0) * scale)
                .collect()
        };
        // 1e-39 is subnormal: Q8_0's `1 / d` overflows to ∞ for some blocks (saturation).
        let mut out = vec![uniform(1.0), uniform(1e-30), uniform(3e30), uniform(1e-39)];
        // Exact halves: with max = -127 the scale is 1, so x.5 must round away from zero.
        let mut halves: Vec<f32> = (0..1024).map(|i| (i % 254) as f32 - 127.0 + 0.5).collect();
        halves[0] = -127.0;
        out.push(halves);
        // The largest magnitude twice with both signs: the first one sets the sign of `d`;
        // one zero block; infinities and NaN.
        let mut mixed = uniform(2.0);
        mixed[3] = 5.0;
        mixed[200] = -5.0;
        mixed[300] = -7.0;
        mixed[301] = 7.0;
        mixed[512..768].fill(0.0);
        mixed[800] = f32::INFINITY;
        mixed[900] = f32::NAN;
        out.push(mixed);
        let mut nan_first = uniform(1.0);
        nan_first[0] = f32::NAN;
        nan_first[255] = f32::NEG_INFINITY;
        out.push(nan_first);
        out
    }

    #[test]
    fn every_path_matches_candle_bit_for_bit() {
        for xs in rows() {
            let mut want = vec![BlockQ8K::zeros(); xs.len() / 256];
            BlockQ8K::from_float(&xs, &mut want);
            for isa in Isa::available() {
                let mut got = vec![BlockQ8K::zeros(); xs.len() / 256];
                quantize(isa, &xs, &mut got);
                assert_eq!(bytes(&got), bytes(&want), "{isa}");
            }
        }
    }

    #[test]
    fn q8_0_matches_candle_bit_for_bit() {
        let mut saturated = false;
        for xs in rows() {
            let mut want = vec![BlockQ8_0::zeros(); xs.len() / 32];
            BlockQ8_0::from_float(&xs, &mut want);
            saturated |= bytes(&want).contains(&0x80);
            for isa in Isa::available() {
                let mut got = vec![BlockQ8_0::zeros(); xs.len() / 32];
                quantize_q8_0(isa, &xs, &mut got);
                assert_eq!(bytes(&got), bytes(&want), "{isa}");
            }
        }
        assert!(
            saturated,
            "no block saturated to -128: the overflow case is not tested"
        );
    }
}
