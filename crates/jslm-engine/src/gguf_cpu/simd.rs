//! What our x86 kernels share: the prefetch distance, the f16 scale conversion and the views
//! of candle's blocks as ggml's structs (feature detection is `crate::isa`).

/// How far ahead of the block being multiplied the kernels ask for weights, in bytes.
/// Decoding streams the whole file through each core once per token, and the hardware
/// prefetcher alone left the kernels waiting on memory: on the 2-core Xeon this took one-thread
/// Q4_K_M decode from 1.30 to 2.15 tokens/s (512 B: 1.97, 1 KiB: 2.02, 4 KiB: 1.95).
#[cfg(target_arch = "x86_64")]
pub(super) const PREFETCH_BYTES: usize = 2048;

/// `xs[..count]` seen as `U`: candle's block types have crate-private fields, so the kernels
/// read them through `repr(C)` structs with ggml's layout.
///
/// # Safety
/// `T` and `U` must have the same size, alignment and field layout (each kernel asserts size
/// and alignment at compile time), and every bit pattern must be a valid `U`.
pub(super) unsafe fn view<T, U>(xs: &[T], count: usize) -> &[U] {
    assert!(std::mem::size_of::<T>() == std::mem::size_of::<U>());
    assert!(std::mem::align_of::<T>() == std::mem::align_of::<U>());
    assert!(xs.len() >= count, "{} blocks, {count} needed", xs.len());
    // SAFETY: bounds checked; layout guaranteed by the caller.
    unsafe { std::slice::from_raw_parts(xs.as_ptr() as *const U, count) }
}

/// `xs` seen as `U`, writable: as [`view`], for the quantizers that fill candle's blocks.
///
/// # Safety
/// As for [`view`].
#[cfg(target_arch = "x86_64")]
pub(super) unsafe fn view_mut<T, U>(xs: &mut [T]) -> &mut [U] {
    assert!(std::mem::size_of::<T>() == std::mem::size_of::<U>());
    assert!(std::mem::align_of::<T>() == std::mem::align_of::<U>());
    // SAFETY: same size and alignment (checked); layout guaranteed by the caller.
    unsafe { std::slice::from_raw_parts_mut(xs.as_mut_ptr() as *mut U, xs.len()) }
}

/// One f16 to f32 with F16C, inline (`half`'s `to_f32` is a call, which cost the Q8_0 kernel
/// half its speed).
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "f16c")]
pub(super) fn half_to_f32(bits: u16) -> f32 {
    use std::arch::x86_64::*;
    _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(bits as i32)))
}

/// The product of two f16s, converted together from one dword built in a general register.
///
/// Why not `half_to_f32` twice: seeing that only a value's low 16 bits matter, the compiler
/// turns `_mm_cvtsi32_si128` into a `vpinsrw` into whatever register it likes — in the Q8_0
/// kernels the loop's accumulator, a false dependency that chained each block's scale to the
/// previous block's FMA (with rows in cache, the AVX-512 kernel took 1.36 ns per block, now
/// 1.14). Both halves of the dword matter here, so it is built whole and moved with a
/// `vmovd`, which depends on nothing.
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "f16c")]
pub(super) fn half_product(a: u16, b: u16) -> f32 {
    use std::arch::x86_64::*;
    let both = _mm_cvtph_ps(_mm_cvtsi32_si128((a as u32 | (b as u32) << 16) as i32));
    _mm_cvtss_f32(_mm_mul_ss(both, _mm_movehdup_ps(both)))
}

/// The sum of a vector's eight lanes (every kernel's and attention's final reduction).
///
/// Q5_K's fifth bits: bit `s` of each byte of `qh` as that byte's bit 4 (16), to or into the
/// byte's low four bits. The 16-bit shift moves bits across a lane's two bytes; the mask
/// keeps each byte's own.
///
/// # Safety
/// AVX2; inlined into callers compiled with it.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub(super) unsafe fn fifth_bits(
    qh: std::arch::x86_64::__m256i,
    s: i32,
) -> std::arch::x86_64::__m256i {
    use std::arch::x86_64::*;
    // SAFETY: the caller's AVX2.
    unsafe {
        _mm256_slli_epi16::<4>(_mm256_and_si256(
            _mm256_srl_epi16(qh, _mm_cvtsi32_si128(s)),
            _mm256_set1_epi8(1),
        ))
    }
}

/// # Safety
/// AVX; inlined into callers compiled with it.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub(super) unsafe fn hsum256(x: std::arch::x86_64::__m256) -> f32 {
    use std::arch::x86_64::*;
    // SAFETY: the caller's AVX.
    unsafe {
        hsum128(_mm_add_ps(
            _mm256_castps256_ps128(x),
            _mm256_extractf128_ps::<1>(x),
        ))
    }
}

