//! Causal grouped-query attention over a per-layer KV cache, blocked (flash-style): keys and
//! values are read in blocks of `KV_BLOCK` positions, each block once for all the query heads
//! of a KV head and up to `Q_CHUNK` tokens, with an online softmax, so no score row of the
//! whole context is ever held and a long prompt reads its cache once per chunk, not per head.
//!
//! The cache is laid out `[kv_head][position][head_dim]` in f16 (llama.cpp's default: 128 KiB
//! per token for the 7B instead of 256 KiB) or f32. It is allocated zeroed for the whole
//! context at once: the kernel maps those pages lazily, so resident memory grows with the
//! tokens actually used.

use super::attention_block::{f16_to_f32, fold_block, Fold, Running};
use half::f16;
use half::slice::{HalfBitsSliceExt, HalfFloatSliceExt};
use rayon::prelude::*;

/// Positions of keys and values converted and used together.
const KV_BLOCK: usize = 64;
/// Query tokens that share one pass over the cache.
const Q_CHUNK: usize = 16;

/// How keys and values are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KvCacheType {
    /// Half the memory; logits within the engine's fidelity tolerances (tests).
    #[default]
    F16,
    /// Exact: what candle's runner keeps, for comparing kernels.
    F32,
}

impl std::str::FromStr for KvCacheType {
    type Err = crate::error::EngineError;

    fn from_str(s: &str) -> crate::error::Result<Self> {
        match s {
            "f16" => Ok(Self::F16),
            "f32" => Ok(Self::F32),
            other => Err(crate::error::EngineError::invalid(
                "kv_cache",
                format!("must be f16 or f32. Given: {other}"),
            )),
        }
    }
}

/// One layer's keys or values. f16 is kept as its bits: `vec![0u16; n]` is a zeroed
/// allocation whose pages stay unmapped until written, where `vec![f16::ZERO; n]` writes every
/// element (the whole context's cache resident at load: 512 MiB for 4,096 positions).
enum Store {
    F16(Vec<u16>),
    F32(Vec<f32>),
}

impl Store {
    fn new(kind: KvCacheType, len: usize) -> Self {
        match kind {
            KvCacheType::F16 => Self::F16(vec![0u16; len]),
            KvCacheType::F32 => Self::F32(vec![0.0; len]),
        }
    }

    fn write(&mut self, at: usize, src: &[f32]) {
        match self {
            Self::F16(v) => v[at..at + src.len()]
                .reinterpret_cast_mut::<f16>()
                .convert_from_f32_slice(src),
            Self::F32(v) => v[at..at + src.len()].copy_from_slice(src),
        }
    }

    fn read(&self, at: usize, dst: &mut [f32], fast: bool) {
        match self {
            Self::F16(v) => f16_to_f32(fast, &v[at..at + dst.len()], dst),
            Self::F32(v) => dst.copy_from_slice(&v[at..at + dst.len()]),
        }
    }
}

pub(crate) struct KvCache {
    /// The AVX2 + FMA inner loop (`attention_block`), with the AVX2 and AVX-512 kernels.
    fast: bool,
    kv_heads: usize,
    head_dim: usize,
    capacity: usize,
    keys: Vec<Store>,
    values: Vec<Store>,
}

/// One task's working memory: the converted block and each query's running state.
#[derive(Default)]
struct Scratch {
    k: Vec<f32>,
    v: Vec<f32>,
    scores: Vec<f32>,
    max: Vec<f32>,
    sum: Vec<f32>,
    acc: Vec<f32>,
}

/// A pointer that rayon tasks may share because each writes disjoint elements.
#[derive(Clone, Copy)]
struct SharedOut(*mut f32);
// SAFETY: tasks write disjoint (token, head) rows of the output; the owner waits for all.
unsafe impl Send for SharedOut {}
unsafe impl Sync for SharedOut {}

impl SharedOut {
    /// Element `i` (a method, so that closures capture the whole `Send` wrapper).
    fn at(self, i: usize) -> *mut f32 {
        self.0.wrapping_add(i)
    }
}

