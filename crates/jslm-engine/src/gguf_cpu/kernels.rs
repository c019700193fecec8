//! The one place that picks a row kernel per weight type and instruction set (and, in
//! `our_types`, lists the types that have kernels of ours): ours for Q4_K, Q5_K (AVX2's on
//! every x86 family), Q2_K and Q3_K (Q6_K's AVX2 one, likewise), Q4_0 and Q5_0 (Q8_0's AVX2
//! one, likewise), Q6_K and Q8_0 on AVX-512 and AVX2 (AVX-VNNI CPUs use the AVX2 ones, except
//! for decoding Q4_K and Q6_K, where `vpdpbusd` saves more than it costs; VNNI serves their
//! prompts, in the tiles), candle's `vec_dot` for everything else (and for `Isa::Generic`:
//! NEON on ARM, candle's own AVX2 or scalar code elsewhere).

#[cfg(target_arch = "x86_64")]
use super::block_unpack::Offset32;
#[cfg(target_arch = "x86_64")]
use super::block_views::{Q4_0, Q5_0};
#[cfg(not(target_arch = "x86_64"))]
use super::decode_acts::Arrangement;
#[cfg(target_arch = "x86_64")]
use super::decode_acts::{Arrangement, DecodeActs, Q8_0Offsets};
use crate::isa::Cpu;
#[cfg(target_arch = "x86_64")]
use crate::isa::Isa;
use candle_core::quantized::k_quants::{
    BlockQ2K, BlockQ3K, BlockQ4K, BlockQ4_0, BlockQ5K, BlockQ5_0, BlockQ6K, BlockQ8_0, GgmlType,
};
use candle_core::quantized::GgmlDType;

/// The weight types that have kernels of ours: row kernels (the function of this module named
/// in the third place) and, on x86, prompt tiles (`tile::Weights`'s variant of the same name
/// as the `GgmlDType`). Each entry is `(GgmlDType variant, block type, kernels function,
/// name)`; `$m!` is called with the list. The one list that the products (`matrix.rs`,
/// `matmul_group.rs`) and `jslm bench --kernels` dispatch on: a type added here gets all three.
macro_rules! our_types {
    ($m:ident) => {
        $m! {
            (Q2K, BlockQ2K, q2k, "q2_k"),
            (Q3K, BlockQ3K, q3k, "q3_k"),
            (Q4K, BlockQ4K, q4k, "q4_k"),
            (Q5K, BlockQ5K, q5k, "q5_k"),
            (Q6K, BlockQ6K, q6k, "q6_k"),
            (Q4_0, BlockQ4_0, q4_0, "q4_0"),
            (Q5_0, BlockQ5_0, q5_0, "q5_0"),
            (Q8_0, BlockQ8_0, q8_0, "q8_0")
        }
    };
}
pub(crate) use our_types;

/// The partner (activation) type of weights of `dtype`, where the type has kernels of ours.
pub(crate) fn partner(dtype: GgmlDType) -> Option<GgmlDType> {
    macro_rules! find {
        ($(($d:ident, $t:ty, $k:ident, $name:literal)),*) => {
            match dtype {
                $(GgmlDType::$d => Some(<<$t as GgmlType>::VecDotType as GgmlType>::DTYPE),)*
                _ => None,
            }
        };
    }
    our_types!(find)
}

/// `dot(n, weights, activations)` over `n` values.
pub(crate) type Dot<T> = fn(usize, &[T], &[<T as GgmlType>::VecDotType]) -> f32;
/// The same for four activation rows at once (the weight row unpacked once).
pub(crate) type Dot4<T> = fn(usize, &[T], [&[<T as GgmlType>::VecDotType]; 4]) -> [f32; 4];

/// A one-token kernel that reads the activations rearranged once per product.
pub(crate) struct Arranged<T: GgmlType> {
    /// Rearranges one token's activations.
    pub arrange: fn(&[T::VecDotType]) -> Arrangement<'_>,
    /// `dot(n, weights, arranged activations)`.
    pub dot: fn(usize, &[T], &Arrangement) -> f32,
}

/// The row kernels of one weight type on one CPU.
pub(crate) struct RowKernels<T: GgmlType> {
    pub one: Dot<T>,
    pub four: Option<Dot4<T>>,
    /// Whether `one` prefetches for itself (candle's kernels do not).
    pub prefetches: bool,
    /// Decode's kernel where it reads the activations rearranged (`one` otherwise).
    pub arranged: Option<Arranged<T>>,
}

