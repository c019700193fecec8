//! Decode attention: the new token's queries that share a KV head (4 on Mistral 7B) against
//! that head's f16 keys and values, read in place, each key and value converted once in
//! registers and used for every query of the head.
//!
//! Why not the blocked path of `attention.rs` (which prompts use): for one token it converted
//! every key and value into f32 scratch and then read the scratch once per query. At position
//! 3,000 attention took ~50 ms of a 230 ms token on 2 Zen 4 cores, about 4× the time it takes
//! to stream the 390 MB cache from memory (`BENCHMARKS.md`, stop 25).
//!
//! The arithmetic is the blocked path's: scores in blocks of `BLOCK` positions, the online
//! softmax (running max, sum and rescaled output per query), `exp8` for the exps.

use super::attention_block::exp8;
use super::simd::hsum256;
use std::arch::x86_64::*;

/// Positions per softmax block: the exps of a block stay in L1 (`GROUP` × 32 floats).
const BLOCK: usize = 32;
/// Queries that share each loaded key and value (the vector registers of AVX2 hold 4 × 2
/// accumulators, the key or value and a broadcast).
const GROUP: usize = 4;

/// Whether `decode_head` serves a head of `head_dim` (the loops take 16 values at a time).
pub(super) fn serves(head_dim: usize) -> bool {
    head_dim > 0 && head_dim.is_multiple_of(16) && crate::isa::Isa::Avx2.supported()
}

/// `out` (`g × hd`) = softmax(q · kᵀ · scale) · v for the `g` queries `q` (`g × hd`) of one KV
/// head against its first `len` positions of keys `k` and values `v` (f16 bits, `len × hd`,
/// position-major). `len` ≥ 1.
pub(super) fn decode_head(
    q: &[f32],
    k: &[u16],
    v: &[u16],
    len: usize,
    scale: f32,
    out: &mut [f32],
) {
    let hd = k.len() / len.max(1);
    assert!(serves(hd), "head dim {hd} with AVX2: checked by the caller");
    assert!(len >= 1 && k.len() == len * hd && v.len() == len * hd);
    assert!(q.len() == out.len() && q.len().is_multiple_of(hd));
    let g = q.len() / hd;
    let mut j0 = 0;
    while j0 < g {
        let n = (g - j0).min(GROUP);
        let (q, out) = (&q[j0 * hd..(j0 + n) * hd], &mut out[j0 * hd..(j0 + n) * hd]);
        // SAFETY: AVX2, FMA and F16C checked by `serves` (`Isa::Avx2` requires all three);
        // the slices' lengths checked above.
        unsafe {
            match n {
                4 => queries::<4>(q, k, v, len, hd, scale, out),
                3 => queries::<3>(q, k, v, len, hd, scale, out),
                2 => queries::<2>(q, k, v, len, hd, scale, out),
                _ => queries::<1>(q, k, v, len, hd, scale, out),
            }
        }
        j0 += n;
    }
}

