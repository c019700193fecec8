//! ggml's blocks of the types that were left to candle's kernels until stop 33 (Q2_K, Q3_K,
//! Q4_0, Q5_0: the Q2_K, Q3_K_S/M/L, Q4_0 and Q5_0 files of the catalog), as the prompt
//! tiles' unpacking (`tile/prep.rs`) and Q8_0's AVX2 row kernel read them. candle's fields
//! are crate-private; each view has its struct's layout (asserted below), so `simd::view` can
//! reinterpret a tensor's blocks. Q4_0 and Q5_0, like Q8_0, are blocks of 32 values and one
//! scale: `Block32` gives all three's values as signed bytes (for the row kernel), `Offset32`
//! Q4_0's and Q5_0's as unsigned values and an offset (for the tiles).

use super::q8_0_avx512::Q8;
use candle_core::quantized::k_quants::{BlockQ2K, BlockQ3K, BlockQ4_0, BlockQ5_0};
use half::f16;
use std::arch::x86_64::*;

/// `block_q2_K`: value `l` of sub-block `j` (16 values) is `d · (scales[j] & 15) · q −
/// dmin · (scales[j] >> 4)`, with the 2-bit `q` of value `128n + 32i + l` (`l` < 32) at bits
/// `2i` of `qs[32n + l]`.
#[repr(C)]
pub(super) struct Q2K {
    pub scales: [u8; 16],
    pub qs: [u8; 64],
    pub d: f16,
    pub dmin: f16,
}

/// `block_q3_K`: value = `d · (s_j − 32) · (q − 4)` for sub-block `j` (16 values), with the
/// 3-bit `q` of value `128n + 32i + l` made of bits `2i` of `qs[32n + l]` and bit `4n + i` of
/// `hmask[l]` (its 4), and the 6-bit `s_j` packed in `scales` (`Q3K::scales`).
#[repr(C)]
pub(super) struct Q3K {
    pub hmask: [u8; 32],
    pub qs: [u8; 64],
    pub scales: [u8; 12],
    pub d: f16,
}

/// `block_q4_0`: value `l` = `d · (q − 8)` with the 4-bit `q` of value `l` < 16 in the low
/// nibble of `qs[l]` and of value `16 + l` in its high nibble.
#[repr(C)]
pub(super) struct Q4_0 {
    pub d: f16,
    pub qs: [u8; 16],
}

/// `block_q5_0`: as Q4_0 with 5-bit values (`q − 16`): the fifth bit of value `l` is bit `l`
/// of the little-endian `qh`.
#[repr(C)]
pub(super) struct Q5_0 {
    pub d: f16,
    pub qh: [u8; 4],
    pub qs: [u8; 16],
}

const _: () = assert!(std::mem::size_of::<Q2K>() == std::mem::size_of::<BlockQ2K>());
const _: () = assert!(std::mem::align_of::<Q2K>() == std::mem::align_of::<BlockQ2K>());
const _: () = assert!(std::mem::size_of::<Q3K>() == std::mem::size_of::<BlockQ3K>());
const _: () = assert!(std::mem::align_of::<Q3K>() == std::mem::align_of::<BlockQ3K>());
const _: () = assert!(std::mem::size_of::<Q4_0>() == std::mem::size_of::<BlockQ4_0>());
const _: () = assert!(std::mem::align_of::<Q4_0>() == std::mem::align_of::<BlockQ4_0>());
const _: () = assert!(std::mem::size_of::<Q5_0>() == std::mem::size_of::<BlockQ5_0>());
const _: () = assert!(std::mem::align_of::<Q5_0>() == std::mem::align_of::<BlockQ5_0>());

/// The 2-bit `q` of values `128h + 32k … + 32` for k = 0..4 (bits `2k` of `qs[32h + l]`),
/// one byte each, in value order (Q2_K's and Q3_K's low bits).
///
/// # Safety
/// AVX2; `h` is 0 or 1.
#[inline(always)]
unsafe fn two_bits(qs: &[u8; 64], h: usize) -> [__m256i; 4] {
    let m3 = _mm256_set1_epi8(3);
    // SAFETY: 32 of the 64 bytes of `qs` (h ≤ 1).
    let q = unsafe { _mm256_loadu_si256(qs.as_ptr().add(32 * h) as *const __m256i) };
    // (16-bit shifts move bits across bytes, which the mask drops. A loop, not a closure: a
    // closure would be compiled without the caller's AVX2, and each intrinsic in it would be
    // a call — 334 ns per Q3_K block instead of 10.)
    let mut out = [_mm256_setzero_si256(); 4];
    for (k, out) in out.iter_mut().enumerate() {
        *out = _mm256_and_si256(_mm256_srl_epi16(q, _mm_cvtsi32_si128(2 * k as i32)), m3);
    }
    out
}