impl<T: GgmlType> RowKernels<T> {
    /// candle's kernel.
    pub fn candle() -> Self {
        Self {
            one: T::vec_dot,
            four: None,
            prefetches: false,
            arranged: None,
        }
    }
}

/// Builds `RowKernels` from a `rows::<T>`-style kernel (`$rows::<1>` and `$rows::<4>`).
#[cfg(target_arch = "x86_64")]
macro_rules! ours {
    ($($rows:ident)::+ $(, $vnni:expr)?) => {
        RowKernels {
            one: |n, xs, ys| $($rows)::+::<1 $(, $vnni)?>(n, xs, [ys])[0],
            four: Some($($rows)::+::<4 $(, $vnni)?>),
            prefetches: true,
            arranged: None,
        }
    };
}

pub(crate) fn q4k(cpu: Cpu) -> RowKernels<BlockQ4K> {
    #[cfg(target_arch = "x86_64")]
    match (cpu.isa, cpu.vnni) {
        (Isa::Avx512, true) => {
            return RowKernels {
                arranged: Some(Arranged {
                    arrange: |q| Arrangement::Q8K(DecodeActs::new(q)),
                    dot: |n, xs, a| super::q4k_avx512::arranged::<true>(n, xs, a.q8k()),
                }),
                ..ours!(super::q4k_avx512::rows, true)
            }
        }
        (Isa::Avx512, false) => {
            return RowKernels {
                arranged: Some(Arranged {
                    arrange: |q| Arrangement::Q8K(DecodeActs::new(q)),
                    dot: |n, xs, a| super::q4k_avx512::arranged::<false>(n, xs, a.q8k()),
                }),
                ..ours!(super::q4k_avx512::rows, false)
            }
        }
        (Isa::AvxVnni, _) => {
            let dot: fn(usize, &[BlockQ4K], &Arrangement) -> f32 = if crate::isa::avxvnni_vex() {
                |n, xs, a| super::q4k_avx2::arranged_vnni::<true>(n, xs, a.q8k())
            } else {
                |n, xs, a| super::q4k_avx2::arranged_vnni::<false>(n, xs, a.q8k())
            };
            return RowKernels {
                arranged: Some(Arranged {
                    arrange: |q| Arrangement::Q8K(DecodeActs::new(q)),
                    dot,
                }),
                ..ours!(super::q4k_avx2::rows)
            };
        }
        (Isa::Avx2, _) => return ours!(super::q4k_avx2::rows),
        (Isa::Generic, _) => {}
    }
    let _ = cpu;
    RowKernels::candle()
}

pub(crate) fn q5k(cpu: Cpu) -> RowKernels<BlockQ5K> {
    #[cfg(target_arch = "x86_64")]
    if cpu.isa != Isa::Generic {
        return ours!(super::q4k_avx2::rows_q5k);
    }
    let _ = cpu;
    RowKernels::candle()
}

pub(crate) fn q2k(cpu: Cpu) -> RowKernels<BlockQ2K> {
    #[cfg(target_arch = "x86_64")]
    if cpu.isa != Isa::Generic {
        return ours!(super::q6k_avx2::rows_q2k);
    }
    let _ = cpu;
    RowKernels::candle()
}

pub(crate) fn q3k(cpu: Cpu) -> RowKernels<BlockQ3K> {
    #[cfg(target_arch = "x86_64")]
    if cpu.isa != Isa::Generic {
        return ours!(super::q6k_avx2::rows_q3k);
    }
    let _ = cpu;
    RowKernels::candle()
}

pub(crate) fn q6k(cpu: Cpu) -> RowKernels<BlockQ6K> {
    #[cfg(target_arch = "x86_64")]
    match (cpu.isa, cpu.vnni) {
        (Isa::Avx512, true) => return ours!(super::q6k_avx512::rows, true),
        (Isa::Avx512, false) => return ours!(super::q6k_avx512::rows, false),
        (Isa::AvxVnni, _) => {
            return RowKernels {
                one: if crate::isa::avxvnni_vex() {
                    super::q6k_avx2::one_vnni::<true>
                } else {
                    super::q6k_avx2::one_vnni::<false>
                },
                ..ours!(super::q6k_avx2::rows)
            };
        }
        (Isa::Avx2, _) => return ours!(super::q6k_avx2::rows),
        (Isa::Generic, _) => {}
    }
    let _ = cpu;
    RowKernels::candle()
}