impl KvCache {
    pub fn new(
        layers: usize,
        kv_heads: usize,
        head_dim: usize,
        capacity: usize,
        kind: KvCacheType,
        isa: crate::isa::Isa,
    ) -> Self {
        let per_layer = kv_heads * capacity * head_dim;
        Self {
            fast: isa != crate::isa::Isa::Generic,
            kv_heads,
            head_dim,
            capacity,
            keys: (0..layers).map(|_| Store::new(kind, per_layer)).collect(),
            values: (0..layers).map(|_| Store::new(kind, per_layer)).collect(),
        }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Stores `m` tokens' keys and values (each token `kv_heads × head_dim`) at `pos..pos+m`.
    pub fn store(&mut self, layer: usize, pos: usize, k: &[f32], v: &[f32]) {
        let (hd, kvh, cap) = (self.head_dim, self.kv_heads, self.capacity);
        let m = k.len() / (kvh * hd);
        assert!(pos + m <= cap, "KV cache overflow: {} > {cap}", pos + m);
        for t in 0..m {
            for h in 0..kvh {
                let src = (t * kvh + h) * hd;
                let dst = (h * cap + pos + t) * hd;
                self.keys[layer].write(dst, &k[src..src + hd]);
                self.values[layer].write(dst, &v[src..src + hd]);
            }
        }
    }

    /// For `m` query tokens at positions `pos..pos+m` (`q` is `m × heads × head_dim`), writes
    /// softmax(q·kᵀ/√d)·v over positions `0..=pos+t` into `out` (same shape as `q`).
    pub fn attend(&self, layer: usize, q: &[f32], pos: usize, heads: usize, out: &mut [f32]) {
        let (hd, kvh, cap) = (self.head_dim, self.kv_heads, self.capacity);
        let group = heads / kvh;
        let m = q.len() / (heads * hd);
        assert_eq!(out.len(), q.len());
        let scale = 1.0 / (hd as f32).sqrt();
        let (keys, values) = (&self.keys[layer], &self.values[layer]);
        let fast = self.fast;
        #[cfg(target_arch = "x86_64")]
        if let (Store::F16(k), Store::F16(v), true) = (
            keys,
            values,
            m == 1 && fast && super::attention_decode::serves(hd),
        ) {
            // Decode: each KV head's queries (contiguous for one token) against its cache.
            let len = pos + 1;
            out.par_chunks_mut(group * hd)
                .zip(q.par_chunks(group * hd))
                .enumerate()
                .for_each(|(kv, (out, q))| {
                    let at = kv * cap * hd..(kv * cap + len) * hd;
                    let (k, v) = (&k[at.clone()], &v[at]);
                    super::attention_decode::decode_head(q, k, v, len, scale, out);
                });
            return;
        }
        let chunks = m.div_ceil(Q_CHUNK);
        let dst = SharedOut(out.as_mut_ptr());
        (0..kvh * chunks)
            .into_par_iter()
            .for_each_init(Scratch::default, |s, unit| {
                let (kv, t0) = (unit / chunks, (unit % chunks) * Q_CHUNK);
                let t1 = (t0 + Q_CHUNK).min(m);
                // Query i: token t0 + i / group, head kv · group + i % group.
                let nq = (t1 - t0) * group;
                let query = |i: usize| {
                    let (t, h) = (t0 + i / group, kv * group + i % group);
                    (t, (t * heads + h) * hd)
                };
                s.max.clear();
                s.max.resize(nq, f32::NEG_INFINITY);
                s.sum.clear();
                s.sum.resize(nq, 0.0);
                s.acc.clear();
                s.acc.resize(nq * hd, 0.0);
                s.k.resize(KV_BLOCK * hd, 0.0);
                s.v.resize(KV_BLOCK * hd, 0.0);
                s.scores.resize(KV_BLOCK, 0.0);
                let end = pos + t1;
                let base = kv * cap * hd;
                for p0 in (0..end).step_by(KV_BLOCK) {
                    let p1 = (p0 + KV_BLOCK).min(end);
                    let n = p1 - p0;
                    keys.read(base + p0 * hd, &mut s.k[..n * hd], fast);
                    values.read(base + p0 * hd, &mut s.v[..n * hd], fast);
                    for i in 0..nq {
                        let (t, at) = query(i);
                        // Causal: token t sees positions 0..=pos + t.
                        let len = (pos + t + 1).min(p1);
                        if len <= p0 {
                            continue;
                        }
                        let run = Running {
                            max: &mut s.max[i],
                            sum: &mut s.sum[i],
                            acc: &mut s.acc[i * hd..(i + 1) * hd],
                        };
                        let block = Fold {
                            q: &q[at..at + hd],
                            k: &s.k[..n * hd],
                            v: &s.v[..n * hd],
                            seen: len - p0,
                            scale,
                        };
                        fold_block(fast, &block, &mut s.scores, run);
                    }
                }
                for i in 0..nq {
                    let (_, at) = query(i);
                    let inv = 1.0 / s.sum[i];
                    for (j, &a) in s.acc[i * hd..(i + 1) * hd].iter().enumerate() {
                        // SAFETY: (token, head) row `at` belongs to this unit alone, and
                        // `at + j < out.len()` (same shape as `q`).
                        unsafe { *dst.at(at + j) = a * inv };
                    }
                }
            });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::isa::Isa;

    /// Naive attention over explicit per-position vectors.
    fn naive(q: &[f32], ks: &[Vec<f32>], vs: &[Vec<f32>]) -> Vec<f32> {
        let d = q.len();
        let s: Vec<f64> = ks
            .iter()
            .map(|k| q.iter().zip(k).map(|(a, b)| (a * b) as f64).sum::<f64>() / (d as f64).sqrt())
            .collect();
        let max = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let e: Vec<f64> = s.iter().map(|v| (v - max).exp()).collect();
        let z: f64 = e.iter().sum();
        (0..d)
            .map(|i| {
                (0..ks.len())
                    .map(|p| e[p] / z * vs[p][i] as f64)
                    .sum::<f64>() as f32
            })
            .collect()
    }

    /// Two calls (`first` tokens, then `m − first`), every query checked against the naive
    /// formula over the cache's own (rounded) keys and values.
    fn check(isa: Isa, kind: KvCacheType, hd: usize, first: usize, m: usize, tolerance: f32) {
        check_heads(isa, kind, hd, (4, 2), first, m, tolerance)
    }

    /// `check` with `heads` queries on `kv_heads` KV heads.
    fn check_heads(
        isa: Isa,
        kind: KvCacheType,
        hd: usize,
        (heads, kv_heads): (usize, usize),
        first: usize,
        m: usize,
        tolerance: f32,
    ) {
        let val = |i: usize| ((i * 37 % 23) as f32 - 11.0) / 7.0;
        let mut cache = KvCache::new(1, kv_heads, hd, m + 3, kind, isa);
        // Keys drift with position, so that later blocks raise some queries' max score and
        // the online softmax must rescale what it summed before.
        let k: Vec<f32> = (0..m * kv_heads * hd)
            .map(|i| val(i) + 0.05 * (i / (kv_heads * hd)) as f32)
            .collect();
        let v: Vec<f32> = (0..m * kv_heads * hd).map(|i| val(i + 5)).collect();
        let split = first * kv_heads * hd;
        cache.store(0, 0, &k[..split], &v[..split]);
        cache.store(0, first, &k[split..], &v[split..]);
        let rest = m - first;
        let q: Vec<f32> = (0..rest * heads * hd).map(|i| val(i + 11)).collect();
        let mut out = vec![f32::NAN; q.len()];
        cache.attend(0, &q, first, heads, &mut out);
        let round = |x: &[f32]| -> Vec<f32> {
            match kind {
                KvCacheType::F16 => x.iter().map(|&v| f16::from_f32(v).to_f32()).collect(),
                KvCacheType::F32 => x.to_vec(),
            }
        };
        for t in 0..rest {
            for h in 0..heads {
                let kv = h / (heads / kv_heads);
                let at = |src: &[f32], p: usize| {
                    round(&src[(p * kv_heads + kv) * hd..(p * kv_heads + kv + 1) * hd])
                };
                let ks: Vec<Vec<f32>> = (0..=first + t).map(|p| at(&k, p)).collect();
                let vs: Vec<Vec<f32>> = (0..=first + t).map(|p| at(&v, p)).collect();
                let off = (t * heads + h) * hd;
                let want = naive(&q[off..off + hd], &ks, &vs);
                for i in 0..hd {
                    assert!(
                        (out[off + i] - want[i]).abs() < tolerance,
                        "{isa:?} {kind:?} hd={hd} first={first} m={m} t{t} h{h} i{i}: {} vs {}",
                        out[off + i],
                        want[i]
                    );
                }
            }
        }
    }

    #[test]
    fn grouped_causal_attention_matches_the_naive_formula() {
        // Every inner loop this CPU runs (portable, AVX2 + FMA), heads with and without a
        // SIMD tail (8, 20) and the 7B's 128.
        for isa in Isa::available() {
            for kind in [KvCacheType::F32, KvCacheType::F16] {
                for hd in [8, 20, 128] {
                    check(isa, kind, hd, 2, 5, 1e-5);
                    // Across KV blocks and query chunks: a long cache, then a chunk and a tail.
                    check(isa, kind, hd, 70, 70 + Q_CHUNK + 3, 1e-5);
                    check(isa, kind, hd, 1, 2 * KV_BLOCK + 1, 1e-5);
                }
            }
        }
    }

    #[test]
    fn decode_matches_the_naive_formula_for_every_group_size() {
        // One token at a time (on AVX2 CPUs, f16 caches with head dims of multiples of 16
        // take `attention_decode`): 1, 3, 4 and 8 queries per KV head (chunks of 4 and
        // their tails), caches shorter than, as long as and across its softmax blocks.
        for isa in Isa::available() {
            for heads in [(4, 4), (6, 2), (8, 2), (8, 1)] {
                for hd in [16, 128] {
                    for first in [0, 1, 31, 32, 33, 100] {
                        check_heads(isa, KvCacheType::F16, hd, heads, first, first + 1, 1e-5);
                    }
                }
            }
        }
    }

    #[test]
    fn f16_halves_the_cache() {
        let f16 = KvCache::new(1, 1, 8, 4, KvCacheType::F16, Isa::Generic);
        assert!(matches!(&f16.keys[0], Store::F16(v) if v.len() == 32));
    }
}
