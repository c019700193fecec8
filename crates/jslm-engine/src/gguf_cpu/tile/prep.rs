//! A few weight rows made ready for the tiled kernels, once per task (a few rows' blocks,
//! reused for the next task; the file's blocks are never copied whole): K-quant values
//! one byte each in value order, so that group `g` is the dword at `4g`, and each sub-block's
//! scale and min folded with the block's f16 factors into f32; the 32-value types' values as
//! signed bytes (or i16), so that Q4_0 and Q5_0 run Q8_0's tiles.

pub(super) use crate::gguf_cpu::block_unpack::Offset32;
use crate::gguf_cpu::block_views::{scales_and_mins, KBlock, Q2K, Q3K, Q4K, Q5K, Q6K, Q8};

/// The blocks of one task's rows, `[row][block]`. For the K-quants `bytes` holds 256 values
/// per block; for the 32-value types on AVX2 the 32 values as i16, on the other tiles as
/// signed bytes (Q8_0's tiles there read the file's bytes and keep only the factors).
#[derive(Default)]
pub(super) struct Prepped {
    pub bytes: Vec<u8>,
    /// `[row][block][sub]` (Q8_0: `[row][block]`): what multiplies a sub-block's integer dot
    /// product.
    pub scale: Vec<f32>,
    /// `[row][block][sub]`: what multiplies the activations' sub-block sum (subtracted).
    pub min: Vec<f32>,
    /// K-quants, `[row][block][sub]`: the sub-block's integer scale as an i16 pair (both
    /// halves), for lanes that sum in i16 pairs (`Lanes::I16`): their widening `vpmaddwd`
    /// multiplies by it instead of by ones.
    pub int_scale: Vec<u32>,
    /// K-quants, `[row][block]`: the block's factor `d` (what multiplies `int_scale`'s sums).
    pub block_d: Vec<f32>,
}

impl Prepped {
    /// Sizes the buffers for a task. Every conversion below overwrites all of what it sizes,
    /// so a buffer of the right length is not cleared: zeroing 128 KiB of widened Q8_0 rows
    /// per task cost as much as writing them.
    fn reset(&mut self, bytes: usize, scales: usize, mins: usize) {
        self.bytes.resize(bytes, 0);
        self.scale.resize(scales, 0.0);
        self.min.resize(mins, 0.0);
    }

    /// Sizes the buffers for `blocks` K-quant blocks of `values` values in `nsub` sub-blocks.
    fn reset_kquant(&mut self, blocks: usize, values: usize, nsub: usize) {
        self.reset(blocks * values, blocks * nsub, blocks * nsub);
        self.int_scale.resize(blocks * nsub, 0);
        self.block_d.resize(blocks, 0.0);
    }

    /// Q4_K: value = d · s_j · q − dmin · m_j for sub-block j (32 values).
    pub fn q4k(&mut self, rows: &[Q4K]) {
        self.reset_kquant(rows.len(), 256, 8);
        #[cfg(target_arch = "x86_64")]
        // SAFETY: every family that tiles has AVX2 (checked by `tile::matmul`); the buffers
        // were sized for `rows` just above.
        unsafe {
            avx2::q4k(rows, self)
        }
    }

    /// Q5_K: as Q4_K with 5-bit values (`q` in 0..32): the fifth bit (16) of value `64c + l`
    /// is bit `2c` of `qh[l]`, that of value `64c + 32 + l` bit `2c + 1`.
    pub fn q5k(&mut self, rows: &[Q5K]) {
        self.reset_kquant(rows.len(), 256, 8);
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as for `q4k`.
        unsafe {
            avx2::q4k(rows, self)
        }
    }

    /// Q6_K: value = d · sc_j · (q − 32) for sub-block j (16 values).
    pub fn q6k(&mut self, rows: &[Q6K]) {
        self.reset_kquant(rows.len(), 256, 16);
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as for `q4k`.
        unsafe {
            avx2::q6k(rows, self)
        }
    }