/// `G` queries against the whole head. `out` accumulates the weighted values, scaled to each
/// query's running max, and is normalized at the end.
// Position `i` indexes a key or value row and a column of `e`'s rows: not one slice to
// iterate.
#[allow(clippy::needless_range_loop)]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn queries<const G: usize>(
    q: &[f32],
    k: &[u16],
    v: &[u16],
    len: usize,
    hd: usize,
    scale: f32,
    out: &mut [f32],
) {
    out.fill(0.0);
    let mut max = [f32::NEG_INFINITY; G];
    let mut sum = [0f32; G];
    let mut e = [[0f32; BLOCK]; G];
    let (qp, kp, vp, op) = (q.as_ptr(), k.as_ptr(), v.as_ptr(), out.as_mut_ptr());
    // SAFETY (every pointer below): positions stay below `len` and dims below `hd` (a
    // multiple of 16), so keys and values stay within `len × hd`, queries and outputs within
    // `G × hd`.
    unsafe {
        // (A macro, not a closure: a closure would not share this function's target features.)
        macro_rules! half {
            ($p:expr) => {
                _mm256_cvtph_ps(_mm_loadu_si128($p as *const __m128i))
            };
        }
        for p0 in (0..len).step_by(BLOCK) {
            let n = (len - p0).min(BLOCK);
            // Scores: each key row converted once, multiplied with every query.
            for i in 0..n {
                let row = kp.add((p0 + i) * hd);
                // The next block's rows, while this one computes (past ~2,000 positions the
                // cache streams from memory, like the weights).
                for line in (0..hd * 2).step_by(64) {
                    let ahead = (BLOCK * hd) * 2 + line;
                    _mm_prefetch::<_MM_HINT_T0>((row as *const i8).wrapping_add(ahead));
                    let vrow = vp.add((p0 + i) * hd) as *const i8;
                    _mm_prefetch::<_MM_HINT_T0>(vrow.wrapping_add(ahead));
                }
                let mut acc = [[_mm256_setzero_ps(); 2]; G];
                for d in (0..hd).step_by(16) {
                    let (k0, k1) = (half!(row.add(d)), half!(row.add(d + 8)));
                    for (j, acc) in acc.iter_mut().enumerate() {
                        let qj = qp.add(j * hd + d);
                        acc[0] = _mm256_fmadd_ps(_mm256_loadu_ps(qj), k0, acc[0]);
                        acc[1] = _mm256_fmadd_ps(_mm256_loadu_ps(qj.add(8)), k1, acc[1]);
                    }
                }
                for (j, acc) in acc.iter().enumerate() {
                    e[j][i] = hsum256(_mm256_add_ps(acc[0], acc[1])) * scale;
                }
            }
            // The online softmax: rescale what came before to the new max, exps of this block.
            for j in 0..G {
                let block_max = e[j][..n].iter().fold(f32::NEG_INFINITY, |a, &s| a.max(s));
                let new_max = max[j].max(block_max);
                let correction = (max[j] - new_max).exp();
                if correction != 1.0 {
                    let c = _mm256_set1_ps(correction);
                    for d in (0..hd).step_by(8) {
                        let o = op.add(j * hd + d);
                        _mm256_storeu_ps(o, _mm256_mul_ps(c, _mm256_loadu_ps(o)));
                    }
                }
                let m = _mm256_set1_ps(new_max);
                let mut s = 0f32;
                let mut i = 0;
                while i + 8 <= n {
                    let x = exp8(_mm256_sub_ps(_mm256_loadu_ps(e[j].as_ptr().add(i)), m));
                    _mm256_storeu_ps(e[j].as_mut_ptr().add(i), x);
                    s += hsum256(x);
                    i += 8;
                }
                for x in &mut e[j][i..n] {
                    *x = (*x - new_max).exp();
                    s += *x;
                }
                sum[j] = sum[j] * correction + s;
                max[j] = new_max;
            }
            // Values: 16 output dims of every query in registers per pass over the block.
            for d in (0..hd).step_by(16) {
                let mut acc = [[_mm256_setzero_ps(); 2]; G];
                for (j, acc) in acc.iter_mut().enumerate() {
                    let o = op.add(j * hd + d);
                    *acc = [_mm256_loadu_ps(o), _mm256_loadu_ps(o.add(8))];
                }
                for i in 0..n {
                    let row = vp.add((p0 + i) * hd + d);
                    let (v0, v1) = (half!(row), half!(row.add(8)));
                    for (j, acc) in acc.iter_mut().enumerate() {
                        let w = _mm256_set1_ps(e[j][i]);
                        acc[0] = _mm256_fmadd_ps(w, v0, acc[0]);
                        acc[1] = _mm256_fmadd_ps(w, v1, acc[1]);
                    }
                }
                for (j, acc) in acc.iter().enumerate() {
                    let o = op.add(j * hd + d);
                    _mm256_storeu_ps(o, acc[0]);
                    _mm256_storeu_ps(o.add(8), acc[1]);
                }
            }
        }
        for (j, s) in sum.iter().enumerate() {
            let inv = _mm256_set1_ps(1.0 / s);
            for d in (0..hd).step_by(8) {
                let o = op.add(j * hd + d);
                _mm256_storeu_ps(o, _mm256_mul_ps(inv, _mm256_loadu_ps(o)));
            }
        }
    }
}
