//! One query against one block of keys and values with the online softmax: the inner loop of
//! `attention.rs`, in portable code and with AVX2 + FMA (every CPU our AVX2 and AVX-512
//! kernels run on).
//!
//! The portable loop (a dot product per position, `libm` exp, an axpy per position) cost
//! ~110 cycles per (query, position) pair with 128-dim heads: past ~1,000 tokens attention,
//! not the weights, bounded both prefill and decode (decode at position 2,048 ran at 3.3
//! instead of 5.3 tokens/s). The AVX2 version keeps four FMA chains per dot product, takes
//! the exps eight at a time (`exp8`, Cephes' polynomial as in ggml and candle), and
//! accumulates the values with the output in registers, eight positions per pass.

/// The running softmax of one query: its largest score so far, the sum of exp(score − max)
/// and the weighted values `acc` (scaled to that max).
pub(super) struct Running<'a> {
    pub max: &'a mut f32,
    pub sum: &'a mut f32,
    pub acc: &'a mut [f32],
}

/// One query against one block: positions `0..seen` of `k` and `v` (`seen × hd`,
/// position-major) for query `q` (`hd` values), scores scaled by `scale`.
pub(super) struct Fold<'a> {
    pub q: &'a [f32],
    pub k: &'a [f32],
    pub v: &'a [f32],
    pub seen: usize,
    pub scale: f32,
}

/// Folds the block into `run`. `scores` is scratch of ≥ `seen`.
pub(super) fn fold_block(fast: bool, f: &Fold, scores: &mut [f32], run: Running) {
    let hd = f.q.len();
    assert!(f.k.len() >= f.seen * hd && f.v.len() >= f.seen * hd && scores.len() >= f.seen);
    assert_eq!(run.acc.len(), hd);
    #[cfg(target_arch = "x86_64")]
    if fast {
        assert!(crate::isa::Isa::Avx2.supported());
        // SAFETY: AVX2 and FMA checked above; every slice length checked above.
        unsafe { fold_avx2(f, scores, run) };
        return;
    }
    let _ = fast;
    fold_portable(f, scores, run);
}