    /// Q3_K: value = d · s_j · (q − 4) for sub-block j (16 values), `q` in 0..8.
    pub fn q3k(&mut self, rows: &[Q3K]) {
        self.reset_kquant(rows.len(), 256, 16);
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as for `q4k`.
        unsafe {
            avx2::q3k(rows, self)
        }
    }

    /// Q2_K: value = d · sc_j · q − dmin · m_j for sub-block j (16 values), `q` in 0..4.
    pub fn q2k(&mut self, rows: &[Q2K]) {
        self.reset_kquant(rows.len(), 256, 16);
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as for `q4k`.
        unsafe {
            avx2::q2k(rows, self)
        }
    }

    /// Q4_0 or Q5_0 for the K-quant tiles: the unsigned `q` (32 bytes per block) as one
    /// sub-block with integer scale 1, factor `d` and min `OFFSET · d`.
    pub fn offset32<B: Offset32>(&mut self, rows: &[B]) {
        self.reset_kquant(rows.len(), 32, 1);
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as for `q4k`.
        unsafe {
            avx2::offset32(rows, self)
        }
    }

    /// Q8_0: the block scale, and `128 · d · Σ w` to subtract (the activations are stored
    /// plus 128); with `widen`, instead of that correction the 32 values as i16 (64 bytes per
    /// block) for AVX2's `vpmaddwd`, whose activations are signed. Widening here, once per
    /// task, instead of in the tile (once per block and tile of 16 tokens): +6 % on a Q8_0
    /// matmul, BENCHMARKS.md stop 24.
    pub fn q8_0(&mut self, rows: &[Q8], widen: bool) {
        let n = rows.len();
        self.reset(if widen { n * 64 } else { 0 }, n, if widen { 0 } else { n });
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as for `q4k`.
        unsafe {
            avx2::q8_0(
                rows,
                &mut self.scale,
                &mut self.min,
                widen.then_some(&mut self.bytes),
            )
        }
    }
}

