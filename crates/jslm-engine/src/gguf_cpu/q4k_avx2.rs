//! Q4_K (and Q5_K) × Q8_K dot products with AVX2 + FMA + F16C, one weight row against `T`
//! activation rows: what AVX2-only CPUs decode with; and with 256-bit VNNI, decode's kernel on
//! CPUs with AVX-VNNI (`arranged_vnni`).
//!
//! ggml's AVX2 arithmetic (candle's `vec_dot_q4k_q8k` is the same): per 64 values the low and
//! high nibbles of 32 bytes enter `maddubs` as the unsigned operand (15 · 128 · 2 cannot
//! saturate i16), one `madd` applies the sub-block scale, and the mins are `dmin · Σ_j m_j ·
//! bsum_j`. Ours adds what made the AVX-512 kernel fast: F16C scales inline, software
//! prefetch, and the block unpacked once for all `T` tokens.

use super::block_views::{Q4K, Q5K, Q8K};
use super::decode_acts::DecodeActs;
use super::simd::view;
use candle_core::quantized::k_quants::{BlockQ4K, BlockQ5K, BlockQ8K};

/// One weight row against `T` activation rows.
#[cfg(target_arch = "x86_64")]
pub(crate) fn rows<const T: usize>(n: usize, xs: &[BlockQ4K], ys: [&[BlockQ8K]; T]) -> [f32; T] {
    assert!(crate::isa::Isa::Avx2.supported());
    // SAFETY: `Q4K`/`Q8K` have candle's sizes and alignments (asserted beside them) and ggml's
    // field order; the check above guards the target features.
    unsafe { imp::dot::<T>(view(xs, n / 256), ys.map(|y| view(y, n / 256))) }
}

/// Q5_K: one weight row against `T` activation rows (Q4_K's arithmetic with the fifth bit
/// of each value or'ed in) with the prefetch and F16C factors of ours, and four tokens per
/// unpacked block for prompts' leftovers.
#[cfg(target_arch = "x86_64")]
pub(crate) fn rows_q5k<const T: usize>(
    n: usize,
    xs: &[BlockQ5K],
    ys: [&[BlockQ8K]; T],
) -> [f32; T] {
    assert!(crate::isa::Isa::Avx2.supported());
    // SAFETY: `Q5K`/`Q8K` have candle's sizes and alignments (asserted beside them) and ggml's
    // field order; the check above guards the target features.
    unsafe { imp::dot_q5k::<T>(view(xs, n / 256), ys.map(|y| view(y, n / 256))) }
}

