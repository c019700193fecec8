//! Q4_K × Q8_K dot product with AVX-512 (F + BW), chosen at run time; other CPUs use candle's
//! kernel (AVX2/FMA, NEON or scalar).
//!
//! Written here because candle 0.11 has only a 256-bit version and llama.cpp's 512-bit kernels
//! decoded Q4_K_M 1.8× faster than it on the same file (`bench/compare_llama_cpp.sh`). The
//! arithmetic is ggml's: per 256-value block, `d·Σ_j scale_j·Σ q·y − dmin·Σ_j min_j·Σ y`,
//! with the 4-bit values as the unsigned operand of `maddubs` (15 · 127 · 2 cannot saturate
//! i16) and the 6-bit scales applied by `madd`.

use candle_core::quantized::k_quants::{BlockQ4K, BlockQ8K, GgmlType};
use half::f16;
use std::sync::OnceLock;

/// ggml's `block_q4_K`, field by field (candle's fields are crate-private).
#[repr(C)]
struct Q4K {
    d: f16,
    dmin: f16,
    scales: [u8; 12],
    qs: [u8; 128],
}

/// ggml's `block_q8_K`.
#[repr(C)]
struct Q8K {
    d: f32,
    qs: [i8; 256],
    bsums: [i16; 16],
}

const _: () = assert!(std::mem::size_of::<Q4K>() == std::mem::size_of::<BlockQ4K>());
const _: () = assert!(std::mem::align_of::<Q4K>() == std::mem::align_of::<BlockQ4K>());
const _: () = assert!(std::mem::size_of::<Q8K>() == std::mem::size_of::<BlockQ8K>());
const _: () = assert!(std::mem::align_of::<Q8K>() == std::mem::align_of::<BlockQ8K>());

fn has_avx512() -> bool {
    static HAS: OnceLock<bool> = OnceLock::new();
    *HAS.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            std::env::var("JSLM_NO_AVX512").is_err()
                && is_x86_feature_detected!("avx512f")
                && is_x86_feature_detected!("avx512bw")
                && is_x86_feature_detected!("avx2")
                && is_x86_feature_detected!("fma")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    })
}

/// How far ahead of the block being multiplied the kernel asks for weights, in bytes.
/// Decoding streams the whole file through each core once per token, and the hardware
/// prefetcher alone left the kernel waiting on memory: on the 2-core Xeon this took one-thread
/// Q4_K_M decode from 1.30 to 2.15 tokens/s (512 B: 1.97, 1 KiB: 2.02, 4 KiB: 1.95).
const PREFETCH_BYTES: usize = 2048;

/// `Σ dequant(xs) · dequant(ys)` over `n` values.
pub(crate) fn dot(n: usize, xs: &[BlockQ4K], ys: &[BlockQ8K]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if has_avx512() {
        let blocks = n / 256;
        assert!(xs.len() >= blocks && ys.len() >= blocks);
        // SAFETY: same size and alignment (asserted above), both `repr(C)` with the fields in
        // ggml's order; the feature check above guards the target features.
        unsafe {
            let xs = std::slice::from_raw_parts(xs.as_ptr() as *const Q4K, blocks);
            let ys = std::slice::from_raw_parts(ys.as_ptr() as *const Q8K, blocks);
            return avx512::dot(xs, ys);
        }
    }
    BlockQ4K::vec_dot(n, xs, ys)
}

/// One weight row against four activation rows, for prompts: the weight block's nibbles and
/// scales are unpacked once for all four. `None` where only the one-row kernel exists.
pub(crate) fn dot4_kernel() -> Option<fn(usize, &[BlockQ4K], [&[BlockQ8K]; 4]) -> [f32; 4]> {
    #[cfg(target_arch = "x86_64")]
    if has_avx512() {
        return Some(if has_vnni() { dot4_vnni } else { dot4 });
    }
    None
}

#[cfg(target_arch = "x86_64")]
fn has_vnni() -> bool {
    static HAS: OnceLock<bool> = OnceLock::new();
    *HAS.get_or_init(|| {
        std::env::var("JSLM_NO_VNNI").is_err() && is_x86_feature_detected!("avx512vnni")
    })
}

#[cfg(target_arch = "x86_64")]
fn dot4_vnni(n: usize, xs: &[BlockQ4K], ys: [&[BlockQ8K]; 4]) -> [f32; 4] {
    let blocks = n / 256;
    assert!(xs.len() >= blocks && ys.iter().all(|y| y.len() >= blocks));
    assert!(has_avx512() && has_vnni());
    // SAFETY: as in `dot`.
    unsafe {
        let xs = std::slice::from_raw_parts(xs.as_ptr() as *const Q4K, blocks);
        let ys = ys.map(|y| std::slice::from_raw_parts(y.as_ptr() as *const Q8K, blocks));
        avx512::dot4_vnni(xs, ys)
    }
}

