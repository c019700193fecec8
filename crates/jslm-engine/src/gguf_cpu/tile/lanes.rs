//! The vector operations of the tiled kernels, with one lane per token: AVX-512 VNNI (16
//! tokens per `zmm`, `vpdpbusd`), 256-bit VNNI (8 tokens per `ymm`, `vpdpbusd`: AVX-VNNI's VEX
//! encoding or AVX-512 VNNI + VL's EVEX one) and AVX2 (8 tokens per `ymm`, `vpmaddubsw`, and
//! `vpmaddwd` for Q8_0). The kernels are written once over this trait; each implementation's
//! entry point carries its target features and everything here is inlined into it.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// One instruction set's lane operations. All methods are `unsafe`: they need the target
/// features of the implementation, and the pointer ones valid memory.
pub(super) trait Lanes: Copy {
    /// Tokens per vector.
    const L: usize;
    /// Whether `dot4` sums into i16 pairs (`maddubs`), which `madd_i16` turns into i32 before
    /// they can overflow; otherwise it sums into i32 directly (VNNI).
    const I16: bool;
    type I: Copy;
    type F: Copy;

    unsafe fn zero_i() -> Self::I;
    unsafe fn zero_f() -> Self::F;
    /// The dword at `p` in every 32-bit lane.
    unsafe fn bcast(p: *const u8) -> Self::I;
    /// `L · 4` bytes.
    unsafe fn load(p: *const u8) -> Self::I;
    /// `acc + Σ_{4 bytes} w · y` per lane: `w` unsigned, `y` signed. With `I16` the sums are
    /// i16 pairs (two per lane) until `madd_i16`.
    unsafe fn dot4(acc: Self::I, w: Self::I, y: Self::I) -> Self::I;
    unsafe fn add_i(a: Self::I, b: Self::I) -> Self::I;
    /// i16 pairs times i16 pairs, each pair's two products summed in i32 (`vpmaddwd`).
    unsafe fn madd_i16(a: Self::I, b: Self::I) -> Self::I;
    /// Q8_0: `Σ w · u` over one block (8 groups) in i32 for rows × tiles, with `w` the
    /// weights' signed bytes (`w[r]`: the block's 32 values; widened to i16 for `I16` lanes)
    /// and `u = y + 128` the activations stored unsigned (`u[v]`: the tile's block in `Acts`
    /// layout; for `I16` lanes `u = y`, signed, see `Avx2`).
    ///
    /// The default is for lanes that sum in i32 (`dot4` with the unsigned activations in the
    /// unsigned slot); AVX2's i16 sums need their own.
    #[inline(always)]
    unsafe fn block_q8_0<const R: usize, const V: usize>(
        w: [*const u8; R],
        u: [*const u8; V],
    ) -> [[Self::I; V]; R] {
        debug_assert!(!Self::I16);
        let mut s = [[Self::zero_i(); V]; R];
        // SAFETY: the caller's: 32 weight bytes per row, 8 groups of `4 · L` bytes per tile.
        unsafe {
            for g in 0..8 {
                let mut y = [Self::zero_i(); V];
                for v in 0..V {
                    y[v] = Self::load(u[v].add(g * 4 * Self::L));
                }
                for r in 0..R {
                    let wb = Self::bcast(w[r].add(4 * g));
                    for v in 0..V {
                        s[r][v] = Self::dot4(s[r][v], y[v], wb);
                    }
                }
            }
        }
        s
    }
    unsafe fn cvt(x: Self::I) -> Self::F;
    unsafe fn splat(x: f32) -> Self::F;
    /// `L` floats.
    unsafe fn load_f(p: *const f32) -> Self::F;
    /// `a · b`.
    unsafe fn mul(a: Self::F, b: Self::F) -> Self::F;
    /// `a · b + c`.
    unsafe fn fma(a: Self::F, b: Self::F, c: Self::F) -> Self::F;
    /// `c − a · b`.
    unsafe fn fnma(a: Self::F, b: Self::F, c: Self::F) -> Self::F;
    unsafe fn store_f(x: Self::F, out: &mut [f32; 16]);
}

/// AVX-512 F + BW + VL + VNNI, 16 tokens per vector.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
pub(super) struct Vnni512;

#[cfg(target_arch = "x86_64")]
impl Lanes for Vnni512 {
    const L: usize = 16;
    const I16: bool = false;
    type I = __m512i;
    type F = __m512;