pub(crate) fn q8_0(cpu: Cpu) -> RowKernels<BlockQ8_0> {
    #[cfg(target_arch = "x86_64")]
    match (cpu.isa, cpu.vnni) {
        (Isa::Avx512, true) => return ours!(super::q8_0_avx512::rows),
        (Isa::Avx512, false) | (Isa::AvxVnni | Isa::Avx2, _) => {
            return ours!(super::q8_0_avx2::rows)
        }
        (Isa::Generic, _) => {}
    }
    let _ = cpu;
    RowKernels::candle()
}

/// Q4_0 and Q5_0: Q8_0's AVX2 kernel on their unpacked values, on every x86 family; for
/// decode, their unsigned values against activations whose offset pair sums are computed once
/// per product (`Q8_0Offsets`).
pub(crate) fn q4_0(cpu: Cpu) -> RowKernels<BlockQ4_0> {
    #[cfg(target_arch = "x86_64")]
    if cpu.isa != Isa::Generic {
        return RowKernels {
            arranged: Some(Arranged {
                arrange: |q| Arrangement::Q8_0(Q8_0Offsets::new(q, Q4_0::OFFSET.into())),
                dot: |n, xs, a| super::q8_0_avx2::arranged_q4_0(n, xs, a.q8_0()),
            }),
            ..ours!(super::q8_0_avx2::rows_q4_0)
        };
    }
    let _ = cpu;
    RowKernels::candle()
}

