//! Causal grouped-query attention over a per-layer KV cache.
//!
//! The cache is laid out `[kv_head][position][head_dim]` so one head's keys are contiguous
//! for the score loop. It is allocated zeroed for the whole context at once: the kernel maps
//! those pages lazily, so resident memory grows with the tokens actually used.

use super::ops::{axpy, dot, softmax};
use rayon::prelude::*;

pub(crate) struct KvCache {
    kv_heads: usize,
    head_dim: usize,
    capacity: usize,
    keys: Vec<Vec<f32>>,
    values: Vec<Vec<f32>>,
}

impl KvCache {
    pub fn new(layers: usize, kv_heads: usize, head_dim: usize, capacity: usize) -> Self {
        let per_layer = kv_heads * capacity * head_dim;
        Self {
            kv_heads,
            head_dim,
            capacity,
            keys: (0..layers).map(|_| vec![0f32; per_layer]).collect(),
            values: (0..layers).map(|_| vec![0f32; per_layer]).collect(),
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
                self.keys[layer][dst..dst + hd].copy_from_slice(&k[src..src + hd]);
                self.values[layer][dst..dst + hd].copy_from_slice(&v[src..src + hd]);
            }
        }
    }

    /// For `m` query tokens at positions `pos..pos+m` (`q` is `m × heads × head_dim`), writes
    /// softmax(q·kᵀ/√d)·v over positions `0..=pos+t` into `out` (same shape as `q`).
    pub fn attend(&self, layer: usize, q: &[f32], pos: usize, heads: usize, out: &mut [f32]) {
        let hd = self.head_dim;
        let group = heads / self.kv_heads;
        let scale = 1.0 / (hd as f32).sqrt();
        let (keys, values, cap) = (&self.keys[layer], &self.values[layer], self.capacity);
        out.par_chunks_mut(hd)
            .zip(q.par_chunks(hd))
            .enumerate()
            .for_each(|(i, (o, qh))| {
                let (t, h) = (i / heads, i % heads);
                let kv = h / group;
                let len = pos + t + 1;
                let base = kv * cap * hd;
                let mut scores: Vec<f32> = (0..len)
                    .map(|p| dot(qh, &keys[base + p * hd..base + (p + 1) * hd]) * scale)
                    .collect();
                softmax(&mut scores);
                o.fill(0.0);
                for (p, &w) in scores.iter().enumerate() {
                    axpy(w, &values[base + p * hd..base + (p + 1) * hd], o);
                }
            });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn grouped_causal_attention_matches_the_naive_formula() {
        let (heads, kv_heads, hd, m) = (4, 2, 8, 3);
        let val = |i: usize| ((i * 37 % 23) as f32 - 11.0) / 7.0;
        let mut cache = KvCache::new(1, kv_heads, hd, 16);
        // Two tokens first, then three more: the second call must see all five.
        let k: Vec<f32> = (0..5 * kv_heads * hd).map(val).collect();
        let v: Vec<f32> = (0..5 * kv_heads * hd).map(|i| val(i + 5)).collect();
        let split = 2 * kv_heads * hd;
        cache.store(0, 0, &k[..split], &v[..split]);
        cache.store(0, 2, &k[split..], &v[split..]);
        let q: Vec<f32> = (0..m * heads * hd).map(|i| val(i + 11)).collect();
        let mut out = vec![0f32; q.len()];
        cache.attend(0, &q, 2, heads, &mut out);
        for t in 0..m {
            for h in 0..heads {
                let kv = h / (heads / kv_heads);
                let at = |src: &[f32], p: usize| {
                    src[(p * kv_heads + kv) * hd..(p * kv_heads + kv + 1) * hd].to_vec()
                };
                let ks: Vec<Vec<f32>> = (0..=2 + t).map(|p| at(&k, p)).collect();
                let vs: Vec<Vec<f32>> = (0..=2 + t).map(|p| at(&v, p)).collect();
                let off = (t * heads + h) * hd;
                let want = naive(&q[off..off + hd], &ks, &vs);
                for i in 0..hd {
                    assert!((out[off + i] - want[i]).abs() < 1e-5, "t{t} h{h} i{i}");
                }
            }
        }
    }
}
