//! The element-wise pieces of a llama block. They are a few percent of the work next to the
//! matrix products, so they are plain loops the compiler vectorizes.

/// `out = x / sqrt(mean(x²) + eps) * weight`, row by row (llama's RMSNorm; the mean is taken
/// in f64 as a guard against cancellation on long rows).
pub(crate) fn rms_norm(x: &[f32], weight: &[f32], eps: f32, out: &mut [f32]) {
    let d = weight.len();
    for (xr, or) in x.chunks_exact(d).zip(out.chunks_exact_mut(d)) {
        let ss: f64 = xr.iter().map(|&v| v as f64 * v as f64).sum();
        let scale = 1.0 / ((ss / d as f64) as f32 + eps).sqrt();
        for ((o, &v), &w) in or.iter_mut().zip(xr).zip(weight) {
            *o = v * scale * w;
        }
    }
}

/// Rotary position embedding in GGUF's order: llama.cpp's converter permutes Q and K so that
/// each rotated pair is adjacent, `(x[2i], x[2i+1])` at angle `pos · base^(-2i/dim)`.
pub(crate) struct Rope {
    half: usize,
    cos: Vec<f32>,
    sin: Vec<f32>,
}

impl Rope {
    pub fn new(head_dim: usize, base: f32, positions: usize) -> Self {
        let half = head_dim / 2;
        let mut cos = Vec::with_capacity(positions * half);
        let mut sin = Vec::with_capacity(positions * half);
        for p in 0..positions {
            for i in 0..half {
                let inv = 1.0 / (base as f64).powf(2.0 * i as f64 / head_dim as f64);
                let angle = p as f64 * inv;
                cos.push(angle.cos() as f32);
                sin.push(angle.sin() as f32);
            }
        }
        Self { half, cos, sin }
    }

    pub fn positions(&self) -> usize {
        self.cos.len() / self.half.max(1)
    }

    /// Rotates every head of one token's `x` (heads × head_dim) for position `pos`.
    pub fn apply(&self, x: &mut [f32], pos: usize) {
        let cos = &self.cos[pos * self.half..(pos + 1) * self.half];
        let sin = &self.sin[pos * self.half..(pos + 1) * self.half];
        for head in x.chunks_exact_mut(2 * self.half) {
            for ((pair, &c), &s) in head.chunks_exact_mut(2).zip(cos).zip(sin) {
                let (a, b) = (pair[0], pair[1]);
                pair[0] = a * c - b * s;
                pair[1] = a * s + b * c;
            }
        }
    }
}

/// `gate = silu(gate) · up`, SwiGLU's element-wise half.
pub(crate) fn silu_mul(gate: &mut [f32], up: &[f32]) {
    for (g, &u) in gate.iter_mut().zip(up) {
        *g = *g / (1.0 + (-*g).exp()) * u;
    }
}

/// A dot product with eight independent accumulators so it vectorizes without fast-math.
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ac, bc) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ar, br) = (ac.remainder(), bc.remainder());
    for (x, y) in ac.zip(bc) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let tail: f32 = ar.iter().zip(br).map(|(x, y)| x * y).sum();
    acc.iter().sum::<f32>() + tail
}

/// `out += w · x`.
pub(crate) fn axpy(w: f32, x: &[f32], out: &mut [f32]) {
    for (o, &v) in out.iter_mut().zip(x) {
        *o += w * v;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rms_norm_matches_the_formula() {
        let x = [1.0f32, -2.0, 3.0, 0.5, 4.0, 0.0];
        let w = [0.5f32, 2.0, 1.0];
        let mut out = [0f32; 6];
        rms_norm(&x, &w, 1e-5, &mut out);
        for r in 0..2 {
            let row = &x[r * 3..r * 3 + 3];
            let rms = (row.iter().map(|v| v * v).sum::<f32>() / 3.0 + 1e-5).sqrt();
            for i in 0..3 {
                assert!((out[r * 3 + i] - row[i] / rms * w[i]).abs() < 1e-6);
            }
        }
    }

    #[test]
    fn rope_rotates_adjacent_pairs_by_the_position_angle() {
        let rope = Rope::new(4, 10000.0, 8);
        let mut x = [1.0f32, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0];
        rope.apply(&mut x, 3);
        let (a0, a1) = (3.0f32, 3.0f32 * 10000f32.powf(-0.5));
        for head in x.chunks(4) {
            assert!((head[0] - a0.cos()).abs() < 1e-6 && (head[1] - a0.sin()).abs() < 1e-6);
            assert!((head[2] + a1.sin()).abs() < 1e-6 && (head[3] - a1.cos()).abs() < 1e-6);
        }
        let mut y = [0.3f32, -0.7, 1.1, 2.0];
        let before = y;
        rope.apply(&mut y, 0);
        assert_eq!(y, before, "position 0 is the identity");
    }

    #[test]
    fn silu_dot_and_axpy() {
        let mut g = [0.0f32, 1.0, -2.0];
        silu_mul(&mut g, &[2.0, 3.0, 1.0]);
        assert!((g[1] - 3.0 / (1.0 + (-1f32).exp())).abs() < 1e-6 && g[0] == 0.0);
        let a: Vec<f32> = (0..19).map(|i| i as f32 * 0.5).collect();
        let b: Vec<f32> = (0..19).map(|i| 1.0 - i as f32 * 0.1).collect();
        let want: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((dot(&a, &b) - want).abs() < 1e-4);
        let mut o = vec![1.0f32; 19];
        axpy(2.0, &a, &mut o);
        assert_eq!(o[4], 1.0 + 2.0 * a[4]);
    }
}
