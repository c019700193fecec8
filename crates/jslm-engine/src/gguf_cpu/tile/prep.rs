//! A few weight rows made ready for the tiled kernels, once per task (a few rows' blocks,
//! reused for the next task; the file's blocks are never copied whole): K-quant values
//! one byte each in value order, so that group `g` is the dword at `4g`, and each sub-block's
//! scale and min folded with the block's f16 factors into f32.

use crate::gguf_cpu::q4k_avx512::{scales_and_mins, Q4K};
use crate::gguf_cpu::q6k_avx512::Q6K;
use crate::gguf_cpu::q8_0_avx512::Q8;

/// The blocks of one task's rows, `[row][block]`. For the K-quants `bytes` holds 256 values
/// per block; Q8_0 reads its bytes from the file and keeps only the factors.
#[derive(Default)]
pub(super) struct Prepped {
    pub bytes: Vec<u8>,
    /// `[row][block][sub]` (Q8_0: `[row][block]`): what multiplies a sub-block's integer dot
    /// product.
    pub scale: Vec<f32>,
    /// `[row][block][sub]`: what multiplies the activations' sub-block sum (subtracted).
    pub min: Vec<f32>,
}

impl Prepped {
    fn reset(&mut self, bytes: usize, factors: usize) {
        self.bytes.clear();
        self.bytes.resize(bytes, 0);
        self.scale.clear();
        self.scale.resize(factors, 0.0);
        self.min.clear();
        self.min.resize(factors, 0.0);
    }

    /// Q4_K: value = d · s_j · q − dmin · m_j for sub-block j (32 values).
    pub fn q4k(&mut self, rows: &[Q4K]) {
        self.reset(rows.len() * 256, rows.len() * 8);
        for (i, x) in rows.iter().enumerate() {
            let out = &mut self.bytes[i * 256..(i + 1) * 256];
            // Byte 32c + l holds value 64c + l (low nibble) and 64c + 32 + l (high).
            for c in 0..4 {
                for l in 0..32 {
                    let q = x.qs[32 * c + l];
                    out[64 * c + l] = q & 0x0F;
                    out[64 * c + 32 + l] = q >> 4;
                }
            }
            let sm = scales_and_mins(&x.scales);
            let sm: [u8; 16] = bytemuck_u32x4(sm);
            let (d, dmin) = (x.d.to_f32(), x.dmin.to_f32());
            for j in 0..8 {
                self.scale[i * 8 + j] = d * sm[j] as f32;
                self.min[i * 8 + j] = dmin * sm[8 + j] as f32;
            }
        }
    }

    /// Q6_K: value = d · sc_j · (q − 32) for sub-block j (16 values).
    pub fn q6k(&mut self, rows: &[Q6K]) {
        self.reset(rows.len() * 256, rows.len() * 16);
        for (i, x) in rows.iter().enumerate() {
            let out = &mut self.bytes[i * 256..(i + 1) * 256];
            for h in 0..2 {
                for l in 0..32 {
                    let (lo, hi, qh) = (x.ql[64 * h + l], x.ql[64 * h + 32 + l], x.qh[32 * h + l]);
                    out[128 * h + l] = (lo & 0x0F) | ((qh & 3) << 4);
                    out[128 * h + 32 + l] = (hi & 0x0F) | (((qh >> 2) & 3) << 4);
                    out[128 * h + 64 + l] = (lo >> 4) | (((qh >> 4) & 3) << 4);
                    out[128 * h + 96 + l] = (hi >> 4) | (((qh >> 6) & 3) << 4);
                }
            }
            let d = x.d.to_f32();
            for j in 0..16 {
                let s = d * x.scales[j] as f32;
                self.scale[i * 16 + j] = s;
                self.min[i * 16 + j] = 32.0 * s;
            }
        }
    }

    /// Q8_0: the block scale, and with `offset` (activations stored + 128) `128 · d · Σ w` to
    /// subtract.
    pub fn q8_0(&mut self, rows: &[Q8], offset: bool) {
        self.reset(0, rows.len());
        for (i, x) in rows.iter().enumerate() {
            let d = x.d.to_f32();
            self.scale[i] = d;
            if offset {
                let sum: i32 = x.qs.iter().map(|&q| q as i32).sum();
                self.min[i] = 128.0 * d * sum as f32;
            }
        }
    }
}

/// The 16 bytes of four little-endian u32.
fn bytemuck_u32x4(words: [u32; 4]) -> [u8; 16] {
    let mut out = [0u8; 16];
    for (i, w) in words.iter().enumerate() {
        out[4 * i..4 * i + 4].copy_from_slice(&w.to_le_bytes());
    }
    out
}