pub(crate) fn q5_0(cpu: Cpu) -> RowKernels<BlockQ5_0> {
    #[cfg(target_arch = "x86_64")]
    if cpu.isa != Isa::Generic {
        return RowKernels {
            arranged: Some(Arranged {
                arrange: |q| Arrangement::Q8_0(Q8_0Offsets::new(q, Q5_0::OFFSET.into())),
                dot: |n, xs, a| super::q8_0_avx2::arranged_q5_0(n, xs, a.q8_0()),
            }),
            ..ours!(super::q8_0_avx2::rows_q5_0)
        };
    }
    let _ = cpu;
    RowKernels::candle()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gguf_cpu::simd::test_data::{activations, random_blocks, Lcg};
    use candle_core::quantized::k_quants::BlockQ8K;

    /// Every kernel set of this CPU against candle's scalar reference, one and four rows at a
    /// time, at the model's row lengths (and one block).
    fn check<T: GgmlType>(
        kernels: &RowKernels<T>,
        label: &str,
        weights: impl Fn(usize, &mut Lcg) -> Vec<T>,
        acts: impl Fn(usize, usize, &mut Lcg) -> Vec<T::VecDotType>,
    ) {
        // 96 leaves Q8_0 an odd block; the K-quants take whole blocks of 256, and 7 of them
        // are one group of four for the one-token kernels plus a tail of three.
        let sizes: &[usize] = if T::DTYPE == candle_core::quantized::GgmlDType::Q5_0 {
            // candle's Q5_0 reference takes even block counts only.
            &[64, 4096, 14336]
        } else if T::BLCK_SIZE == 32 {
            &[96, 4096, 14336]
        } else {
            &[256, 1792, 4096, 14336]
        };
        for (seed, &n) in sizes.iter().enumerate() {
            let seed = seed as u64 + 1;
            let mut rng = Lcg::new(seed);
            let xs = weights(n, &mut rng);
            let ys: Vec<Vec<T::VecDotType>> = (0..4).map(|t| acts(n, t, &mut rng)).collect();
            let want: Vec<f32> = ys.iter().map(|y| T::vec_dot_unopt(n, &xs, y)).collect();
            // The reference sums per block in f32 as well, in another order.
            let close = |got: f32, want: f32| (got - want).abs() <= 1e-4 * want.abs().max(1.0);
            for t in 0..4 {
                let got = (kernels.one)(n, &xs, &ys[t]);
                assert!(
                    close(got, want[t]),
                    "{label} n={n} t={t}: {got} vs {}",
                    want[t]
                );
                if let Some(arranged) = &kernels.arranged {
                    let got = (arranged.dot)(n, &xs, &(arranged.arrange)(&ys[t]));
                    assert!(
                        close(got, want[t]),
                        "{label} arranged n={n} t={t}: {got} vs {}",
                        want[t]
                    );
                }
            }
            if let Some(four) = kernels.four {
                let got = four(n, &xs, [&ys[0], &ys[1], &ys[2], &ys[3]]);
                for t in 0..4 {
                    assert!(
                        close(got[t], want[t]),
                        "{label} four n={n} t={t}: {got:?} vs {want:?}"
                    );
                }
            }
        }
    }

    /// The outliers of activation row `t`: `big` in rows 0 and 1, which leaves most quantized
    /// values 0 beside them, and 2 in rows 2 and 3, which leaves none 0.
    fn extreme(t: usize, big: f32) -> f32 {
        if t < 2 {
            big
        } else {
            2.0
        }
    }

    /// Random nibbles and every 6-bit scale and min (d and dmin kept normal); activations with
    /// ±1000 every 97 values (±127 after quantization, the rest of their blocks 0) in rows 0
    /// and 1, ±2 in rows 2 and 3 (every quantized value in play).
    #[test]
    fn q4k_kernels_match_the_scalar_reference() {
        for cpu in Cpu::all() {
            check(
                &q4k(cpu),
                &format!("q4k {cpu:?}"),
                |n, rng| random_blocks::<BlockQ4K>(n / 256, 144, &[1, 3], rng),
                |n, t, rng| activations::<BlockQ8K>(n, 97, extreme(t, 1e3), rng),
            );
        }
    }

    /// Random 5-bit values and every 6-bit scale and min; activations as for Q4_K.
    #[test]
    fn q5k_kernels_match_the_scalar_reference() {
        for cpu in Cpu::all() {
            check(
                &q5k(cpu),
                &format!("q5k {cpu:?}"),
                |n, rng| random_blocks::<BlockQ5K>(n / 256, 176, &[1, 3], rng),
                |n, t, rng| activations::<BlockQ8K>(n, 97, extreme(t, 1e3), rng),
            );
        }
    }

    /// Random 2-bit values and every 4-bit scale and min (d and dmin, the last four bytes, kept
    /// normal); activations as for Q4_K.
    #[test]
    fn q2k_kernels_match_the_scalar_reference() {
        for cpu in Cpu::all() {
            check(
                &q2k(cpu),
                &format!("q2k {cpu:?}"),
                |n, rng| random_blocks::<BlockQ2K>(n / 256, 84, &[81, 83], rng),
                |n, t, rng| activations::<BlockQ8K>(n, 89, extreme(t, 1e3), rng),
            );
        }
    }

    /// Random 3-bit values and every 6-bit scale (d, the last two bytes, kept normal);
    /// activations as for Q4_K.
    #[test]
    fn q3k_kernels_match_the_scalar_reference() {
        for cpu in Cpu::all() {
            check(
                &q3k(cpu),
                &format!("q3k {cpu:?}"),
                |n, rng| random_blocks::<BlockQ3K>(n / 256, 110, &[109], rng),
                |n, t, rng| activations::<BlockQ8K>(n, 89, extreme(t, 1e3), rng),
            );
        }
    }

    /// Random 6-bit values and every scale sign (d, the last two bytes, kept normal);
    /// activations as for Q4_K.
    #[test]
    fn q6k_kernels_match_the_scalar_reference() {
        for cpu in Cpu::all() {
            check(
                &q6k(cpu),
                &format!("q6k {cpu:?}"),
                |n, rng| random_blocks::<BlockQ6K>(n / 256, 210, &[209], rng),
                |n, t, rng| activations::<BlockQ8K>(n, 89, extreme(t, 1e3), rng),
            );
        }
    }

    /// Random nibbles (and fifth bits) with normal scales; activations as for Q8_0.
    #[test]
    fn q4_0_and_q5_0_kernels_match_the_scalar_reference() {
        for cpu in Cpu::all() {
            check(
                &q4_0(cpu),
                &format!("q4_0 {cpu:?}"),
                |n, rng| random_blocks::<BlockQ4_0>(n / 32, 18, &[1], rng),
                |n, t, rng| activations::<BlockQ8_0>(n, 53, extreme(t, 40.0), rng),
            );
            check(
                &q5_0(cpu),
                &format!("q5_0 {cpu:?}"),
                |n, rng| random_blocks::<BlockQ5_0>(n / 32, 22, &[1], rng),
                |n, t, rng| activations::<BlockQ8_0>(n, 53, extreme(t, 40.0), rng),
            );
        }
    }

    /// Random weights (−128 included) with normal scales; activation-like rows with ±40 every
    /// 53 values (rows 0 and 1) or ±2 (rows 2 and 3).
    #[test]
    fn q8_0_kernels_match_the_scalar_reference() {
        for cpu in Cpu::all() {
            check(
                &q8_0(cpu),
                &format!("q8_0 {cpu:?}"),
                |n, rng| random_blocks::<BlockQ8_0>(n / 32, 34, &[1], rng),
                |n, t, rng| activations::<BlockQ8_0>(n, 53, extreme(t, 40.0), rng),
            );
        }
    }
}