/// The conversions with AVX2 (the scalar loops took a quarter of a Q8_0 prefill).
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{scales_and_mins, KBlock, Offset32, Prepped, Q2K, Q3K, Q6K, Q8};
    use crate::gguf_cpu::simd::{fifth_bits, half_to_f32, prefetch_ahead};
    use std::arch::x86_64::*;

    /// Q4_K, and Q5_K with each value's fifth bit or'ed in.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) unsafe fn q4k<B: KBlock>(rows: &[B], out: &mut Prepped) {
        let Prepped {
            bytes,
            scale,
            min,
            int_scale,
            block_d,
        } = out;
        let m4 = _mm256_set1_epi8(0x0F);
        for (i, x) in rows.iter().enumerate() {
            prefetch_ahead(x, std::mem::size_of::<B>().div_ceil(64));
            let out = bytes[i * 256..(i + 1) * 256].as_mut_ptr();
            // SAFETY (below): the 32 bytes of `qh`.
            let qh = x
                .qh()
                .map(|qh| unsafe { _mm256_loadu_si256(qh.as_ptr() as *const __m256i) });
            // Byte 32c + l holds value 64c + l (low nibble) and 64c + 32 + l (high).
            for c in 0..4 {
                // SAFETY: 32 bytes of the 128-byte `qs`; 64 bytes of the block's 256.
                unsafe {
                    let q = _mm256_loadu_si256(x.qs().as_ptr().add(32 * c) as *const __m256i);
                    let mut lo = _mm256_and_si256(q, m4);
                    let mut hi = _mm256_and_si256(_mm256_srli_epi16::<4>(q), m4);
                    if let Some(qh) = qh {
                        lo = _mm256_or_si256(lo, fifth_bits(qh, 2 * c as i32));
                        hi = _mm256_or_si256(hi, fifth_bits(qh, 2 * c as i32 + 1));
                    }
                    _mm256_storeu_si256(out.add(64 * c) as *mut __m256i, lo);
                    _mm256_storeu_si256(out.add(64 * c + 32) as *mut __m256i, hi);
                }
            }
            let sm = scales_and_mins(x.scales());
            let (d, dmin) = (
                half_to_f32(x.d().to_bits()),
                half_to_f32(x.dmin().to_bits()),
            );
            for j in 0..8 {
                let (sc, mn) = (
                    (sm[j / 4] >> (8 * (j % 4))) & 0x3F,
                    (sm[2 + j / 4] >> (8 * (j % 4))) & 0x3F,
                );
                scale[i * 8 + j] = d * sc as f32;
                min[i * 8 + j] = dmin * mn as f32;
                int_scale[i * 8 + j] = sc | sc << 16;
            }
            block_d[i] = d;
        }
    }

    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) unsafe fn q6k(rows: &[Q6K], out: &mut Prepped) {
        let Prepped {
            bytes,
            scale,
            min,
            int_scale,
            block_d,
        } = out;
        let m4 = _mm256_set1_epi8(0x0F);
        let m2 = _mm256_set1_epi8(0x03);
        for (i, x) in rows.iter().enumerate() {
            prefetch_ahead(x, 4);
            let out = bytes[i * 256..(i + 1) * 256].as_mut_ptr();
            for h in 0..2 {
                // SAFETY: inside `ql` (128 bytes), `qh` (64) and the block's 256 output bytes.
                unsafe {
                    let ql0 = _mm256_loadu_si256(x.ql.as_ptr().add(64 * h) as *const __m256i);
                    let ql1 = _mm256_loadu_si256(x.ql.as_ptr().add(64 * h + 32) as *const __m256i);
                    let qh = _mm256_loadu_si256(x.qh.as_ptr().add(32 * h) as *const __m256i);
                    macro_rules! high {
                        ($shift:literal) => {
                            _mm256_slli_epi16::<4>(_mm256_and_si256(
                                _mm256_srli_epi16::<$shift>(qh),
                                m2,
                            ))
                        };
                    }
                    let values = [
                        _mm256_or_si256(_mm256_and_si256(ql0, m4), high!(0)),
                        _mm256_or_si256(_mm256_and_si256(ql1, m4), high!(2)),
                        _mm256_or_si256(
                            _mm256_and_si256(_mm256_srli_epi16::<4>(ql0), m4),
                            high!(4),
                        ),
                        _mm256_or_si256(
                            _mm256_and_si256(_mm256_srli_epi16::<4>(ql1), m4),
                            high!(6),
                        ),
                    ];
                    for (k, v) in values.into_iter().enumerate() {
                        _mm256_storeu_si256(out.add(128 * h + 32 * k) as *mut __m256i, v);
                    }
                }
            }
            let d = half_to_f32(x.d.to_bits());
            for j in 0..16 {
                let s = d * x.scales[j] as f32;
                scale[i * 16 + j] = s;
                min[i * 16 + j] = 32.0 * s;
                let sc = x.scales[j] as i16 as u16 as u32;
                int_scale[i * 16 + j] = sc | sc << 16;
            }
            block_d[i] = d;
        }
    }

    /// Block `i`'s 256 unpacked values, from its two halves' four vectors each.
    ///
    /// # Safety
    /// AVX2.
    #[inline(always)]
    unsafe fn store_halves(bytes: &mut [u8], i: usize, halves: [[__m256i; 4]; 2]) {
        let out = &mut bytes[i * 256..(i + 1) * 256];
        for (h, half) in halves.into_iter().enumerate() {
            for (k, v) in half.into_iter().enumerate() {
                let at = 128 * h + 32 * k;
                // SAFETY: 32 of the block's 256 bytes.
                unsafe { _mm256_storeu_si256(out[at..at + 32].as_mut_ptr() as *mut __m256i, v) };
            }
        }
    }

    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) unsafe fn q3k(rows: &[Q3K], out: &mut Prepped) {
        let Prepped {
            bytes,
            scale,
            min,
            int_scale,
            block_d,
        } = out;
        for (i, x) in rows.iter().enumerate() {
            prefetch_ahead(x, std::mem::size_of::<Q3K>().div_ceil(64));
            // SAFETY: this function's AVX2.
            unsafe { store_halves(bytes, i, [x.q_half(0), x.q_half(1)]) };
            let d = half_to_f32(x.d.to_bits());
            let mut scales = [0i8; 16];
            // SAFETY: this function's AVX2; 16 bytes into 16.
            unsafe { _mm_storeu_si128(scales.as_mut_ptr() as *mut __m128i, x.scales_i8()) };
            for (j, &s) in scales.iter().enumerate() {
                let f = d * s as f32;
                scale[i * 16 + j] = f;
                min[i * 16 + j] = 4.0 * f;
                let sc = s as i16 as u16 as u32;
                int_scale[i * 16 + j] = sc | sc << 16;
            }
            block_d[i] = d;
        }
    }

    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) unsafe fn q2k(rows: &[Q2K], out: &mut Prepped) {
        let Prepped {
            bytes,
            scale,
            min,
            int_scale,
            block_d,
        } = out;
        for (i, x) in rows.iter().enumerate() {
            prefetch_ahead(x, std::mem::size_of::<Q2K>().div_ceil(64));
            // SAFETY: this function's AVX2.
            unsafe { store_halves(bytes, i, [x.q_half(0), x.q_half(1)]) };
            let (d, dmin) = (half_to_f32(x.d.to_bits()), half_to_f32(x.dmin.to_bits()));
            for (j, &sc) in x.scales.iter().enumerate() {
                let s = (sc & 15) as u32;
                scale[i * 16 + j] = d * s as f32;
                min[i * 16 + j] = dmin * (sc >> 4) as f32;
                int_scale[i * 16 + j] = s | s << 16;
            }
            block_d[i] = d;
        }
    }

    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) unsafe fn offset32<B: Offset32>(rows: &[B], out: &mut Prepped) {
        let Prepped {
            bytes,
            scale,
            min,
            int_scale,
            block_d,
        } = out;
        for (i, x) in rows.iter().enumerate() {
            if i % 2 == 0 {
                prefetch_ahead(x, (2 * std::mem::size_of::<B>()).div_ceil(64));
            }
            // SAFETY: the block's 32 bytes; the caller's AVX2.
            unsafe {
                let q = x.q();
                _mm256_storeu_si256(bytes[i * 32..(i + 1) * 32].as_mut_ptr() as *mut __m256i, q);
            }
            let d = half_to_f32(x.d().to_bits());
            scale[i] = d;
            min[i] = B::OFFSET as f32 * d;
            int_scale[i] = 1 | 1 << 16;
            block_d[i] = d;
        }
    }

    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) unsafe fn q8_0(
        rows: &[Q8],
        scale: &mut [f32],
        min: &mut [f32],
        mut wide: Option<&mut Vec<u8>>,
    ) {
        let ones8 = _mm256_set1_epi8(1);
        let ones16 = _mm256_set1_epi16(1);
        for (i, x) in rows.iter().enumerate() {
            if i % 2 == 0 {
                prefetch_ahead(x, 2);
            }
            let d = half_to_f32(x.d.to_bits());
            scale[i] = d;
            // SAFETY: the 32 bytes of `qs`.
            let w = unsafe { _mm256_loadu_si256(x.qs.as_ptr() as *const __m256i) };
            if let Some(wide) = wide.as_deref_mut() {
                // SAFETY: 64 bytes of the block's 64 in `wide` (sized by the caller).
                unsafe {
                    let out = wide.as_mut_ptr().add(64 * i) as *mut __m256i;
                    _mm256_storeu_si256(out, _mm256_cvtepi8_epi16(_mm256_castsi256_si128(w)));
                    _mm256_storeu_si256(
                        out.add(1),
                        _mm256_cvtepi8_epi16(_mm256_extracti128_si256::<1>(w)),
                    );
                }
                // Widened weights meet signed activations: no correction.
                continue;
            }
            let s = _mm256_madd_epi16(_mm256_maddubs_epi16(ones8, w), ones16);
            let s = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256::<1>(s));
            let s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
            let s = _mm_add_epi32(s, _mm_shuffle_epi32::<1>(s));
            min[i] = 128.0 * d * _mm_cvtsi128_si32(s) as f32;
        }
    }
}
