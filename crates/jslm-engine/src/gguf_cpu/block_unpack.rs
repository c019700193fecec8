//! SIMD unpacking (AVX2) of the block views of `block_views.rs` for the types that were left
//! to candle's kernels until stop 33 (Q2_K, Q3_K, Q4_0, Q5_0), as the prompt tiles' unpacking
//! (`tile/prep.rs`), Q6_K's AVX2 row kernel (Q2_K, Q3_K) and Q8_0's (Q4_0, Q5_0) read them.
//! Q4_0 and Q5_0, like Q8_0, are blocks of 32 values and one scale: `Block32` gives all
//! three's values as signed bytes (for the row kernel), `Offset32` Q4_0's and Q5_0's as
//! unsigned values and an offset (for the tiles).

use super::block_views::{Q2K, Q3K, Q4_0, Q5_0, Q8};
use half::f16;
use std::arch::x86_64::*;

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

    /// The sixteen scales `s_j − 32` as signed bytes, unpacked in vector lanes as ggml's
    /// `dequantize_row_q3_K` unpacks them word by word (`Q3K::raw_scales`, the tests'
    /// reference): dword `i` holds the low nibbles of bytes 0–7, then their high nibbles, with
    /// the top two bits from bytes 8–11, two per word. The decode kernel and the tiles' prep
    /// read them so (scalar words and four inserts took ~25 operations per block).
    ///
    /// # Safety
    /// AVX2.
    #[inline(always)]
    pub unsafe fn scales_i8(&self) -> __m128i {
        // SAFETY: the first 8 of the 12 bytes of `scales`.
        let low = unsafe { _mm_loadl_epi64(self.scales.as_ptr() as *const __m128i) };
        let top = u32::from_le_bytes([
            self.scales[8],
            self.scales[9],
            self.scales[10],
            self.scales[11],
        ]);
        // Words a0, a1, a0 >> 4, a1 >> 4, masked to nibbles.
        let low = _mm_srlv_epi32(
            _mm_shuffle_epi32::<0b01_00_01_00>(low),
            _mm_set_epi32(4, 4, 0, 0),
        );
        let low = _mm_and_si128(low, _mm_set1_epi8(0x0F));
        // tmp >> 0, 2, 4, 6, masked to two bits per byte and moved to bits 4–5.
        let top = _mm_srlv_epi32(_mm_set1_epi32(top as i32), _mm_set_epi32(6, 4, 2, 0));
        let top = _mm_slli_epi32::<4>(_mm_and_si128(top, _mm_set1_epi8(0x03)));
        _mm_sub_epi8(_mm_or_si128(low, top), _mm_set1_epi8(32))
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
    use candle_core::quantized::k_quants::BlockQ3K;

    /// Q3_K's scales unpacked in vector lanes are the scalar unpacking's, for every bit
    /// pattern of random blocks.
    #[test]
    fn q3k_scales_in_lanes_match_the_scalar_unpacking() {
        if !crate::isa::Isa::Avx2.supported() {
            return;
        }
        let blocks: Vec<BlockQ3K> = random_blocks(256, 110, &[109], &mut Lcg::new(3));
        // SAFETY: `Q3K` has `BlockQ3K`'s layout (asserted beside it).
        let views: &[Q3K] = unsafe { view(&blocks, blocks.len()) };
        for x in views {
            let mut got = [0i8; 16];
            // SAFETY: AVX2 checked above; 16 bytes into 16.
            unsafe { _mm_storeu_si128(got.as_mut_ptr() as *mut __m128i, x.scales_i8()) };
            assert_eq!(got, x.scales());
        }
    }
}
