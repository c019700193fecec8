//! Q6_K × Q8_K dot products with AVX2 + FMA + F16C, one weight row against `T` activation
//! rows: what AVX2-only CPUs decode with (a Q4_K_M file keeps its output head and some
//! `ffn_down`/`attn_v` in Q6_K), and every x86 CPU Q3_K (the Q3_K_S/M/L files) and Q2_K (the
//! Q2_K file), whose blocks have the same 16 group scales and an offset per group
//! (`Groups16`): Q3_K's `4 · scale`, as Q6_K's `32 · scale`; Q2_K's its own 4-bit min, with its
//! own factor `dmin`.
//!
//! value = d · scale_j · (q − 32) per 16-value group j: the 6-bit q (0–63) is `maddubs`'s
//! unsigned operand (63 · 128 · 2 cannot saturate i16), one `madd` applies the group scales,
//! and the offset is `32 · Σ_j scale_j · bsum_j` from the activations' 16-value sums, as in the
//! AVX-512 kernel (candle's spends four more `maddubs` per 128 values on it). Each 32-value
//! vector's high bits are one shift and a mask, and its scales one in-lane byte shuffle of the
//! block's scales widened once (even groups in the low lane, odd in the high): 8.0 to 7.3 ns
//! per block with rows in cache on Zen 4.
//!
//! AVX-VNNI CPUs decode with `one_vnni`: `vpdpbusd` sums four products in i32 (at most
//! 4 · 63 · 128, exact in i16), `packs_epi32` puts two vectors' sums in one and a single `madd`
//! applies their four groups' scales: per 64 values two `vpdpbusd`, a pack, one shuffle and
//! one `madd` where AVX2 needs two `maddubs`, two shuffles and two `madd`s.

use super::block_views::{Q2K, Q3K, Q6K, Q8K};
use super::simd::view;
use candle_core::quantized::k_quants::{BlockQ2K, BlockQ3K, BlockQ6K, BlockQ8K};

/// One weight row against `T` activation rows.
#[cfg(target_arch = "x86_64")]
pub(crate) fn rows<const T: usize>(n: usize, xs: &[BlockQ6K], ys: [&[BlockQ8K]; T]) -> [f32; T] {
    rows_of::<_, Q6K, T>(n, xs, ys)
}

/// One Q3_K weight row against `T` activation rows: Q6_K's kernel on Q3_K's unsigned 3-bit
/// values (`q − 4` is the value, as `q − 32` is Q6_K's; its 16 scales signed likewise), on
/// every x86 family (candle's AVX2 kernel decoded Q3_K_M at 68 % of the memory's rate).
#[cfg(target_arch = "x86_64")]
pub(crate) fn rows_q3k<const T: usize>(
    n: usize,
    xs: &[BlockQ3K],
    ys: [&[BlockQ8K]; T],
) -> [f32; T] {
    rows_of::<_, Q3K, T>(n, xs, ys)
}

/// One Q2_K weight row against `T` activation rows: Q6_K's kernel on Q2_K's 2-bit values and
/// 4-bit scales, its 4-bit mins in place of the offset, on every x86 family (until stop 34 the
/// Q2_K file decoded on candle's AVX2 kernel, which does not prefetch).
#[cfg(target_arch = "x86_64")]
pub(crate) fn rows_q2k<const T: usize>(
    n: usize,
    xs: &[BlockQ2K],
    ys: [&[BlockQ8K]; T],
) -> [f32; T] {
    rows_of::<_, Q2K, T>(n, xs, ys)
}

/// `xs` (candle's blocks) read through their view `B`: the callers pair each block type with
/// its view.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn rows_of<X, B: imp::Groups16, const T: usize>(
    n: usize,
    xs: &[X],
    ys: [&[BlockQ8K]; T],
) -> [f32; T] {
    assert!(crate::isa::Isa::Avx2.supported());
    // SAFETY: `B` and `Q8K` have candle's sizes and alignments (asserted beside them) and
    // ggml's field orders; the check above guards the target features.
    unsafe { imp::dot::<B, T>(view(xs, n / 256), ys.map(|y| view(y, n / 256))) }
}

