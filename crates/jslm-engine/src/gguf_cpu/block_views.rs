//! ggml's quantized blocks as the kernels read them: one `repr(C)` view per block type
//! (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q8_K, Q4_0, Q5_0, Q8_0), with candle's size and alignment
//! (asserted beside each) and ggml's field order, so `simd::view` can reinterpret a tensor's
//! blocks (candle's fields are crate-private), and the scalar decoding of their packed scales.
//! The one home of these layouts: the x86 kernels, the prompt tiles and the decode
//! activations all read them from here; their SIMD unpacking is `block_unpack.rs`.
#![cfg_attr(not(target_arch = "x86_64"), allow(dead_code))] // (read by x86 kernels only)

use candle_core::quantized::k_quants::{
    BlockQ2K, BlockQ3K, BlockQ4K, BlockQ4_0, BlockQ5K, BlockQ5_0, BlockQ6K, BlockQ8K, BlockQ8_0,
};
use half::f16;

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
/// `hmask[l]` (its 4), and the 6-bit `s_j` packed in `scales` (`Q3K::scales_i8`).
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

/// ggml's `block_q4_K`.
#[repr(C)]
pub(super) struct Q4K {
    pub d: f16,
    pub dmin: f16,
    pub scales: [u8; 12],
    pub qs: [u8; 128],
}

/// ggml's `block_q5_K`: Q4_K's factors and packed
/// 6-bit scales, each value's fifth bit in `qh`.
#[repr(C)]
pub(super) struct Q5K {
    pub d: f16,
    pub dmin: f16,
    pub scales: [u8; 12],
    pub qh: [u8; 32],
    pub qs: [u8; 128],
}

const _: () = assert!(std::mem::size_of::<Q5K>() == std::mem::size_of::<BlockQ5K>());
const _: () = assert!(std::mem::align_of::<Q5K>() == std::mem::align_of::<BlockQ5K>());

/// A Q4_K or Q5_K block as the kernels that serve both read it: the same factors and packed
/// scales, and for Q5_K a fifth bit per value.
pub(super) trait KBlock {
    fn d(&self) -> f16;
    fn dmin(&self) -> f16;
    fn scales(&self) -> &[u8; 12];
    fn qs(&self) -> &[u8; 128];
    /// Q5_K's fifth bits: bit `2j` of byte `l` for value `64j + l`, `2j + 1` for `64j + 32 +
    /// l`.
    fn qh(&self) -> Option<&[u8; 32]>;
}

macro_rules! k_block {
    ($block:ty, |$x:ident| $qh:expr) => {
        impl KBlock for $block {
            fn d(&self) -> f16 {
                self.d
            }
            fn dmin(&self) -> f16 {
                self.dmin
            }
            fn scales(&self) -> &[u8; 12] {
                &self.scales
            }
            fn qs(&self) -> &[u8; 128] {
                &self.qs
            }
            fn qh(&self) -> Option<&[u8; 32]> {
                let $x = self;
                $qh
            }
        }
    };
}
k_block!(Q4K, |_x| None);
k_block!(Q5K, |x| Some(&x.qh));

/// ggml's `block_q8_K`.
#[repr(C)]
pub(super) struct Q8K {
    pub d: f32,
    pub qs: [i8; 256],
    pub bsums: [i16; 16],
}

const _: () = assert!(std::mem::size_of::<Q4K>() == std::mem::size_of::<BlockQ4K>());
const _: () = assert!(std::mem::align_of::<Q4K>() == std::mem::align_of::<BlockQ4K>());
const _: () = assert!(std::mem::size_of::<Q8K>() == std::mem::size_of::<BlockQ8K>());
const _: () = assert!(std::mem::align_of::<Q8K>() == std::mem::align_of::<BlockQ8K>());

/// Masks of Q4_K's packed scales (ggml's names).
pub(super) const KMASK1: u32 = 0x3f3f3f3f;
pub(super) const KMASK2: u32 = 0x0f0f0f0f;
pub(super) const KMASK3: u32 = 0x03030303;

/// The eight 6-bit scales (bytes 0–7) and mins (bytes 8–15) of a block, as ggml's
/// `get_scale_min_k4` reads them.
#[inline(always)]
pub(super) fn scales_and_mins(packed: &[u8; 12]) -> [u32; 4] {
    let u = |i: usize| u32::from_le_bytes(packed[4 * i..4 * i + 4].try_into().unwrap());
    let (u0, u1, u2) = (u(0), u(1), u(2));
    [
        u0 & KMASK1,
        (u2 & KMASK2) | (((u0 >> 6) & KMASK3) << 4),
        u1 & KMASK1,
        ((u2 >> 4) & KMASK2) | (((u1 >> 6) & KMASK3) << 4),
    ]
}

/// ggml's `block_q6_K`.
#[repr(C)]
pub(super) struct Q6K {
    pub ql: [u8; 128],
    pub qh: [u8; 64],
    pub scales: [i8; 16],
    pub d: f16,
}

const _: () = assert!(std::mem::size_of::<Q6K>() == std::mem::size_of::<BlockQ6K>());
const _: () = assert!(std::mem::align_of::<Q6K>() == std::mem::align_of::<BlockQ6K>());

/// ggml's `block_q8_0`.
#[repr(C)]
pub(super) struct Q8 {
    pub d: f16,
    pub qs: [i8; 32],
}

const _: () = assert!(std::mem::size_of::<Q8>() == std::mem::size_of::<BlockQ8_0>());
const _: () = assert!(std::mem::align_of::<Q8>() == std::mem::align_of::<BlockQ8_0>());

/// Q3_K's scales unpacked word by word, as ggml's `dequantize_row_q3_K` does: the reference
/// the kernels' unpacking (`Q3K::scales_i8` in `block_unpack.rs`) is tested against.
#[cfg(test)]
impl Q3K {
    /// The sixteen 6-bit `s_j` (0…63), four bytes per little-endian word: the low four bits
    /// of `s_j` are nibbles of bytes 0–7 (sub-blocks 0–7 the low ones, 8–15 the high), the
    /// top two bits pairs of bytes 8–11.
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