/// One weight row against one token's activations arranged once per product
/// (`DecodeActs`), with 256-bit `vpdpbusd`: AVX-VNNI's VEX encoding (`VEX`) or AVX-512 VNNI +
/// VL's EVEX one (how an AVX-512 CPU runs the AVX-VNNI kernels, here and in the tests).
#[cfg(target_arch = "x86_64")]
pub(crate) fn arranged_vnni<const VEX: bool>(n: usize, xs: &[BlockQ4K], acts: &DecodeActs) -> f32 {
    if VEX {
        assert!(crate::isa::avxvnni_vex());
    } else {
        assert!(crate::isa::Isa::Avx512.supported() && super::q4k_avx512::vnni_detected());
    }
    let blocks = n / 256;
    assert!(acts.qs.len() >= blocks && acts.d.len() >= blocks && acts.min_sums.len() >= blocks);
    // SAFETY: `Q4K`/`Q8K` have candle's sizes and alignments (asserted beside them) and ggml's
    // field order; the checks above guard the target features and `acts`' lengths.
    unsafe {
        let (xs, ys): (&[Q4K], &[Q8K]) = (view(xs, blocks), view(acts.blocks, blocks));
        if VEX {
            imp::arranged_avxvnni(xs, acts, ys)
        } else {
            imp::arranged_vnni_evex(xs, acts, ys)
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod imp {
    use super::super::block_views::{KBlock, KMASK1, KMASK2, KMASK3};
    use super::super::simd::{fifth_bits, half_to_f32, hsum128, hsum256, prefetch_ahead};
    use super::super::simd::{Dpbusd, Evex, Vex};
    use super::DecodeActs;
    use super::{Q4K, Q5K, Q8K};
    use std::arch::x86_64::*;

    /// i16 pairs (2j, 2j+1) of the scale vector: lanes of sub-block `j` take scale j.
    const fn shuffle_k4() -> [[u8; 32]; 8] {
        let mut out = [[0u8; 32]; 8];
        let mut j = 0;
        while j < 8 {
            let mut i = 0;
            while i < 32 {
                out[j][i] = (2 * j + i % 2) as u8;
                i += 1;
            }
            j += 1;
        }
        out
    }
    static SHUFFLE_K4: [[u8; 32]; 8] = shuffle_k4();

    /// i16 lanes of a block's mins (in both 128-bit lanes) paired with its `bsums`: bsums
    /// 2j and 2j+1 belong to sub-block j, lanes 0–7 of `bsums` to sub-blocks 0–3.
    const fn mins_dup() -> [u8; 32] {
        let mut out = [0u8; 32];
        let mut i = 0;
        while i < 32 {
            // Byte i of 128-bit lane L is i16 k = (i % 16) / 2 of the lane, bsum 8L + k.
            let j = 4 * (i / 16) + i % 16 / 4;
            out[i] = (2 * j + i % 2) as u8;
            i += 1;
        }
        out
    }
    static MINS_DUP: [u8; 32] = mins_dup();

    /// Blocks per step of `one_token` (and of the AVX-512 one).
    pub(in super::super) const GROUP: usize = 2;

    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) unsafe fn dot<const T: usize>(xs: &[Q4K], ys: [&[Q8K]; T]) -> [f32; T] {
        if T != 1 {
            // SAFETY: this function's target features.
            return unsafe { body::<Q4K, T>(xs, ys) };
        }
        // One token (decode): whole groups through `one_token`, the rest through `body`.
        let whole = xs.len() / GROUP * GROUP;
        // SAFETY: this function's target features; both parts index within `xs` and `ys[0]`.
        let (head, tail) = unsafe {
            (
                one_token(&xs[..whole], &ys[0][..whole]),
                body::<Q4K, 1>(&xs[whole..], [&ys[0][whole..]])[0],
            )
        };
        let mut out = [0f32; T];
        out[0] = head + tail;
        out
    }

    #[target_feature(enable = "avx2,fma,f16c,avxvnni")]
    pub(super) unsafe fn arranged_avxvnni(xs: &[Q4K], acts: &DecodeActs, ys: &[Q8K]) -> f32 {
        // SAFETY: this function's target features are the kernel's.
        unsafe { arranged::<Vex>(xs, acts, ys) }
    }

    #[target_feature(enable = "avx512f,avx512vl,avx512vnni,avx2,fma,f16c")]
    pub(super) unsafe fn arranged_vnni_evex(xs: &[Q4K], acts: &DecodeActs, ys: &[Q8K]) -> f32 {
        // SAFETY: this function's target features are the kernel's.
        unsafe { arranged::<Evex>(xs, acts, ys) }
    }

    /// i16 lanes of the scale vector for the 64 values at `32j` of a block's `qs`, after
    /// `packs_epi32(lo, hi)`: lanes 0–3 of each 128-bit lane hold the low nibbles' sums
    /// (sub-block 2j), lanes 4–7 the high nibbles' (2j + 1).
    const fn shuffle_packed() -> [[u8; 32]; 4] {
        let mut out = [[0u8; 32]; 4];
        let mut j = 0;
        while j < 4 {
            let mut i = 0;
            while i < 32 {
                let sub = 2 * j + (i % 16) / 8;
                out[j][i] = (2 * sub + i % 2) as u8;
                i += 1;
            }
            j += 1;
        }
        out
    }
    static SHUFFLE_PACKED: [[u8; 32]; 4] = shuffle_packed();

    /// Whole pairs of blocks through `one_token_vnni`, an odd last block through `body` (from
    /// the blocks as quantized, `ys`).
    #[inline(always)]
    unsafe fn arranged<D: Dpbusd>(xs: &[Q4K], acts: &DecodeActs, ys: &[Q8K]) -> f32 {
        let whole = xs.len() / GROUP * GROUP;
        // SAFETY: the callers' target features; both parts index within `xs`, `acts` and `ys`
        // (the caller checked their lengths).
        unsafe {
            one_token_vnni::<D>(&xs[..whole], acts)
                + body::<Q4K, 1>(&xs[whole..], [&ys[whole..]])[0]
        }
    }

    /// `one_token` with `vpdpbusd`: each nibble half's products sum in i32 over groups of
    /// four values (at most 4 · 15 · 128, so `packs_epi32` keeps them exactly), the low and
    /// high halves pack into one vector of i16 and one `madd` applies both sub-blocks' scales:
    /// per 64 values one scale shuffle, two `vpdpbusd`, a pack and a `madd` where `one_token`
    /// has two shuffles, two `maddubs` and two `madd`s. The activations come arranged
    /// (`DecodeActs`): the mins meet their sub-block sums in one `madd` of the widened scales
    /// and mins, with no shuffle.
    #[inline(always)]
    unsafe fn one_token_vnni<D: Dpbusd>(xs: &[Q4K], acts: &DecodeActs) -> f32 {
        debug_assert_eq!(xs.len() % GROUP, 0);
        let m4 = _mm256_set1_epi8(0x0F);
        let zero = _mm256_setzero_si256();
        // SAFETY: this function's callers' target features.
        let heads = unsafe { PairHeads::new() };
        let shuffles: [__m256i; 4] = std::array::from_fn(|j| {
            // SAFETY: 32 bytes from a 32-byte array.
            unsafe { _mm256_loadu_si256(SHUFFLE_PACKED[j].as_ptr() as *const __m256i) }
        });
        let mut acc = _mm256_setzero_ps();
        let mut acc_m = _mm256_setzero_ps();
        for (p, x) in xs.chunks_exact(GROUP).enumerate() {
            let b = GROUP * p;
            prefetch_ahead(&x[0], GROUP * std::mem::size_of::<Q4K>().div_ceil(64));
            // SAFETY: `acts` holds every block of `xs` (the caller checked); two blocks.
            let (f, sm) = unsafe {
                let yd = _mm_castpd_ps(_mm_load_sd(acts.d.as_ptr().add(b) as *const f64));
                let (f, _, sm) = heads.scaled(x, _mm_unpacklo_ps(yd, yd));
                (f, sm)
            };
            for (q, x) in x.iter().enumerate() {
                // i16 lanes [scales, mins] of block q.
                let widened = _mm256_cvtepu8_epi16(if q == 0 {
                    _mm256_castsi256_si128(sm)
                } else {
                    _mm256_extracti128_si256::<1>(sm)
                });
                // SAFETY: 32 bytes, the block's `min_sums`.
                let sums =
                    unsafe { _mm256_loadu_si256(acts.min_sums[b + q].as_ptr() as *const __m256i) };
                // The scales meet the sums' zeros: lanes 4–7 hold `m_j · sum_j` in pairs.
                let mins = _mm256_madd_epi16(widened, sums);
                let fm = _mm256_set1_ps(factor(&f, 2 * q + 1));
                acc_m = _mm256_fmadd_ps(fm, _mm256_cvtepi32_ps(mins), acc_m);
                let scales = _mm256_permute2x128_si256::<0x00>(widened, widened);
                let qs = acts.qs[b + q].0.as_ptr();
                let mut sumi = _mm256_setzero_si256();
                for (j, shuffle) in shuffles.iter().enumerate() {
                    // `DecodeActs` order: per half h, what the low nibbles of its two 32-byte
                    // parts multiply, then what their high nibbles multiply.
                    let (h, e) = (j / 2, j % 2);
                    // SAFETY: 32 bytes inside the 128-byte `qs` of `x`; inside the 256 of `qs`.
                    let (q4, yl, yh) = unsafe {
                        (
                            _mm256_loadu_si256(x.qs.as_ptr().add(32 * j) as *const __m256i),
                            _mm256_load_si256(qs.add(128 * h + 32 * e) as *const __m256i),
                            _mm256_load_si256(qs.add(128 * h + 64 + 32 * e) as *const __m256i),
                        )
                    };
                    let q4l = _mm256_and_si256(q4, m4);
                    let q4h = _mm256_and_si256(_mm256_srli_epi16::<4>(q4), m4);
                    // SAFETY: the callers' target features.
                    let (lo, hi) = unsafe { (D::dpbusd(zero, q4l, yl), D::dpbusd(zero, q4h, yh)) };
                    let sc = _mm256_shuffle_epi8(scales, *shuffle);
                    sumi =
                        _mm256_add_epi32(sumi, _mm256_madd_epi16(_mm256_packs_epi32(lo, hi), sc));
                }
                let fd = _mm256_set1_ps(factor(&f, 2 * q));
                acc = _mm256_fmadd_ps(fd, _mm256_cvtepi32_ps(sumi), acc);
            }
        }
        hsum256(acc) - hsum256(acc_m)
    }

    /// One weight row against one activation row, two blocks at a time. Decode runs this
    /// once per row per token, and a quarter of `body`'s instructions per block (counted in
    /// its source) are bookkeeping in scalar code: the f16 scales, unpacking the 6-bit scales
    /// and mins, the min sums. Here each is a few vector instructions for both blocks
    /// (`PairHeads`).
    #[inline(always)]
    unsafe fn one_token(xs: &[Q4K], ys: &[Q8K]) -> f32 {
        debug_assert_eq!(xs.len() % GROUP, 0);
        debug_assert_eq!(xs.len(), ys.len());
        let m4 = _mm256_set1_epi8(0x0F);
        // SAFETY: this function's callers' target features.
        let heads = unsafe { PairHeads::new() };
        let shuffles: [__m256i; 8] = std::array::from_fn(|j| {
            // SAFETY: 32 bytes from a 32-byte array.
            unsafe { _mm256_loadu_si256(SHUFFLE_K4[j].as_ptr() as *const __m256i) }
        });
        let mut acc = _mm256_setzero_ps();
        let mut acc_m = _mm256_setzero_ps();
        for (x, y) in xs.chunks_exact(GROUP).zip(ys.chunks_exact(GROUP)) {
            prefetch_ahead(&x[0], GROUP * std::mem::size_of::<Q4K>().div_ceil(64));
            // SAFETY: two blocks each.
            let (f, sm) = unsafe { heads.of(x, y) };
            for q in 0..GROUP {
                let (x, y) = (&x[q], &y[q]);
                // SAFETY: `y` is a whole block.
                let (widened, fm, prod) = unsafe { heads.block(&f, sm, q, y) };
                acc_m = _mm256_fmadd_ps(fm, _mm256_cvtepi32_ps(prod), acc_m);
                let scales = _mm256_permute2x128_si256::<0x00>(widened, widened);
                let mut sumi = _mm256_setzero_si256();
                for j in 0..4 {
                    let scale_l = _mm256_shuffle_epi8(scales, shuffles[2 * j]);
                    let scale_h = _mm256_shuffle_epi8(scales, shuffles[2 * j + 1]);
                    // SAFETY: 32 bytes inside the 128-byte `qs`; 64 inside the 256 of `y.qs`.
                    let (q4, q8l, q8h) = unsafe {
                        let q8 = y.qs.as_ptr().add(64 * j);
                        (
                            _mm256_loadu_si256(x.qs.as_ptr().add(32 * j) as *const __m256i),
                            _mm256_loadu_si256(q8 as *const __m256i),
                            _mm256_loadu_si256(q8.add(32) as *const __m256i),
                        )
                    };
                    let q4l = _mm256_and_si256(q4, m4);
                    let q4h = _mm256_and_si256(_mm256_srli_epi16::<4>(q4), m4);
                    let pl = _mm256_madd_epi16(scale_l, _mm256_maddubs_epi16(q4l, q8l));
                    let ph = _mm256_madd_epi16(scale_h, _mm256_maddubs_epi16(q4h, q8h));
                    sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(pl, ph));
                }
                let fd = _mm256_set1_ps(factor(&f, 2 * q));
                acc = _mm256_fmadd_ps(fd, _mm256_cvtepi32_ps(sumi), acc);
            }
        }
        hsum256(acc) - hsum256(acc_m)
    }

    /// Factor `i` of `PairHeads::of`'s `f`, to broadcast. Through memory on purpose: a
    /// broadcast load instead of the cross-lane permute the compiler would otherwise make of
    /// it (the shuffle units are the one-token kernels' busiest; on Zen 4 this took the
    /// AVX-512 kernel from 6.1–6.5 to 5.8–6.0 ns per block with rows in L1). `black_box`
    /// keeps the value in memory.
    #[inline(always)]
    pub(in super::super) fn factor(f: &[f32; 8], i: usize) -> f32 {
        std::hint::black_box(f[i])
    }

    /// The bookkeeping of a pair of blocks against their activation blocks, in vector
    /// registers: shared by the AVX2 and AVX-512 one-token kernels.
    pub(in super::super) struct PairHeads {
        k1: __m256i,
        k2: __m256i,
        k3: __m256i,
        shift: __m256i,
        halves_of: __m256i,
        mins_dup: __m256i,
    }

    impl PairHeads {
        /// # Safety
        /// AVX2.
        #[inline(always)]
        pub(in super::super) unsafe fn new() -> Self {
            Self {
                k1: _mm256_set1_epi32(KMASK1 as i32),
                k2: _mm256_set1_epi32(KMASK2 as i32),
                k3: _mm256_set1_epi32(KMASK3 as i32),
                shift: _mm256_setr_epi32(0, 0, 0, 4, 0, 0, 0, 4),
                halves_of: _mm256_setr_epi32(0, 4, 0, 0, 0, 0, 0, 0),
                // SAFETY: 32 bytes from a 32-byte array.
                mins_dup: unsafe { _mm256_loadu_si256(MINS_DUP.as_ptr() as *const __m256i) },
            }
        }

        /// `f`: [d₀·y₀.d, dmin₀·y₀.d, d₁·y₁.d, dmin₁·y₁.d] (then zeros), for `factor`; `sm`:
        /// each block's 6-bit scales and mins as `scales_and_mins` returns them, block 0 in
        /// the low 128 bits.
        ///
        /// # Safety
        /// `x` and `y` hold at least two blocks; AVX2, FMA and F16C.
        #[inline(always)]
        pub(in super::super) unsafe fn of(&self, x: &[Q4K], y: &[Q8K]) -> ([f32; 8], __m256i) {
            let yd = _mm_setr_ps(y[0].d, y[0].d, y[1].d, y[1].d);
            // SAFETY: the caller's contract.
            let (f, _, sm) = unsafe { self.scaled(x, yd) };
            (f, sm)
        }

        /// `of` with the activations' scales given as `[y₀.d, y₀.d, y₁.d, y₁.d]`; also
        /// returns `f`'s first four lanes as a vector.
        ///
        /// # Safety
        /// `x` holds at least two blocks; AVX2, FMA and F16C.
        #[inline(always)]
        pub(in super::super) unsafe fn scaled(
            &self,
            x: &[Q4K],
            yd: __m128,
        ) -> ([f32; 8], __m128, __m256i) {
            // u32 lanes of a block's 16-byte head: [d | dmin << 16, u0, u1, u2]. The scales and
            // mins come out as `scales_and_mins` returns them, [u0 & K1, (u2 & K2) | ((u0 >> 6)
            // & K3) << 4, u1 & K1, ((u2 >> 4) & K2) | ((u1 >> 6) & K3) << 4]: the even lanes
            // from [u0, _, u1, _], the odd ones from [_, u2, _, u2 >> 4] and [_, u0, _, u1].
            // SAFETY: the first 16 bytes of each 144-byte block.
            let head = |i: usize| unsafe { _mm_loadu_si128(&x[i] as *const Q4K as *const __m128i) };
            let heads = _mm256_inserti128_si256::<1>(_mm256_castsi128_si256(head(0)), head(1));
            let halves = _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(heads, self.halves_of));
            let fx = _mm_mul_ps(_mm_cvtph_ps(halves), yd);
            let mut f = [0f32; 8];
            // SAFETY: 16 bytes into the 32-byte array.
            unsafe { _mm_storeu_ps(f.as_mut_ptr(), fx) };
            let even = _mm256_shuffle_epi32::<0b11_10_11_01>(heads); // [u0, u2, u1, u2]
            let odd = _mm256_shuffle_epi32::<0b10_10_01_01>(heads); // [u0, u0, u1, u1]
            let high = _mm256_or_si256(
                _mm256_and_si256(_mm256_srlv_epi32(even, self.shift), self.k2),
                _mm256_slli_epi32::<4>(_mm256_and_si256(_mm256_srli_epi32::<6>(odd), self.k3)),
            );
            let sm = _mm256_blend_epi32::<0b1010_1010>(_mm256_and_si256(even, self.k1), high);
            (f, fx, sm)
        }

        /// For block `q` of the pair: its i16 scales (lanes 0–7) and mins (8–15), the f32
        /// factor of its mins in every lane, and the i32 products `min_j · bsum` whose sum is
        /// `Σ_j min_j · Σ_{sub-block j} y`.
        ///
        /// # Safety
        /// AVX2, FMA and F16C.
        #[inline(always)]
        pub(in super::super) unsafe fn block(
            &self,
            f: &[f32; 8],
            sm: __m256i,
            q: usize,
            y: &Q8K,
        ) -> (__m256i, __m256, __m256i) {
            let widened = _mm256_cvtepu8_epi16(if q == 0 {
                _mm256_castsi256_si128(sm)
            } else {
                _mm256_extracti128_si256::<1>(sm)
            });
            let mins = _mm256_permute2x128_si256::<0x11>(widened, widened);
            // SAFETY: 32 bytes, the whole `bsums`.
            let bsums = unsafe { _mm256_loadu_si256(y.bsums.as_ptr() as *const __m256i) };
            let prod = _mm256_madd_epi16(_mm256_shuffle_epi8(mins, self.mins_dup), bsums);
            let fm = _mm256_set1_ps(factor(f, 2 * q + 1));
            (widened, fm, prod)
        }
    }

    /// Q5_K: `T` activation rows against one weight row (`body`; decode has no faster path
    /// for it: on AVX2 machines its rate is the memory's).
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) unsafe fn dot_q5k<const T: usize>(xs: &[Q5K], ys: [&[Q8K]; T]) -> [f32; T] {
        // SAFETY: this function's target features.
        unsafe { body::<Q5K, T>(xs, ys) }
    }

    /// `T` activation rows against one weight row, one block at a time. Q5_K's values (up to
    /// 31) cannot saturate `maddubs` either: 31 · 128 · 2 < 2^15.
    #[inline(always)]
    unsafe fn body<B: KBlock, const T: usize>(xs: &[B], ys: [&[Q8K]; T]) -> [f32; T] {
        let m4 = _mm256_set1_epi8(0x0F);
        let mut acc = [_mm256_setzero_ps(); T];
        let mut acc_m = [_mm_setzero_ps(); T];
        for (b, x) in xs.iter().enumerate() {
            prefetch_ahead(x, std::mem::size_of::<B>().div_ceil(64));
            let (xd, xdmin) = (
                half_to_f32(x.d().to_bits()),
                half_to_f32(x.dmin().to_bits()),
            );
            let sm = super::super::block_views::scales_and_mins(x.scales());
            // SAFETY (below): the 32 bytes of `qh`.
            let qh = x
                .qh()
                .map(|qh| unsafe { _mm256_loadu_si256(qh.as_ptr() as *const __m256i) });
            let mins_and_scales = _mm256_cvtepu8_epi16(_mm_set_epi32(
                sm[3] as i32,
                sm[2] as i32,
                sm[1] as i32,
                sm[0] as i32,
            ));
            let mins = _mm256_extracti128_si256::<1>(mins_and_scales);
            let sc128 = _mm256_castsi256_si128(mins_and_scales);
            let scales = _mm256_inserti128_si256::<1>(_mm256_castsi128_si256(sc128), sc128);
            let mut sumi = [_mm256_setzero_si256(); T];
            for j in 0..4 {
                let scale_l = _mm256_shuffle_epi8(
                    scales,
                    _mm256_loadu_si256(SHUFFLE_K4[2 * j].as_ptr() as *const __m256i),
                );
                let scale_h = _mm256_shuffle_epi8(
                    scales,
                    _mm256_loadu_si256(SHUFFLE_K4[2 * j + 1].as_ptr() as *const __m256i),
                );
                let q4 = _mm256_loadu_si256(x.qs().as_ptr().add(32 * j) as *const __m256i);
                let mut q4l = _mm256_and_si256(q4, m4);
                let mut q4h = _mm256_and_si256(_mm256_srli_epi16::<4>(q4), m4);
                if let Some(qh) = qh {
                    q4l = _mm256_or_si256(q4l, fifth_bits(qh, 2 * j as i32));
                    q4h = _mm256_or_si256(q4h, fifth_bits(qh, 2 * j as i32 + 1));
                }
                for t in 0..T {
                    let q8 = ys[t][b].qs.as_ptr().add(64 * j);
                    let q8l = _mm256_loadu_si256(q8 as *const __m256i);
                    let q8h = _mm256_loadu_si256(q8.add(32) as *const __m256i);
                    let pl = _mm256_madd_epi16(scale_l, _mm256_maddubs_epi16(q4l, q8l));
                    let ph = _mm256_madd_epi16(scale_h, _mm256_maddubs_epi16(q4h, q8h));
                    sumi[t] = _mm256_add_epi32(sumi[t], _mm256_add_epi32(pl, ph));
                }
            }
            for t in 0..T {
                let y = &ys[t][b];
                let bsums = _mm256_loadu_si256(y.bsums.as_ptr() as *const __m256i);
                let q8s = _mm_hadd_epi16(
                    _mm256_castsi256_si128(bsums),
                    _mm256_extracti128_si256::<1>(bsums),
                );
                let prod = _mm_madd_epi16(mins, q8s);
                acc_m[t] = _mm_fmadd_ps(_mm_set1_ps(y.d * xdmin), _mm_cvtepi32_ps(prod), acc_m[t]);
                acc[t] = _mm256_fmadd_ps(
                    _mm256_set1_ps(y.d * xd),
                    _mm256_cvtepi32_ps(sumi[t]),
                    acc[t],
                );
            }
        }
        let mut out = [0f32; T];
        for t in 0..T {
            out[t] = hsum256(acc[t]) - hsum128(acc_m[t]);
        }
        out
    }
}

#[cfg(target_arch = "x86_64")]
pub(super) use imp::{factor, PairHeads, GROUP};