impl Q2K {
    /// The `q` (0…3) of values `128h + 32k … + 32` for k = 0..4, one byte each.
    ///
    /// # Safety
    /// AVX2; `h` is 0 or 1.
    #[inline(always)]
    pub unsafe fn q_half(&self, h: usize) -> [__m256i; 4] {
        // SAFETY: the caller's.
        unsafe { two_bits(&self.qs, h) }
    }
}

impl Q3K {
    /// The unsigned `q` (0…7) of values `128h + 32k … + 32` for k = 0..4, one byte each: the
    /// 2-bit values with the third bit (bit `4h + k` of `hmask[l]`, worth 4) or'ed in.
    ///
    /// # Safety
    /// AVX2; `h` is 0 or 1.
    #[inline(always)]
    pub unsafe fn q_half(&self, h: usize) -> [__m256i; 4] {
        let ones = _mm256_set1_epi8(1);
        // SAFETY: the caller's; the 32 bytes of `hmask`.
        let (mut out, hm) = unsafe {
            (
                two_bits(&self.qs, h),
                _mm256_loadu_si256(self.hmask.as_ptr() as *const __m256i),
            )
        };
        for (k, out) in out.iter_mut().enumerate() {
            let bit = _mm256_srl_epi16(hm, _mm_cvtsi32_si128((4 * h + k) as i32));
            *out = _mm256_or_si256(*out, _mm256_slli_epi16::<2>(_mm256_and_si256(bit, ones)));
        }
        out
    }

    /// The sixteen 6-bit `s_j` (0…63), four bytes per little-endian word, unpacked as ggml's
    /// `dequantize_row_q3_K` does: the low four bits of `s_j` are nibbles of bytes 0–7 (sub-
    /// blocks 0–7 the low ones, 8–15 the high), the top two bits pairs of bytes 8–11.
    #[inline(always)]
    pub fn raw_scales(&self) -> [u32; 4] {
        const KMASK1: u32 = 0x0303_0303;
        const KMASK2: u32 = 0x0f0f_0f0f;
        let u = |i: usize| u32::from_le_bytes(self.scales[4 * i..4 * i + 4].try_into().unwrap());
        let (a0, a1, tmp) = (u(0), u(1), u(2));
        [
            (a0 & KMASK2) | ((tmp & KMASK1) << 4),
            (a1 & KMASK2) | (((tmp >> 2) & KMASK1) << 4),
            ((a0 >> 4) & KMASK2) | (((tmp >> 4) & KMASK1) << 4),
            ((a1 >> 4) & KMASK2) | (((tmp >> 6) & KMASK1) << 4),
        ]
    }

    /// The sixteen sub-block scales `s_j − 32` (−32…31).
    pub fn scales(&self) -> [i8; 16] {
        let raw = self.raw_scales();
        std::array::from_fn(|j| (raw[j / 4] >> (8 * (j % 4))) as u8 as i8 - 32)
    }
}

/// A block of 32 values with one f16 scale (Q8_0, Q4_0, Q5_0), its values signed bytes once
/// unpacked: what Q8_0's AVX2 row kernel multiplies.
pub(super) trait Block32 {
    fn d(&self) -> f16;
    /// The 32 values (`q − 8` for Q4_0, `q − 16` for Q5_0) as signed bytes.
    ///
    /// # Safety
    /// AVX2.
    unsafe fn values(&self) -> __m256i;
}

/// Q4_0 and Q5_0: unsigned `q` and an offset, as the prompt tiles multiply them (`maddubs`
/// takes the unsigned `q`; the offset meets the activations' block sums).
pub(super) trait Offset32: Block32 {
    /// What is subtracted from each `q`.
    const OFFSET: i8;
    /// The 32 `q` in value order, as bytes.
    ///
    /// # Safety
    /// AVX2.
    unsafe fn q(&self) -> __m256i;
}

impl Block32 for Q8 {
    fn d(&self) -> f16 {
        self.d
    }
    #[inline(always)]
    unsafe fn values(&self) -> __m256i {
        // SAFETY: the 32 bytes of `qs`.
        unsafe { _mm256_loadu_si256(self.qs.as_ptr() as *const __m256i) }
    }
}

/// Q4_0's and Q5_0's 4-bit `q` (value `l` < 16 the low nibble of `qs[l]`, `16 + l` the
/// high one) as 32 bytes in value order: the 16 bytes in both lanes, the high lane's shifted
/// by a nibble (one broadcast load, one variable shift, one mask).
#[inline(always)]
unsafe fn nibbles(qs: &[u8; 16]) -> __m256i {
    // SAFETY: the 16 bytes of `qs`; the caller's AVX2.
    unsafe {
        let q = _mm256_broadcastsi128_si256(_mm_loadu_si128(qs.as_ptr() as *const __m128i));
        let high_lane_by_4 = _mm256_srlv_epi32(q, _mm256_set_epi32(4, 4, 4, 4, 0, 0, 0, 0));
        _mm256_and_si256(high_lane_by_4, _mm256_set1_epi8(0x0F))
    }
}