    #[inline(always)]
    unsafe fn zero_i() -> __m512i {
        _mm512_setzero_si512()
    }
    #[inline(always)]
    unsafe fn zero_f() -> __m512 {
        _mm512_setzero_ps()
    }
    #[inline(always)]
    unsafe fn bcast(p: *const u8) -> __m512i {
        // SAFETY: the caller's: four readable bytes.
        unsafe { _mm512_set1_epi32((p as *const i32).read_unaligned()) }
    }
    #[inline(always)]
    unsafe fn load(p: *const u8) -> __m512i {
        // SAFETY: the caller's: 64 readable bytes.
        unsafe { _mm512_loadu_si512(p as *const _) }
    }
    #[inline(always)]
    unsafe fn dot4(acc: __m512i, w: __m512i, y: __m512i) -> __m512i {
        _mm512_dpbusd_epi32(acc, w, y)
    }
    #[inline(always)]
    unsafe fn add_i(a: __m512i, b: __m512i) -> __m512i {
        _mm512_add_epi32(a, b)
    }
    #[inline(always)]
    unsafe fn madd_i16(a: __m512i, b: __m512i) -> __m512i {
        _mm512_madd_epi16(a, b)
    }
    #[inline(always)]
    unsafe fn cvt(x: __m512i) -> __m512 {
        _mm512_cvtepi32_ps(x)
    }
    #[inline(always)]
    unsafe fn splat(x: f32) -> __m512 {
        _mm512_set1_ps(x)
    }
    #[inline(always)]
    unsafe fn load_f(p: *const f32) -> __m512 {
        // SAFETY: the caller's: 16 readable floats.
        unsafe { _mm512_loadu_ps(p) }
    }
    #[inline(always)]
    unsafe fn mul(a: __m512, b: __m512) -> __m512 {
        _mm512_mul_ps(a, b)
    }
    #[inline(always)]
    unsafe fn fma(a: __m512, b: __m512, c: __m512) -> __m512 {
        _mm512_fmadd_ps(a, b, c)
    }
    #[inline(always)]
    unsafe fn fnma(a: __m512, b: __m512, c: __m512) -> __m512 {
        _mm512_fnmadd_ps(a, b, c)
    }
    #[inline(always)]
    unsafe fn store_f(x: __m512, out: &mut [f32; 16]) {
        // SAFETY: 16 floats.
        unsafe { _mm512_storeu_ps(out.as_mut_ptr(), x) }
    }
}