/// The sum of a vector's four lanes.
///
/// # Safety
/// SSE3; inlined into callers compiled with AVX.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub(super) unsafe fn hsum128(x: std::arch::x86_64::__m128) -> f32 {
    use std::arch::x86_64::*;
    let x = _mm_add_ps(x, _mm_movehl_ps(x, x));
    _mm_cvtss_f32(_mm_add_ss(x, _mm_movehdup_ps(x)))
}

/// 256-bit `vpdpbusd` in one of its encodings, for kernels written once for both.
#[cfg(target_arch = "x86_64")]
pub(super) trait Dpbusd {
    /// `acc + Σ_{4 bytes} u · s` per i32 lane, `u` unsigned and `s` signed.
    ///
    /// # Safety
    /// The encoding's target features.
    unsafe fn dpbusd(
        acc: std::arch::x86_64::__m256i,
        u: std::arch::x86_64::__m256i,
        s: std::arch::x86_64::__m256i,
    ) -> std::arch::x86_64::__m256i;
}

/// AVX-VNNI's VEX encoding (Intel's consumer CPUs since Alder Lake, AMD's since Zen 5).
#[cfg(target_arch = "x86_64")]
pub(super) struct Vex;
/// AVX-512 VNNI + VL's EVEX encoding: how an AVX-512 CPU without AVX-VNNI runs the AVX-VNNI
/// kernels (this project's test machines among them).
#[cfg(target_arch = "x86_64")]
pub(super) struct Evex;

/// `Dpbusd` for an encoding's intrinsic.
macro_rules! dpbusd {
    ($encoding:ident, $intrinsic:ident) => {
        #[cfg(target_arch = "x86_64")]
        impl Dpbusd for $encoding {
            #[inline(always)]
            unsafe fn dpbusd(
                acc: std::arch::x86_64::__m256i,
                u: std::arch::x86_64::__m256i,
                s: std::arch::x86_64::__m256i,
            ) -> std::arch::x86_64::__m256i {
                // SAFETY: the caller's features.
                unsafe { std::arch::x86_64::$intrinsic(acc, u, s) }
            }
        }
    };
}
dpbusd!(Vex, _mm256_dpbusd_avx_epi32);
dpbusd!(Evex, _mm256_dpbusd_epi32);

/// Asks for the `lines` cache lines starting `PREFETCH_BYTES` after `block` (a hint: past the
/// end of the data is fine, a prefetch never faults).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub(super) fn prefetch_ahead<T>(block: &T, lines: usize) {
    use std::arch::x86_64::*;
    let p = (block as *const T as *const i8).wrapping_add(PREFETCH_BYTES);
    for line in 0..lines {
        // SAFETY: prefetching has no architectural effect.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(64 * line)) };
    }
}

/// Random inputs for the kernels' tests: blocks with every bit pattern a file can hold and
/// activations with extremes.
#[cfg(test)]
pub(super) mod test_data {
    use candle_core::quantized::k_quants::GgmlType;

    /// A small LCG: deterministic data without a dependency.
    pub struct Lcg(u64);

    impl Lcg {
        pub fn new(seed: u64) -> Self {
            Self(seed)
        }

        pub fn next_u32(&mut self) -> u32 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (self.0 >> 33) as u32
        }
    }

    /// `count` blocks of `size` random bytes each, except that the high byte of every f16
    /// scale (offsets `f16_high_bytes`) is fixed to a small positive normal (no NaN or inf).
    pub fn random_blocks<T: GgmlType>(
        count: usize,
        size: usize,
        f16_high_bytes: &[usize],
        rng: &mut Lcg,
    ) -> Vec<T> {
        assert_eq!(std::mem::size_of::<T>(), size);
        let mut blocks = vec![T::zeros(); count];
        // SAFETY: block types are plain old data of `size` bytes.
        let bytes =
            unsafe { std::slice::from_raw_parts_mut(blocks.as_mut_ptr() as *mut u8, count * size) };
        for b in bytes.iter_mut() {
            *b = rng.next_u32() as u8;
        }
        for block in bytes.chunks_mut(size) {
            for &i in f16_high_bytes {
                block[i] = 0x1c | (block[i] & 0x03);
            }
        }
        blocks
    }

    /// `n` activations in [-1, 1) with ±`extreme` every `period` values, quantized to `U`.
    pub fn activations<U: GgmlType>(
        n: usize,
        period: usize,
        extreme: f32,
        rng: &mut Lcg,
    ) -> Vec<U> {
        let values: Vec<f32> = (0..n)
            .map(|i| match i % period {
                0 => extreme,
                1 => -extreme,
                _ => (rng.next_u32() as f32 / u32::MAX as f32) * 2.0 - 1.0,
            })
            .collect();
        let mut blocks = vec![U::zeros(); n / U::BLCK_SIZE];
        U::from_float(&values, &mut blocks);
        blocks
    }
}