fn fold_portable(f: &Fold, scores: &mut [f32], run: Running) {
    let Fold {
        q,
        k,
        v,
        seen,
        scale,
    } = *f;
    let hd = q.len();
    let mut block_max = f32::NEG_INFINITY;
    for (p, score) in scores[..seen].iter_mut().enumerate() {
        *score = super::ops::dot(q, &k[p * hd..(p + 1) * hd]) * scale;
        block_max = block_max.max(*score);
    }
    let new_max = run.max.max(block_max);
    let correction = (*run.max - new_max).exp();
    if correction != 1.0 {
        run.acc.iter_mut().for_each(|a| *a *= correction);
    }
    let mut sum = *run.sum * correction;
    for (p, &score) in scores[..seen].iter().enumerate() {
        let e = (score - new_max).exp();
        sum += e;
        super::ops::axpy(e, &v[p * hd..(p + 1) * hd], run.acc);
    }
    *run.sum = sum;
    *run.max = new_max;
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn fold_avx2(f: &Fold, scores: &mut [f32], run: Running) {
    use super::simd::hsum256;
    use std::arch::x86_64::*;
    let Fold {
        q,
        k,
        v,
        seen,
        scale,
    } = *f;
    let hd = q.len();
    let (qp, kp, vp) = (q.as_ptr(), k.as_ptr(), v.as_ptr());
    // SAFETY (every pointer below): offsets stay within `seen × hd` of k and v, `hd` of q and
    // acc, and `seen` of scores (checked by `fold_block`).
    unsafe {
        let mut block_max = f32::NEG_INFINITY;
        for p in 0..seen {
            let row = kp.add(p * hd);
            let (mut a0, mut a1, mut a2, mut a3) = (
                _mm256_setzero_ps(),
                _mm256_setzero_ps(),
                _mm256_setzero_ps(),
                _mm256_setzero_ps(),
            );
            let mut d = 0;
            while d + 32 <= hd {
                a0 = _mm256_fmadd_ps(_mm256_loadu_ps(qp.add(d)), _mm256_loadu_ps(row.add(d)), a0);
                a1 = _mm256_fmadd_ps(
                    _mm256_loadu_ps(qp.add(d + 8)),
                    _mm256_loadu_ps(row.add(d + 8)),
                    a1,
                );
                a2 = _mm256_fmadd_ps(
                    _mm256_loadu_ps(qp.add(d + 16)),
                    _mm256_loadu_ps(row.add(d + 16)),
                    a2,
                );
                a3 = _mm256_fmadd_ps(
                    _mm256_loadu_ps(qp.add(d + 24)),
                    _mm256_loadu_ps(row.add(d + 24)),
                    a3,
                );
                d += 32;
            }
            while d + 8 <= hd {
                a0 = _mm256_fmadd_ps(_mm256_loadu_ps(qp.add(d)), _mm256_loadu_ps(row.add(d)), a0);
                d += 8;
            }
            let mut s = hsum256(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
            while d < hd {
                s += *qp.add(d) * *row.add(d);
                d += 1;
            }
            let s = s * scale;
            *scores.get_unchecked_mut(p) = s;
            block_max = block_max.max(s);
        }
        let new_max = run.max.max(block_max);
        let correction = (*run.max - new_max).exp();
        let acc = run.acc.as_mut_ptr();
        if correction != 1.0 {
            for d in 0..hd {
                *acc.add(d) *= correction;
            }
        }
        // exp(score − max), eight at a time.
        let sp = scores.as_mut_ptr();
        let mut sum = 0.0f32;
        let mut p = 0;
        let m = _mm256_set1_ps(new_max);
        while p + 8 <= seen {
            let e = exp8(_mm256_sub_ps(_mm256_loadu_ps(sp.add(p)), m));
            _mm256_storeu_ps(sp.add(p), e);
            sum += hsum256(e);
            p += 8;
        }
        while p < seen {
            let e = (*sp.add(p) - new_max).exp();
            *sp.add(p) = e;
            sum += e;
            p += 1;
        }
        // acc += Σ_p e_p · v_p, 64 output values held in registers per pass over the block.
        let mut d = 0;
        while d + 64 <= hd {
            let mut r = [_mm256_setzero_ps(); 8];
            for (j, r) in r.iter_mut().enumerate() {
                *r = _mm256_loadu_ps(acc.add(d + 8 * j));
            }
            for p in 0..seen {
                let e = _mm256_set1_ps(*sp.add(p));
                let row = vp.add(p * hd + d);
                for (j, r) in r.iter_mut().enumerate() {
                    *r = _mm256_fmadd_ps(e, _mm256_loadu_ps(row.add(8 * j)), *r);
                }
            }
            for (j, r) in r.iter().enumerate() {
                _mm256_storeu_ps(acc.add(d + 8 * j), *r);
            }
            d += 64;
        }
        while d + 8 <= hd {
            let mut r = _mm256_loadu_ps(acc.add(d));
            for p in 0..seen {
                r = _mm256_fmadd_ps(
                    _mm256_set1_ps(*sp.add(p)),
                    _mm256_loadu_ps(vp.add(p * hd + d)),
                    r,
                );
            }
            _mm256_storeu_ps(acc.add(d), r);
            d += 8;
        }
        while d < hd {
            let mut r = *acc.add(d);
            for p in 0..seen {
                r += *sp.add(p) * *vp.add(p * hd + d);
            }
            *acc.add(d) = r;
            d += 1;
        }
        *run.sum = *run.sum * correction + sum;
        *run.max = new_max;
    }
}

/// f16 bits to f32 for a block of keys or values. `half`'s slice conversion calls a function
/// per eight values (its F16C code sits behind a runtime check, so it cannot be inlined):
/// ~17 million calls per decoded token at position 2,048, a third of that token's time.
pub(super) fn f16_to_f32(fast: bool, src: &[u16], dst: &mut [f32]) {
    assert_eq!(src.len(), dst.len());
    #[cfg(not(target_arch = "x86_64"))]
    let _ = fast;
    #[cfg(target_arch = "x86_64")]
    if fast {
        assert!(crate::isa::Isa::Avx2.supported());
        // SAFETY: AVX2 (and with it F16C: `Isa::Avx2` requires both) checked above; lengths
        // checked above.
        unsafe { f16_to_f32_f16c(src, dst) };
        return;
    }
    use half::slice::{HalfBitsSliceExt, HalfFloatSliceExt};
    src.reinterpret_cast::<half::f16>()
        .convert_to_f32_slice(dst);
}

/// How far ahead the conversion asks for the cache's next bytes (as the weight kernels:
/// `simd::PREFETCH_BYTES`): past ~2,000 positions the cache no longer fits any CPU cache
/// and decode streams it from memory like the weights.
#[cfg(target_arch = "x86_64")]
const PREFETCH_BYTES: usize = super::simd::PREFETCH_BYTES;

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,f16c")]
unsafe fn f16_to_f32_f16c(src: &[u16], dst: &mut [f32]) {
    use std::arch::x86_64::*;
    let n = src.len();
    let mut i = 0;
    // SAFETY: `i + 8 <= n` for the vector loads and stores, `i < n` for the tail.
    unsafe {
        while i + 32 <= n {
            let at = src.as_ptr().add(i);
            _mm_prefetch::<_MM_HINT_T0>((at as *const i8).wrapping_add(PREFETCH_BYTES));
            for j in 0..4 {
                let h = _mm_loadu_si128(at.add(8 * j) as *const __m128i);
                _mm256_storeu_ps(dst.as_mut_ptr().add(i + 8 * j), _mm256_cvtph_ps(h));
            }
            i += 32;
        }
        while i + 8 <= n {
            let h = _mm_loadu_si128(src.as_ptr().add(i) as *const __m128i);
            _mm256_storeu_ps(dst.as_mut_ptr().add(i), _mm256_cvtph_ps(h));
            i += 8;
        }
    }
    for j in i..n {
        dst[j] = half::f16::from_bits(src[j]).to_f32();
    }
}

/// e^x for eight lanes of x ≤ 0 (scores minus their maximum): Cephes' expf (x = n·ln2 + r,
/// a degree-5 polynomial for e^r, 2^n from the exponent bits), as ggml's and candle's AVX
/// code; within 2 ulp of `f32::exp`, and 0 below −87 (where e^x underflows anyway).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
pub(super) fn exp8(x: std::arch::x86_64::__m256) -> std::arch::x86_64::__m256 {
    use std::arch::x86_64::*;
    let too_small = _mm256_cmp_ps::<_CMP_LT_OQ>(x, _mm256_set1_ps(-87.0));
    let x = _mm256_max_ps(x, _mm256_set1_ps(-87.0));
    let n = _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(_mm256_mul_ps(
        x,
        _mm256_set1_ps(std::f32::consts::LOG2_E),
    ));
    // r = x − n·ln2 in two steps (Cody–Waite) for precision.
    let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693_359_4), x);
    let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.121_944_4e-4), r);
    let mut y = _mm256_set1_ps(1.987_569_1e-4);
    for c in [
        1.398_199_9e-3,
        8.333_452e-3,
        4.166_579_6e-2,
        1.666_666_5e-1,
        0.5, // Cephes: 5.0000001201e-1, which is 0.5 in f32
    ] {
        y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(c));
    }
    let r2 = _mm256_mul_ps(r, r);
    let y = _mm256_add_ps(_mm256_fmadd_ps(y, r2, r), _mm256_set1_ps(1.0));
    let pow2n = _mm256_castsi256_ps(_mm256_slli_epi32::<23>(_mm256_add_epi32(
        _mm256_cvtps_epi32(n),
        _mm256_set1_epi32(127),
    )));
    _mm256_andnot_ps(too_small, _mm256_mul_ps(y, pow2n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn exp8_is_within_two_ulp_of_std() {
        if !crate::isa::Isa::Avx2.supported() {
            return;
        }
        use std::arch::x86_64::*;
        let mut worst = 0f32;
        let mut i = 0;
        while i < 200_000 {
            let xs: [f32; 8] = std::array::from_fn(|j| -((i + j) as f32) * 0.0005);
            let mut out = [0f32; 8];
            // SAFETY: AVX2 checked above.
            unsafe { _mm256_storeu_ps(out.as_mut_ptr(), exp8(_mm256_loadu_ps(xs.as_ptr()))) };
            for j in 0..8 {
                let want = xs[j].exp();
                if want > 1e-30 {
                    worst = worst.max(((out[j] - want) / want).abs());
                }
            }
            i += 8;
        }
        assert!(worst < 2.5e-7, "relative error {worst}");
        // Far below: 0, never a garbage power of two.
        let mut out = [1f32; 8];
        // SAFETY: AVX2 checked above.
        unsafe { _mm256_storeu_ps(out.as_mut_ptr(), exp8(_mm256_set1_ps(-1000.0))) };
        assert_eq!(out, [0.0; 8]);
    }

    #[test]
    fn f16_blocks_convert_exactly() {
        let bits: Vec<u16> = (0..1003u32).map(|i| (i * 65_521 % 65_536) as u16).collect();
        let want: Vec<f32> = bits
            .iter()
            .map(|&b| half::f16::from_bits(b).to_f32())
            .collect();
        for fast in [false, crate::isa::Isa::Avx2.supported()] {
            let mut got = vec![0f32; bits.len()];
            f16_to_f32(fast, &bits, &mut got);
            for (g, w) in got.iter().zip(&want) {
                assert!(
                    g.to_bits() == w.to_bits() || (g.is_nan() && w.is_nan()),
                    "{g} vs {w}"
                );
            }
        }
    }

    /// Both versions against each other for head sizes with and without tails, blocks of every
    /// length 1…70, a running state carried over, and scores far apart.
    #[test]
    fn avx2_fold_matches_the_portable_one() {
        if !crate::isa::Isa::Avx2.supported() {
            return;
        }
        let val = |i: usize, s: f32| ((i * 2_654_435_761 % 1000) as f32 / 500.0 - 1.0) * s;
        for hd in [8, 16, 24, 64, 100, 128] {
            for seen in [1, 2, 7, 8, 9, 31, 64, 70] {
                for spread in [0.5f32, 8.0] {
                    let q: Vec<f32> = (0..hd).map(|i| val(i + 3, spread)).collect();
                    let k: Vec<f32> = (0..seen * hd).map(|i| val(i + 17, 1.0)).collect();
                    let v: Vec<f32> = (0..seen * hd).map(|i| val(i + 29, 1.0)).collect();
                    let mut results = Vec::new();
                    for fast in [false, true] {
                        let (mut max, mut sum) = (0.3f32, 1.7f32);
                        let mut acc: Vec<f32> = (0..hd).map(|i| val(i + 5, 1.0)).collect();
                        let mut scores = vec![0f32; seen];
                        let run = Running {
                            max: &mut max,
                            sum: &mut sum,
                            acc: &mut acc,
                        };
                        let block = Fold {
                            q: &q,
                            k: &k,
                            v: &v,
                            seen,
                            scale: 0.125,
                        };
                        fold_block(fast, &block, &mut scores, run);
                        results.push((max, sum, acc));
                    }
                    let ((m0, s0, a0), (m1, s1, a1)) = (&results[0], &results[1]);
                    let close =
                        |a: f32, b: f32| (a - b).abs() <= 1e-5 * (1.0 + a.abs().max(b.abs()));
                    assert!(
                        close(*m0, *m1) && close(*s0, *s1),
                        "hd {hd} seen {seen}: {s0} vs {s1}"
                    );
                    for (i, (x, y)) in a0.iter().zip(a1).enumerate() {
                        assert!(
                            close(*x, *y),
                            "hd {hd} seen {seen} spread {spread} [{i}]: {x} vs {y}"
                        );
                    }
                }
            }
        }
    }
}