/// 256-bit VNNI lanes: 8 tokens per `ymm`, `vpdpbusd` summing in i32 as `Vnni512` does.
/// `$dpbusd` is the encoding's intrinsic; everything else is AVX2.
macro_rules! vnni256 {
    ($(#[$doc:meta])* $name:ident, $dpbusd:ident) => {
        $(#[$doc])*
        #[cfg(target_arch = "x86_64")]
        #[derive(Clone, Copy)]
        pub(super) struct $name;

        #[cfg(target_arch = "x86_64")]
        impl Lanes for $name {
            const L: usize = 8;
            const I16: bool = false;
            type I = __m256i;
            type F = __m256;

            #[inline(always)]
            unsafe fn zero_i() -> __m256i {
                _mm256_setzero_si256()
            }
            #[inline(always)]
            unsafe fn zero_f() -> __m256 {
                _mm256_setzero_ps()
            }
            #[inline(always)]
            unsafe fn bcast(p: *const u8) -> __m256i {
                // SAFETY: the caller's.
                unsafe { Avx2::bcast(p) }
            }
            #[inline(always)]
            unsafe fn load(p: *const u8) -> __m256i {
                // SAFETY: the caller's.
                unsafe { Avx2::load(p) }
            }
            #[inline(always)]
            unsafe fn dot4(acc: __m256i, w: __m256i, y: __m256i) -> __m256i {
                $dpbusd(acc, w, y)
            }
            #[inline(always)]
            unsafe fn add_i(a: __m256i, b: __m256i) -> __m256i {
                _mm256_add_epi32(a, b)
            }
            #[inline(always)]
            unsafe fn madd_i16(a: __m256i, b: __m256i) -> __m256i {
                _mm256_madd_epi16(a, b)
            }
            #[inline(always)]
            unsafe fn cvt(x: __m256i) -> __m256 {
                _mm256_cvtepi32_ps(x)
            }
            #[inline(always)]
            unsafe fn splat(x: f32) -> __m256 {
                _mm256_set1_ps(x)
            }
            #[inline(always)]
            unsafe fn load_f(p: *const f32) -> __m256 {
                // SAFETY: the caller's.
                unsafe { Avx2::load_f(p) }
            }
            #[inline(always)]
            unsafe fn mul(a: __m256, b: __m256) -> __m256 {
                _mm256_mul_ps(a, b)
            }
            #[inline(always)]
            unsafe fn fma(a: __m256, b: __m256, c: __m256) -> __m256 {
                _mm256_fmadd_ps(a, b, c)
            }
            #[inline(always)]
            unsafe fn fnma(a: __m256, b: __m256, c: __m256) -> __m256 {
                _mm256_fnmadd_ps(a, b, c)
            }
            #[inline(always)]
            unsafe fn store_f(x: __m256, out: &mut [f32; 16]) {
                // SAFETY: the caller's.
                unsafe { Avx2::store_f(x, out) }
            }
        }
    };
}

vnni256!(
    /// AVX2 + AVX-VNNI (VEX `vpdpbusd`): Intel's consumer CPUs since Alder Lake.
    AvxVnni,
    _mm256_dpbusd_avx_epi32
);
vnni256!(
    /// The same lanes with AVX-512 VNNI + VL's EVEX `vpdpbusd` on `ymm`: what runs them on
    /// AVX-512 CPUs without AVX-VNNI (this project's test machines among them).
    Vnni256Evex,
    _mm256_dpbusd_epi32
);

/// AVX2 + FMA, 8 tokens per vector.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
pub(super) struct Avx2;

#[cfg(target_arch = "x86_64")]
impl Lanes for Avx2 {
    const L: usize = 8;
    const I16: bool = true;
    type I = __m256i;
    type F = __m256;

    #[inline(always)]
    unsafe fn zero_i() -> __m256i {
        _mm256_setzero_si256()
    }
    #[inline(always)]
    unsafe fn zero_f() -> __m256 {
        _mm256_setzero_ps()
    }
    #[inline(always)]
    unsafe fn bcast(p: *const u8) -> __m256i {
        // SAFETY: the caller's: four readable bytes.
        unsafe { _mm256_set1_epi32((p as *const i32).read_unaligned()) }
    }
    #[inline(always)]
    unsafe fn load(p: *const u8) -> __m256i {
        // SAFETY: the caller's: 32 readable bytes.
        unsafe { _mm256_loadu_si256(p as *const __m256i) }
    }
    #[inline(always)]
    unsafe fn dot4(acc: __m256i, w: __m256i, y: __m256i) -> __m256i {
        _mm256_add_epi16(acc, _mm256_maddubs_epi16(w, y))
    }
    #[inline(always)]
    unsafe fn add_i(a: __m256i, b: __m256i) -> __m256i {
        _mm256_add_epi32(a, b)
    }
    #[inline(always)]
    unsafe fn madd_i16(a: __m256i, b: __m256i) -> __m256i {
        _mm256_madd_epi16(a, b)
    }
    /// Here `u` is in `Acts::q8_0_pairs` layout: each token's `y` (signed, no offset) as i16
    /// pairs, 16 groups per block, and `w` the weights as i16 (`Prepped::q8_0` widens them
    /// once per task, so each pair is one broadcast load). Per pair one `vpmaddwd` and one
    /// add per tile element sum in i32 (at most 32 · 128 · 128). That
    /// is the same number of multiplies per product as `maddubs` on split nibbles (two per
    /// four bytes, since 255 · 127 · 2 overflows its i16 pairs) or on the sign trick, but
    /// fewer instructions around them: no nibble split, no widening of i16 sums, one
    /// accumulator per tile element, so the tile is 4 rows × 16 tokens, not 4 × 8. Prefill,
    /// Q8_0, 2 threads on a Zen 3 with AVX2 only: see BENCHMARKS.md, stop 23.
    #[inline(always)]
    unsafe fn block_q8_0<const R: usize, const V: usize>(
        w: [*const u8; R],
        u: [*const u8; V],
    ) -> [[__m256i; V]; R] {
        let mut s = [[_mm256_setzero_si256(); V]; R];
        // SAFETY: the caller's: 32 widened weights (64 bytes) per row, 16 groups of 32 bytes
        // per tile.
        unsafe {
            // An opaque trip count keeps the loop a loop: the nibble loop this replaced, fully
            // unrolled, had all groups' loads hoisted and half the accumulators spilled. Two
            // groups per trip: 3–4 % faster than one on a Zen 3 (`jslm bench --kernels`, Q8_0
            // tiles 0.535–0.548 → 0.511–0.526 ns per block and token; four per trip: 0.55).
            for g2 in 0..std::hint::black_box(8usize) {
                for g in [2 * g2, 2 * g2 + 1] {
                    let mut y = [_mm256_setzero_si256(); V];
                    for v in 0..V {
                        y[v] = Self::load(u[v].add(g * 32));
                    }
                    for r in 0..R {
                        let wb = Self::bcast(w[r].add(4 * g));
                        for v in 0..V {
                            s[r][v] = _mm256_add_epi32(s[r][v], _mm256_madd_epi16(y[v], wb));
                        }
                    }
                }
            }
        }
        s
    }
    #[inline(always)]
    unsafe fn cvt(x: __m256i) -> __m256 {
        _mm256_cvtepi32_ps(x)
    }
    #[inline(always)]
    unsafe fn splat(x: f32) -> __m256 {
        _mm256_set1_ps(x)
    }
    #[inline(always)]
    unsafe fn load_f(p: *const f32) -> __m256 {
        // SAFETY: the caller's: 8 readable floats.
        unsafe { _mm256_loadu_ps(p) }
    }
    #[inline(always)]
    unsafe fn mul(a: __m256, b: __m256) -> __m256 {
        _mm256_mul_ps(a, b)
    }
    #[inline(always)]
    unsafe fn fma(a: __m256, b: __m256, c: __m256) -> __m256 {
        _mm256_fmadd_ps(a, b, c)
    }
    #[inline(always)]
    unsafe fn fnma(a: __m256, b: __m256, c: __m256) -> __m256 {
        _mm256_fnmadd_ps(a, b, c)
    }
    #[inline(always)]
    unsafe fn store_f(x: __m256, out: &mut [f32; 16]) {
        // SAFETY: 8 of the 16 floats.
        unsafe { _mm256_storeu_ps(out.as_mut_ptr(), x) }
    }
}