/// `Block32` of an `Offset32`: `q − OFFSET`.
macro_rules! offset_block32 {
    ($t:ty) => {
        impl Block32 for $t {
            fn d(&self) -> f16 {
                self.d
            }
            #[inline(always)]
            unsafe fn values(&self) -> __m256i {
                // SAFETY: the caller's AVX2.
                unsafe { _mm256_sub_epi8(self.q(), _mm256_set1_epi8(Self::OFFSET)) }
            }
        }
    };
}
offset_block32!(Q4_0);
offset_block32!(Q5_0);

impl Offset32 for Q4_0 {
    const OFFSET: i8 = 8;
    #[inline(always)]
    unsafe fn q(&self) -> __m256i {
        // SAFETY: the caller's AVX2.
        unsafe { nibbles(&self.qs) }
    }
}

impl Offset32 for Q5_0 {
    const OFFSET: i8 = 16;
    #[inline(always)]
    unsafe fn q(&self) -> __m256i {
        // Bit `l` of `qh` to byte `l`: byte `k` of the dword into bytes 8k..8k + 8, then each
        // byte's own bit picked by the mask and compared (ggml's `bytes_from_bits_32`).
        let qh = i32::from_le_bytes(self.qh);
        let spread = _mm256_shuffle_epi8(
            _mm256_set1_epi32(qh),
            _mm256_set_epi64x(
                0x0303_0303_0303_0303,
                0x0202_0202_0202_0202,
                0x0101_0101_0101_0101,
                0,
            ),
        );
        let bit = _mm256_set1_epi64x(0x8040_2010_0804_0201u64 as i64);
        let set = _mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit);
        // SAFETY: the caller's AVX2.
        unsafe {
            _mm256_or_si256(
                nibbles(&self.qs),
                _mm256_and_si256(set, _mm256_set1_epi8(16)),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gguf_cpu::simd::test_data::{random_blocks, Lcg};
    use crate::gguf_cpu::simd::view;
    use candle_core::quantized::k_quants::GgmlType;

    /// Dequantizes `blocks` through the views' documented formulas.
    fn by_views_q3k(x: &Q3K) -> Vec<f32> {
        let d = x.d.to_f32();
        let s = x.scales();
        (0..256)
            .map(|v| {
                let (n, i, l) = (v / 128, (v % 128) / 32, v % 32);
                let low = (x.qs[32 * n + l] >> (2 * i)) & 3;
                let high = (x.hmask[l] >> (4 * n + i)) & 1;
                d * s[v / 16] as f32 * ((low + 4 * high) as f32 - 4.0)
            })
            .collect()
    }

    fn by_views_q2k(x: &Q2K) -> Vec<f32> {
        let (d, dmin) = (x.d.to_f32(), x.dmin.to_f32());
        (0..256)
            .map(|v| {
                let (n, i, l) = (v / 128, (v % 128) / 32, v % 32);
                let q = (x.qs[32 * n + l] >> (2 * i)) & 3;
                let sc = x.scales[v / 16];
                d * (sc & 15) as f32 * q as f32 - dmin * (sc >> 4) as f32
            })
            .collect()
    }

    /// The 4-bit `q` of value `l` (Q4_0's and Q5_0's layout).
    fn nibble(qs: &[u8; 16], l: usize) -> u8 {
        if l < 16 {
            qs[l] & 15
        } else {
            qs[l - 16] >> 4
        }
    }

    fn by_views_q4_0(x: &Q4_0) -> Vec<f32> {
        (0..32)
            .map(|l| x.d.to_f32() * (nibble(&x.qs, l) as f32 - 8.0))
            .collect()
    }

    fn by_views_q5_0(x: &Q5_0) -> Vec<f32> {
        let qh = u32::from_le_bytes(x.qh);
        (0..32)
            .map(|l| {
                let q = nibble(&x.qs, l) as u32 | ((qh >> l) & 1) << 4;
                x.d.to_f32() * (q as f32 - 16.0)
            })
            .collect()
    }

    /// Each view, read by its documented formula, dequantizes random blocks as candle does.
    fn check<T: GgmlType, V>(size: usize, f16s: &[usize], by_view: impl Fn(&V) -> Vec<f32>) {
        let mut rng = Lcg::new(7);
        let blocks: Vec<T> = random_blocks(64, size, f16s, &mut rng);
        let mut want = vec![0f32; 64 * T::BLCK_SIZE];
        T::to_float(&blocks, &mut want);
        // SAFETY: the views have candle's layouts (asserted above).
        let views: &[V] = unsafe { view(&blocks, 64) };
        let got: Vec<f32> = views.iter().flat_map(by_view).collect();
        assert_eq!(got, want, "{:?}", T::DTYPE);
    }

    #[test]
    fn the_views_dequantize_like_candle() {
        check::<BlockQ2K, Q2K>(84, &[81, 83], by_views_q2k);
        check::<BlockQ3K, Q3K>(110, &[109], by_views_q3k);
        check::<BlockQ4_0, Q4_0>(18, &[1], by_views_q4_0);
        check::<BlockQ5_0, Q5_0>(22, &[1], by_views_q5_0);
    }
}