/// One weight row against one activation row with 256-bit `vpdpbusd` (`VEX`: AVX-VNNI's
/// encoding, else AVX-512 VNNI + VL's).
#[cfg(target_arch = "x86_64")]
pub(crate) fn one_vnni<const VEX: bool>(n: usize, xs: &[BlockQ6K], ys: &[BlockQ8K]) -> f32 {
    if VEX {
        assert!(crate::isa::avxvnni_vex());
    } else {
        assert!(crate::isa::Isa::Avx512.supported() && super::q4k_avx512::vnni_detected());
    }
    // SAFETY: as in `rows`; the checks above guard the target features.
    unsafe {
        let (xs, ys) = (view(xs, n / 256), view(ys, n / 256));
        if VEX {
            imp::one_avxvnni(xs, ys)
        } else {
            imp::one_vnni_evex(xs, ys)
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod imp {
    use super::super::simd::{half_to_f32, hsum256, prefetch_ahead, Dpbusd, Evex, Vex};
    use super::{Q2K, Q3K, Q6K, Q8K};
    use std::arch::x86_64::*;

    /// A block of 16 groups of 16 unsigned values, each group with a scale and an offset
    /// (Q6_K: `q − 32`; Q3_K: `q − 4`; Q2_K: its min): what `dot` multiplies.
    pub(in super::super) trait Groups16 {
        /// The block's factor `d`.
        ///
        /// # Safety
        /// F16C.
        unsafe fn d(&self) -> f32;
        /// The 16 group scales, signed bytes.
        ///
        /// # Safety
        /// AVX2.
        unsafe fn scales(&self) -> __m128i;
        /// The values 128h + 32k … + 32 for k = 0..4 (unsigned): vector k covers groups 8h +
        /// 2k (its low 128-bit lane) and 8h + 2k + 1 (its high lane).
        ///
        /// # Safety
        /// AVX2; `h` is 0 or 1.
        unsafe fn values(&self, h: usize) -> [__m256i; 4];
        /// The 16 groups' offsets as i16, from the scales widened (`sc16`): what each group's
        /// activation sum is multiplied by and taken off.
        ///
        /// # Safety
        /// AVX2.
        unsafe fn offsets(&self, sc16: __m256i) -> __m256i;
        /// The offsets' own factor where they have one (Q2_K's `dmin`); `None`: `d`, and the
        /// offsets come off the integer sums before their one conversion.
        ///
        /// # Safety
        /// F16C.
        unsafe fn dmin(&self) -> Option<f32>;
    }

    impl Groups16 for Q6K {
        #[inline(always)]
        unsafe fn d(&self) -> f32 {
            // SAFETY: the caller's F16C.
            unsafe { half_to_f32(self.d.to_bits()) }
        }
        #[inline(always)]
        unsafe fn scales(&self) -> __m128i {
            // SAFETY: the 16 bytes of `scales`.
            unsafe { _mm_loadu_si128(self.scales.as_ptr() as *const __m128i) }
        }
        #[inline(always)]
        unsafe fn values(&self, h: usize) -> [__m256i; 4] {
            // SAFETY: the caller's.
            unsafe { values(self, h) }
        }
        #[inline(always)]
        unsafe fn offsets(&self, sc16: __m256i) -> __m256i {
            // 32 · scale: at most 32 · 128 in magnitude, inside i16.
            _mm256_slli_epi16::<5>(sc16)
        }
        #[inline(always)]
        unsafe fn dmin(&self) -> Option<f32> {
            None
        }
    }

    impl Groups16 for Q3K {
        #[inline(always)]
        unsafe fn d(&self) -> f32 {
            // SAFETY: the caller's F16C.
            unsafe { half_to_f32(self.d.to_bits()) }
        }
        #[inline(always)]
        unsafe fn scales(&self) -> __m128i {
            // SAFETY: the caller's AVX2.
            unsafe { self.scales_i8() }
        }
        #[inline(always)]
        unsafe fn values(&self, h: usize) -> [__m256i; 4] {
            // SAFETY: the caller's.
            unsafe { self.q_half(h) }
        }
        #[inline(always)]
        unsafe fn offsets(&self, sc16: __m256i) -> __m256i {
            _mm256_slli_epi16::<2>(sc16)
        }
        #[inline(always)]
        unsafe fn dmin(&self) -> Option<f32> {
            None
        }
    }

    impl Groups16 for Q2K {
        #[inline(always)]
        unsafe fn d(&self) -> f32 {
            // SAFETY: the caller's F16C.
            unsafe { half_to_f32(self.d.to_bits()) }
        }
        #[inline(always)]
        unsafe fn scales(&self) -> __m128i {
            // SAFETY: the 16 bytes of `scales`; their low nibbles.
            let raw = unsafe { _mm_loadu_si128(self.scales.as_ptr() as *const __m128i) };
            _mm_and_si128(raw, _mm_set1_epi8(0x0F))
        }
        #[inline(always)]
        unsafe fn values(&self, h: usize) -> [__m256i; 4] {
            // SAFETY: the caller's.
            unsafe { self.q_half(h) }
        }
        #[inline(always)]
        unsafe fn offsets(&self, _sc16: __m256i) -> __m256i {
            // SAFETY: the 16 bytes of `scales`; their high nibbles, the mins (0–15).
            let raw = unsafe { _mm_loadu_si128(self.scales.as_ptr() as *const __m128i) };
            _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16::<4>(raw), _mm_set1_epi8(0x0F)))
        }
        #[inline(always)]
        unsafe fn dmin(&self) -> Option<f32> {
            // SAFETY: the caller's F16C.
            Some(unsafe { half_to_f32(self.dmin.to_bits()) })
        }
    }

    /// The block's 16 scale bytes, even groups first (0, 2, …, 14, then 1, 3, …, 15): widened
    /// to i16, the low 128-bit lane holds the even groups and the high lane the odd ones.
    static EVEN_ODD: [u8; 16] = [0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15];

    /// `vpshufb` indices that repeat i16 lane `i` of each 128-bit lane across that lane.
    const fn repeat() -> [[u8; 32]; 8] {
        let mut out = [[0u8; 32]; 8];
        let mut k = 0;
        while k < 8 {
            let mut i = 0;
            while i < 32 {
                out[k][i] = (2 * k + i % 2) as u8;
                i += 1;
            }
            k += 1;
        }
        out
    }
    static REPEAT: [[u8; 32]; 8] = repeat();

    /// `vpshufb` indices for `one_vnni`: after `packs_epi32` of vectors k = 2p and 2p + 1 of
    /// half h, i16 lanes 0–3 of each 128-bit lane hold vector 2p's sums and 4–7 vector 2p+1's;
    /// in `even_odd` (even groups in the low lane, odd in the high) their scales are i16
    /// 4h + 2p and 4h + 2p + 1 of the same lane. Indexed `[2h + p]`.
    const fn packed_scales() -> [[u8; 32]; 4] {
        let mut out = [[0u8; 32]; 4];
        let mut hp = 0;
        while hp < 4 {
            let mut i = 0;
            while i < 32 {
                let lane = (i % 16) / 2;
                let idx = 2 * hp + if lane < 4 { 0 } else { 1 };
                out[hp][i] = (2 * idx + i % 2) as u8;
                i += 1;
            }
            hp += 1;
        }
        out
    }
    static PACKED_SCALES: [[u8; 32]; 4] = packed_scales();

    #[target_feature(enable = "avx2,fma,f16c,avxvnni")]
    pub(super) unsafe fn one_avxvnni(xs: &[Q6K], ys: &[Q8K]) -> f32 {
        // SAFETY: this function's target features are the kernel's.
        unsafe { one::<Vex>(xs, ys) }
    }

    #[target_feature(enable = "avx512f,avx512vl,avx512vnni,avx2,fma,f16c")]
    pub(super) unsafe fn one_vnni_evex(xs: &[Q6K], ys: &[Q8K]) -> f32 {
        // SAFETY: this function's target features are the kernel's.
        unsafe { one::<Evex>(xs, ys) }
    }

    /// The 6-bit values 128h + 32k … + 32 of block `x` for k = 0..4, in the activations'
    /// order (0–63, unsigned): vector k covers groups 8h + 2k (its low 128-bit lane) and
    /// 8h + 2k + 1 (its high lane).
    ///
    /// # Safety
    /// AVX2; `h` is 0 or 1.
    #[inline(always)]
    unsafe fn values(x: &Q6K, h: usize) -> [__m256i; 4] {
        let m4 = _mm256_set1_epi8(0x0F);
        let m30 = _mm256_set1_epi8(0x30);
        // SAFETY: 64 of the 128 bytes of `ql` and 32 of the 64 of `qh`, for h ≤ 1.
        let (ql0, ql1, qh) = unsafe {
            (
                _mm256_loadu_si256(x.ql.as_ptr().add(64 * h) as *const __m256i),
                _mm256_loadu_si256(x.ql.as_ptr().add(64 * h + 32) as *const __m256i),
                _mm256_loadu_si256(x.qh.as_ptr().add(32 * h) as *const __m256i),
            )
        };
        // Bit pair k of qh, moved to bits 4–5 and masked (16-bit shifts move bits across
        // bytes, which the mask drops).
        let high = [
            _mm256_and_si256(_mm256_slli_epi16::<4>(qh), m30),
            _mm256_and_si256(_mm256_slli_epi16::<2>(qh), m30),
            _mm256_and_si256(qh, m30),
            _mm256_and_si256(_mm256_srli_epi16::<2>(qh), m30),
        ];
        [
            _mm256_or_si256(_mm256_and_si256(ql0, m4), high[0]),
            _mm256_or_si256(_mm256_and_si256(ql1, m4), high[1]),
            _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16::<4>(ql0), m4), high[2]),
            _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16::<4>(ql1), m4), high[3]),
        ]
    }

    /// One token with `vpdpbusd` (see the module's doc).
    #[inline(always)]
    unsafe fn one<D: Dpbusd>(xs: &[Q6K], ys: &[Q8K]) -> f32 {
        let zero = _mm256_setzero_si256();
        // SAFETY: 16 and 32 bytes from arrays of those sizes.
        let (even_odd_idx, packed) = unsafe {
            (
                _mm_loadu_si128(EVEN_ODD.as_ptr() as *const __m128i),
                PACKED_SCALES.map(|r| _mm256_loadu_si256(r.as_ptr() as *const __m256i)),
            )
        };
        let mut acc = _mm256_setzero_ps();
        for (x, y) in xs.iter().zip(ys) {
            prefetch_ahead(x, 4);
            let d = half_to_f32(x.d.to_bits());
            // SAFETY (loads): inside the block's `scales` (16), `ql` (128), `qh` (64) and the
            // activations' `qs` (256) and `bsums` (32 bytes).
            let scales8 = unsafe { _mm_loadu_si128(x.scales.as_ptr() as *const __m128i) };
            let even_odd = _mm256_cvtepi8_epi16(_mm_shuffle_epi8(scales8, even_odd_idx));
            let mut sumi = _mm256_setzero_si256();
            for h in 0..2 {
                // SAFETY: the callers' target features; `x` a whole block.
                let q = unsafe { values(x, h) };
                let yq = y.qs.as_ptr();
                let mut dots = [zero; 4];
                for (k, dot) in dots.iter_mut().enumerate() {
                    let yv =
                        unsafe { _mm256_loadu_si256(yq.add(128 * h + 32 * k) as *const __m256i) };
                    // SAFETY: the callers' target features.
                    *dot = unsafe { D::dpbusd(zero, q[k], yv) };
                }
                for p in 0..2 {
                    let sums = _mm256_packs_epi32(dots[2 * p], dots[2 * p + 1]);
                    let sc = _mm256_shuffle_epi8(even_odd, packed[2 * h + p]);
                    sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(sums, sc));
                }
            }
            // The offset of the stored values, as in `dot`.
            let bsums = unsafe { _mm256_loadu_si256(y.bsums.as_ptr() as *const __m256i) };
            let sc16 = _mm256_cvtepi8_epi16(scales8);
            let off = _mm256_slli_epi32::<5>(_mm256_madd_epi16(sc16, bsums));
            let sumi = _mm256_sub_epi32(sumi, off);
            acc = _mm256_fmadd_ps(_mm256_set1_ps(d * y.d), _mm256_cvtepi32_ps(sumi), acc);
        }
        hsum256(acc)
    }

    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) unsafe fn dot<B: Groups16, const T: usize>(xs: &[B], ys: [&[Q8K]; T]) -> [f32; T] {
        let even_odd_idx = _mm_loadu_si128(EVEN_ODD.as_ptr() as *const __m128i);
        let repeat = REPEAT.map(|r| _mm256_loadu_si256(r.as_ptr() as *const __m256i));
        let lines = std::mem::size_of::<B>().div_ceil(64);
        let mut acc = [_mm256_setzero_ps(); T];
        for (b, x) in xs.iter().enumerate() {
            prefetch_ahead(x, lines);
            let d = x.d();
            let scales8 = x.scales();
            let offsets = x.offsets(_mm256_cvtepi8_epi16(scales8));
            let dmin = x.dmin();
            let even_odd = _mm256_cvtepi8_epi16(_mm_shuffle_epi8(scales8, even_odd_idx));
            let mut sumi = [_mm256_setzero_si256(); T];
            for h in 0..2 {
                let q = x.values(h);
                // Vector k of half h covers groups 8h + 2k (its low 128-bit lane's products)
                // and 8h + 2k + 1 (the high lane's): i16 4h + k of each lane of `even_odd`.
                let mut sc = [_mm256_setzero_si256(); 4];
                for (k, sc) in sc.iter_mut().enumerate() {
                    *sc = _mm256_shuffle_epi8(even_odd, repeat[4 * h + k]);
                }
                for t in 0..T {
                    let y = ys[t][b].qs.as_ptr().add(128 * h);
                    for k in 0..4 {
                        let yv = _mm256_loadu_si256(y.add(32 * k) as *const __m256i);
                        let p = _mm256_madd_epi16(sc[k], _mm256_maddubs_epi16(q[k], yv));
                        sumi[t] = _mm256_add_epi32(sumi[t], p);
                    }
                }
            }
            for t in 0..T {
                let y = &ys[t][b];
                // Σ_j offset_j · bsum_j: |Σ q·y·scale| < 256 · 63 · 128 · 128 and the offsets'
                // sum < 32 · 128 · 16 · 2,048, both far inside i32. Where the offsets share
                // `d` they come off in i32 lanes before the one conversion.
                let bsums = _mm256_loadu_si256(y.bsums.as_ptr() as *const __m256i);
                let off = _mm256_madd_epi16(offsets, bsums);
                let dy = _mm256_set1_ps(d * y.d);
                acc[t] = match dmin {
                    None => {
                        let sumi = _mm256_sub_epi32(sumi[t], off);
                        _mm256_fmadd_ps(dy, _mm256_cvtepi32_ps(sumi), acc[t])
                    }
                    Some(dmin) => {
                        let acc = _mm256_fmadd_ps(dy, _mm256_cvtepi32_ps(sumi[t]), acc[t]);
                        let my = _mm256_set1_ps(dmin * y.d);
                        _mm256_fnmadd_ps(my, _mm256_cvtepi32_ps(off), acc)
                    }
                };
            }
        }
        acc.map(|acc| hsum256(acc))
    }
}