#[cfg(target_arch = "x86_64")]
fn dot4(n: usize, xs: &[BlockQ4K], ys: [&[BlockQ8K]; 4]) -> [f32; 4] {
    let blocks = n / 256;
    assert!(xs.len() >= blocks && ys.iter().all(|y| y.len() >= blocks));
    assert!(has_avx512());
    // SAFETY: as in `dot`.
    unsafe {
        let xs = std::slice::from_raw_parts(xs.as_ptr() as *const Q4K, blocks);
        let ys = ys.map(|y| std::slice::from_raw_parts(y.as_ptr() as *const Q8K, blocks));
        avx512::dot4(xs, ys)
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::{Q4K, Q8K};
    use std::arch::x86_64::*;

    /// One f16 to f32 with F16C, inline (`half`'s conversion is a call with its own check).
    #[inline]
    #[target_feature(enable = "f16c")]
    fn half_to_f32(bits: u16) -> f32 {
        _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(bits as i32)))
    }

    const KMASK1: u32 = 0x3f3f3f3f;
    const KMASK2: u32 = 0x0f0f0f0f;
    const KMASK3: u32 = 0x03030303;

    /// The eight 6-bit scales (bytes 0–7) and mins (bytes 8–15) of a block, as ggml's
    /// `get_scale_min_k4` reads them.
    #[inline(always)]
    fn scales_and_mins(packed: &[u8; 12]) -> [u32; 4] {
        let u = |i: usize| u32::from_le_bytes(packed[4 * i..4 * i + 4].try_into().unwrap());
        let (u0, u1, u2) = (u(0), u(1), u(2));
        [
            u0 & KMASK1,
            (u2 & KMASK2) | (((u0 >> 6) & KMASK3) << 4),
            u1 & KMASK1,
            ((u2 >> 4) & KMASK2) | (((u1 >> 6) & KMASK3) << 4),
        ]
    }

    #[target_feature(enable = "avx512f,avx512bw,avx2,fma,f16c")]
    pub(super) unsafe fn dot(xs: &[Q4K], ys: &[Q8K]) -> f32 {
        let m4 = _mm512_set1_epi8(0x0F);
        // Lane k of `scales` (i16) is scale k. For the 64 bytes of half h of a block, the low
        // nibbles of bytes 0–31 are sub-block 4h and of bytes 32–63 sub-block 4h+2; the high
        // nibbles are 4h+1 and 4h+3. Each 32-byte half of a vector takes one scale.
        // (Macros rather than closures, so every intrinsic is compiled with this function's
        // target features.)
        macro_rules! pick {
            ($a:expr, $b:expr) => {
                _mm512_inserti64x4::<1>(
                    _mm512_castsi256_si512(_mm256_set1_epi16($a)),
                    _mm256_set1_epi16($b),
                )
            };
        }
        let (lo0, hi0, lo1, hi1) = (pick!(0, 2), pick!(1, 3), pick!(4, 6), pick!(5, 7));
        let mut acc = _mm512_setzero_ps();
        let mut acc_m = _mm_setzero_ps();
        for (x, y) in xs.iter().zip(ys) {
            // Past the end of the row is fine: a prefetch never faults, and the next row
            // follows in the file.
            let p = (x as *const Q4K as *const i8).wrapping_add(super::PREFETCH_BYTES);
            _mm_prefetch::<_MM_HINT_T0>(p);
            _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(64));
            _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(128));
            let d = y.d * half_to_f32(x.d.to_bits());
            let dmin = y.d * half_to_f32(x.dmin.to_bits());
            let sm = scales_and_mins(&x.scales);
            let sm = _mm_set_epi32(sm[3] as i32, sm[2] as i32, sm[1] as i32, sm[0] as i32);
            let scales = _mm512_castsi128_si512(_mm_cvtepu8_epi16(sm));
            let mins = _mm_cvtepu8_epi16(_mm_unpackhi_epi64(sm, sm));

            // Σ_j min_j · Σ_{sub-block j} y: adjacent 16-value sums pair up per sub-block.
            let bsums = _mm256_loadu_si256(y.bsums.as_ptr() as *const __m256i);
            let q8s = _mm_hadd_epi16(
                _mm256_castsi256_si128(bsums),
                _mm256_extracti128_si256::<1>(bsums),
            );
            let prod = _mm_madd_epi16(mins, q8s);
            acc_m = _mm_fmadd_ps(_mm_set1_ps(dmin), _mm_cvtepi32_ps(prod), acc_m);

            let mut sumi = _mm512_setzero_si512();
            for (h, (slo, shi)) in [(lo0, hi0), (lo1, hi1)].into_iter().enumerate() {
                let q4 = _mm512_loadu_si512(x.qs.as_ptr().add(64 * h) as *const _);
                let lo = _mm512_and_si512(q4, m4);
                let hi = _mm512_and_si512(_mm512_srli_epi16::<4>(q4), m4);
                let y8 = y.qs.as_ptr().add(128 * h);
                macro_rules! load {
                    ($off:expr) => {
                        _mm256_loadu_si256(y8.add($off) as *const __m256i)
                    };
                }
                let ylo = _mm512_inserti64x4::<1>(_mm512_castsi256_si512(load!(0)), load!(64));
                let yhi = _mm512_inserti64x4::<1>(_mm512_castsi256_si512(load!(32)), load!(96));
                let s_lo = _mm512_permutexvar_epi16(slo, scales);
                let s_hi = _mm512_permutexvar_epi16(shi, scales);
                let plo = _mm512_madd_epi16(_mm512_maddubs_epi16(lo, ylo), s_lo);
                let phi = _mm512_madd_epi16(_mm512_maddubs_epi16(hi, yhi), s_hi);
                sumi = _mm512_add_epi32(sumi, _mm512_add_epi32(plo, phi));
            }
            acc = _mm512_fmadd_ps(_mm512_set1_ps(d), _mm512_cvtepi32_ps(sumi), acc);
        }
        let m = _mm_hadd_ps(acc_m, acc_m);
        let m = _mm_hadd_ps(m, m);
        _mm512_reduce_add_ps(acc) - _mm_cvtss_f32(m)
    }

    /// [`dot`] for four activation rows at once.
    #[target_feature(enable = "avx512f,avx512bw,avx2,fma,f16c")]
    pub(super) unsafe fn dot4(xs: &[Q4K], ys: [&[Q8K]; 4]) -> [f32; 4] {
        let m4 = _mm512_set1_epi8(0x0F);
        macro_rules! pick {
            ($a:expr, $b:expr) => {
                _mm512_inserti64x4::<1>(
                    _mm512_castsi256_si512(_mm256_set1_epi16($a)),
                    _mm256_set1_epi16($b),
                )
            };
        }
        let picks = [(pick!(0, 2), pick!(1, 3)), (pick!(4, 6), pick!(5, 7))];
        let mut acc = [_mm512_setzero_ps(); 4];
        let mut acc_m = [_mm_setzero_ps(); 4];
        for (b, x) in xs.iter().enumerate() {
            let p = (x as *const Q4K as *const i8).wrapping_add(super::PREFETCH_BYTES);
            _mm_prefetch::<_MM_HINT_T0>(p);
            _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(64));
            _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(128));
            let (xd, xdmin) = (half_to_f32(x.d.to_bits()), half_to_f32(x.dmin.to_bits()));
            let sm = scales_and_mins(&x.scales);
            let sm = _mm_set_epi32(sm[3] as i32, sm[2] as i32, sm[1] as i32, sm[0] as i32);
            let scales = _mm512_castsi128_si512(_mm_cvtepu8_epi16(sm));
            let mins = _mm_cvtepu8_epi16(_mm_unpackhi_epi64(sm, sm));
            let mut nibbles = [(_mm512_setzero_si512(), _mm512_setzero_si512()); 2];
            let mut svec = [(_mm512_setzero_si512(), _mm512_setzero_si512()); 2];
            for h in 0..2 {
                let q4 = _mm512_loadu_si512(x.qs.as_ptr().add(64 * h) as *const _);
                nibbles[h] = (
                    _mm512_and_si512(q4, m4),
                    _mm512_and_si512(_mm512_srli_epi16::<4>(q4), m4),
                );
                svec[h] = (
                    _mm512_permutexvar_epi16(picks[h].0, scales),
                    _mm512_permutexvar_epi16(picks[h].1, scales),
                );
            }
            for t in 0..4 {
                let y = &ys[t][b];
                let bsums = _mm256_loadu_si256(y.bsums.as_ptr() as *const __m256i);
                let q8s = _mm_hadd_epi16(
                    _mm256_castsi256_si128(bsums),
                    _mm256_extracti128_si256::<1>(bsums),
                );
                let prod = _mm_madd_epi16(mins, q8s);
                acc_m[t] = _mm_fmadd_ps(_mm_set1_ps(y.d * xdmin), _mm_cvtepi32_ps(prod), acc_m[t]);
                let mut sumi = _mm512_setzero_si512();
                for h in 0..2 {
                    let y8 = y.qs.as_ptr().add(128 * h);
                    macro_rules! load {
                        ($off:expr) => {
                            _mm256_loadu_si256(y8.add($off) as *const __m256i)
                        };
                    }
                    let ylo = _mm512_inserti64x4::<1>(_mm512_castsi256_si512(load!(0)), load!(64));
                    let yhi = _mm512_inserti64x4::<1>(_mm512_castsi256_si512(load!(32)), load!(96));
                    let plo = _mm512_madd_epi16(_mm512_maddubs_epi16(nibbles[h].0, ylo), svec[h].0);
                    let phi = _mm512_madd_epi16(_mm512_maddubs_epi16(nibbles[h].1, yhi), svec[h].1);
                    sumi = _mm512_add_epi32(sumi, _mm512_add_epi32(plo, phi));
                }
                acc[t] =
                    _mm512_fmadd_ps(_mm512_set1_ps(y.d * xd), _mm512_cvtepi32_ps(sumi), acc[t]);
            }
        }
        let mut out = [0f32; 4];
        for t in 0..4 {
            let m = _mm_hadd_ps(acc_m[t], acc_m[t]);
            let m = _mm_hadd_ps(m, m);
            out[t] = _mm512_reduce_add_ps(acc[t]) - _mm_cvtss_f32(m);
        }
        out
    }

    /// [`dot4`] with VNNI: `vpdpbusd` sums four nibble × byte products per i32 lane (at most
    /// 4 · 15 · 128 = 7,680, so the lanes pack to i16 without saturating), then one `vpmaddwd`
    /// applies the sub-block scales: three multiplies per 128 values instead of four.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni,avx2,fma,f16c")]
    pub(super) unsafe fn dot4_vnni(xs: &[Q4K], ys: [&[Q8K]; 4]) -> [f32; 4] {
        let m4 = _mm512_set1_epi8(0x0F);
        // After `packs_epi32(lo, hi)`, i16 lane p of 128-bit lane k holds lo's sums for
        // p % 8 < 4 and hi's otherwise; lo is sub-block 4h (k < 2) or 4h+2, hi one more.
        let order = |h: i16| {
            let mut idx = [0i16; 32];
            for (p, v) in idx.iter_mut().enumerate() {
                let k = (p / 8) as i16;
                let base = 4 * h + if k >= 2 { 2 } else { 0 };
                *v = base + if p % 8 < 4 { 0 } else { 1 };
            }
            _mm512_loadu_si512(idx.as_ptr() as *const _)
        };
        let picks = [order(0), order(1)];
        let mut acc = [_mm512_setzero_ps(); 4];
        let mut acc_m = [_mm_setzero_ps(); 4];
        for (b, x) in xs.iter().enumerate() {
            let p = (x as *const Q4K as *const i8).wrapping_add(super::PREFETCH_BYTES);
            _mm_prefetch::<_MM_HINT_T0>(p);
            _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(64));
            _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(128));
            let (xd, xdmin) = (half_to_f32(x.d.to_bits()), half_to_f32(x.dmin.to_bits()));
            let sm = scales_and_mins(&x.scales);
            let sm = _mm_set_epi32(sm[3] as i32, sm[2] as i32, sm[1] as i32, sm[0] as i32);
            let scales = _mm512_castsi128_si512(_mm_cvtepu8_epi16(sm));
            let mins = _mm_cvtepu8_epi16(_mm_unpackhi_epi64(sm, sm));
            let mut nibbles = [(_mm512_setzero_si512(), _mm512_setzero_si512()); 2];
            let mut svec = [_mm512_setzero_si512(); 2];
            for h in 0..2 {
                let q4 = _mm512_loadu_si512(x.qs.as_ptr().add(64 * h) as *const _);
                nibbles[h] = (
                    _mm512_and_si512(q4, m4),
                    _mm512_and_si512(_mm512_srli_epi16::<4>(q4), m4),
                );
                svec[h] = _mm512_permutexvar_epi16(picks[h], scales);
            }
            for t in 0..4 {
                let y = &ys[t][b];
                let bsums = _mm256_loadu_si256(y.bsums.as_ptr() as *const __m256i);
                let q8s = _mm_hadd_epi16(
                    _mm256_castsi256_si128(bsums),
                    _mm256_extracti128_si256::<1>(bsums),
                );
                let prod = _mm_madd_epi16(mins, q8s);
                acc_m[t] = _mm_fmadd_ps(_mm_set1_ps(y.d * xdmin), _mm_cvtepi32_ps(prod), acc_m[t]);
                let mut sumi = _mm512_setzero_si512();
                for h in 0..2 {
                    let y8 = y.qs.as_ptr().add(128 * h);
                    macro_rules! load {
                        ($off:expr) => {
                            _mm256_loadu_si256(y8.add($off) as *const __m256i)
                        };
                    }
                    let ylo = _mm512_inserti64x4::<1>(_mm512_castsi256_si512(load!(0)), load!(64));
                    let yhi = _mm512_inserti64x4::<1>(_mm512_castsi256_si512(load!(32)), load!(96));
                    let zero = _mm512_setzero_si512();
                    let slo = _mm512_dpbusd_epi32(zero, nibbles[h].0, ylo);
                    let shi = _mm512_dpbusd_epi32(zero, nibbles[h].1, yhi);
                    let packed = _mm512_packs_epi32(slo, shi);
                    sumi = _mm512_add_epi32(sumi, _mm512_madd_epi16(packed, svec[h]));
                }
                acc[t] =
                    _mm512_fmadd_ps(_mm512_set1_ps(y.d * xd), _mm512_cvtepi32_ps(sumi), acc[t]);
            }
        }
        let mut out = [0f32; 4];
        for t in 0..4 {
            let m = _mm_hadd_ps(acc_m[t], acc_m[t]);
            let m = _mm_hadd_ps(m, m);
            out[t] = _mm512_reduce_add_ps(acc[t]) - _mm_cvtss_f32(m);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Blocks with every bit pattern a file can hold: random nibbles, all 6-bit scales and
    /// mins, extreme activations (±127 after quantization).
    fn blocks(n: usize, seed: u64) -> (Vec<BlockQ4K>, Vec<BlockQ8K>) {
        let mut s = seed;
        let mut next = move || {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (s >> 33) as u32
        };
        let mut xs = vec![BlockQ4K::zeros(); n / 256];
        // SAFETY: plain old data; every byte pattern is a valid block (f16 scales included,
        // except NaN/inf, which we avoid by fixing the exponent bits below).
        let bytes =
            unsafe { std::slice::from_raw_parts_mut(xs.as_mut_ptr() as *mut u8, xs.len() * 144) };
        for b in bytes.iter_mut() {
            *b = next() as u8;
        }
        for block in bytes.chunks_mut(144) {
            // d and dmin: small positive normal halves.
            block[1] = 0x1c | (block[1] & 0x03);
            block[3] = 0x1c | (block[3] & 0x03);
        }
        let acts: Vec<f32> = (0..n)
            .map(|i| match i % 97 {
                0 => 1e3,
                1 => -1e3,
                _ => (next() as f32 / u32::MAX as f32) * 2.0 - 1.0,
            })
            .collect();
        let mut ys = vec![BlockQ8K::zeros(); n / 256];
        BlockQ8K::from_float(&acts, &mut ys);
        (xs, ys)
    }

    #[test]
    fn four_rows_match_one_row_at_a_time() {
        #[cfg(target_arch = "x86_64")]
        if has_avx512() {
            check_four(dot4);
            if has_vnni() {
                check_four(dot4_vnni);
            }
        }
    }

    fn check_four(dot4: fn(usize, &[BlockQ4K], [&[BlockQ8K]; 4]) -> [f32; 4]) {
        let n = 4096;
        let (xs, _) = blocks(n, 9);
        let ys: Vec<Vec<BlockQ8K>> = (0..4).map(|i| blocks(n, 20 + i).1).collect();
        let four = dot4(n, &xs, [&ys[0], &ys[1], &ys[2], &ys[3]]);
        for t in 0..4 {
            let one = dot(n, &xs, &ys[t]);
            assert!(
                (four[t] - one).abs() <= 1e-5 * one.abs().max(1.0),
                "{t}: {four:?} vs {one}"
            );
        }
    }

    #[test]
    fn matches_the_scalar_reference() {
        for (n, seed) in [(256, 1), (4096, 2), (14336, 3)] {
            let (xs, ys) = blocks(n, seed);
            let want = BlockQ4K::vec_dot_unopt(n, &xs, &ys);
            let got = dot(n, &xs, &ys);
            let scale = want.abs().max(1.0);
            assert!(
                (got - want).abs() <= 1e-5 * scale * (n / 256) as f32,
                "n={n}: {got} vs {want} (avx512: {})",
                has_avx512()
            );
        }
    }
}
