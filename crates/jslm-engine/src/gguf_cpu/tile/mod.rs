//! Prompt (prefill) matmuls for Q2_K–Q6_K, Q4_0, Q5_0 and Q8_0 as register tiles of weight
//! rows × tokens over the file's own blocks, with AVX-512 VNNI (16 tokens per vector), 256-bit
//! VNNI (8) or AVX2 (8).
//!
//! The row kernels (`kernels.rs`) unpack a weight block once for at most four tokens and load
//! every activation once per row; here a task's rows are unpacked once (`prep.rs`: 16 rows,
//! about 64 KiB for rows of 4,096, dropped after the task — no second copy of the weights) and
//! each tile multiplies `R` rows by `V · L` tokens (`body.rs`), with the activations quantized
//! once per matmul exactly as candle and llama.cpp quantize them (`acts.rs`).

mod acts;
mod body;
mod lanes;
mod prep;

use crate::gguf_cpu::block_views::{Q2K, Q3K, Q4K, Q4_0 as Q40, Q5K, Q5_0 as Q50, Q6K, Q8};
use crate::gguf_cpu::simd::view;
use crate::isa::{Cpu, Isa};
use acts::Acts;
use body::{Body, KQuant, Q8_0};
use candle_core::quantized::k_quants::{
    BlockQ2K, BlockQ3K, BlockQ4K, BlockQ4_0, BlockQ5K, BlockQ5_0, BlockQ6K, BlockQ8_0,
};
use lanes::Lanes;
use prep::Prepped;
use rayon::prelude::*;

/// Rows unpacked and multiplied by one task.
const TASK_ROWS: usize = 16;

/// The weights of one tiled matmul, as ggml's structs.
#[derive(Clone, Copy)]
pub(crate) enum Weights<'a> {
    Q2K(&'a [BlockQ2K]),
    Q3K(&'a [BlockQ3K]),
    Q4K(&'a [BlockQ4K]),
    Q5K(&'a [BlockQ5K]),
    Q6K(&'a [BlockQ6K]),
    Q4_0(&'a [BlockQ4_0]),
    Q5_0(&'a [BlockQ5_0]),
    Q8_0(&'a [BlockQ8_0]),
}

/// The lane family `cpu` tiles with, if any: VNNI where present, else AVX2 (AVX-512 CPUs
/// without VNNI too).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Family {
    Vnni512,
    /// `Isa::AvxVnni` on a CPU with AVX-VNNI.
    AvxVnni,
    /// `Isa::AvxVnni` on an AVX-512 VNNI CPU without it: the same tiles, EVEX-encoded.
    Vnni256Evex,
    Avx2,
}

impl Family {
    pub fn of(cpu: Cpu) -> Option<Self> {
        match cpu.isa {
            Isa::Avx512 if cpu.vnni => Some(Self::Vnni512),
            Isa::AvxVnni if crate::isa::avxvnni_vex() => Some(Self::AvxVnni),
            Isa::AvxVnni => Some(Self::Vnni256Evex),
            Isa::Avx512 | Isa::Avx2 => Some(Self::Avx2),
            Isa::Generic => None,
        }
    }

    /// The instruction set of the family's vectors (for the activations' quantization).
    fn isa(self) -> Isa {
        match self {
            Self::Vnni512 => Isa::Avx512,
            Self::AvxVnni | Self::Vnni256Evex | Self::Avx2 => Isa::Avx2,
        }
    }

    /// Whether the family's lanes sum in i16 pairs (`Lanes::I16`): AVX2's. Its Q8_0 tiles
    /// multiply widened weights by activations stored as i16 pairs (`vpmaddwd`), its K-quant
    /// tiles take activation sums already scaled by `d`.
    fn i16(self) -> bool {
        self == Self::Avx2
    }

    fn lanes(self) -> usize {
        match self {
            Self::Vnni512 => 16,
            Self::AvxVnni | Self::Vnni256Evex | Self::Avx2 => 8,
        }
    }
}

/// `out[t][r] = Σ_c w[r][c] · xs[t][c]` for `m = xs.len() / cols` tokens.
pub(crate) fn matmul(
    family: Family,
    w: Weights,
    rows: usize,
    cols: usize,
    xs: &[f32],
    out: &mut [f32],
) {
    let m = xs.len() / cols;
    assert_eq!(xs.len(), m * cols, "activations are not whole rows");
    assert_eq!(out.len(), m * rows, "output has the wrong size");
    family.assert_supported();
    let acts = w.acts(family, xs, cols);
    let dst = SharedOut(out.as_mut_ptr());
    let tasks = rows.div_ceil(TASK_ROWS);
    let acts = &acts;
    (0..tasks)
        .into_par_iter()
        .for_each_init(Prepped::default, |prep, task| {
            let out = Out {
                dst,
                rows,
                m,
                row0: task * TASK_ROWS,
            };
            // SAFETY: features checked above; tasks write disjoint rows of `out`.
            unsafe { one_task(family, w, prep, cols, acts, out) }
        });
}

/// `jslm bench --kernels`: the tasks of `rows` rows (unpacked each time, as `matmul` does)
/// against the tokens of `xs`, one after another on this thread, with weights and activations
/// in cache; the best of `passes` runs of `sweeps`, in ns per weight block and token.
pub(crate) fn time_tasks(
    family: Family,
    w: Weights,
    rows: usize,
    cols: usize,
    xs: &[f32],
    passes: usize,
    sweeps: usize,
) -> f64 {
    let m = xs.len() / cols;
    family.assert_supported();
    let acts = w.acts(family, xs, cols);
    let mut out = vec![0f32; m * rows];
    let mut prep = Prepped::default();
    let blocks = (sweeps * rows * cols / w.block_values() * m) as f64;
    let mut best = f64::INFINITY;
    for _ in 0..passes {
        let start = std::time::Instant::now();
        for _ in 0..sweeps {
            for row0 in (0..rows).step_by(TASK_ROWS) {
                let out = Out {
                    dst: SharedOut(out.as_mut_ptr()),
                    rows,
                    m,
                    row0,
                };
                // SAFETY: features checked above; one task at a time.
                unsafe { one_task(family, w, &mut prep, cols, &acts, out) }
            }
        }
        std::hint::black_box(&out);
        best = best.min(start.elapsed().as_secs_f64() * 1e9 / blocks);
    }
    best
}

impl Family {
    fn assert_supported(self) {
        match self {
            Family::Vnni512 | Family::Vnni256Evex => {
                assert!(Isa::Avx512.supported() && super::q4k_avx512::vnni_detected())
            }
            Family::AvxVnni => assert!(Isa::Avx2.supported() && crate::isa::avxvnni_vex()),
            Family::Avx2 => assert!(Isa::Avx2.supported()),
        }
    }
}

impl Weights<'_> {
    /// Values per block.
    fn block_values(self) -> usize {
        match self {
            Weights::Q2K(_)
            | Weights::Q3K(_)
            | Weights::Q4K(_)
            | Weights::Q5K(_)
            | Weights::Q6K(_) => 256,
            Weights::Q4_0(_) | Weights::Q5_0(_) | Weights::Q8_0(_) => 32,
        }
    }

    /// `xs` quantized to these weights' partner, in `family`'s tile layout.
    fn acts(self, family: Family, xs: &[f32], cols: usize) -> Acts {
        let lanes = family.lanes();
        match self {
            Weights::Q4K(_) | Weights::Q5K(_) => {
                Acts::q8k(family.isa(), xs, cols, lanes, 8, family.i16())
            }
            Weights::Q2K(_) | Weights::Q3K(_) | Weights::Q6K(_) => {
                Acts::q8k(family.isa(), xs, cols, lanes, 16, family.i16())
            }
            Weights::Q4_0(_) | Weights::Q5_0(_) => Acts::q8_0_signed(xs, cols, lanes, family.i16()),
            Weights::Q8_0(_) if family.i16() => Acts::q8_0_pairs(xs, cols, lanes),
            Weights::Q8_0(_) => Acts::q8_0(xs, cols, lanes),
        }
    }
}

/// Unpacks the task's rows (`out.row0`, up to `TASK_ROWS` of `out.rows`) into `prep` and
/// multiplies them by every tile of `acts`.
///
/// # Safety
/// `family`'s features; no other task writes these rows of `out` meanwhile.
unsafe fn one_task(
    family: Family,
    w: Weights,
    prep: &mut Prepped,
    cols: usize,
    acts: &Acts,
    out: Out,
) {
    let (r0, rows) = (out.row0, out.rows);
    let n = TASK_ROWS.min(rows - r0);
    let row_blocks = cols / w.block_values();
    let span = r0 * row_blocks..(r0 + n) * row_blocks;
    // Rayon hands a worker neighbouring tasks: once this task's rows are unpacked, start
    // pulling the next task's weights into L2 while this one computes.
    let next = (r0 + n) * row_blocks..(r0 + n + TASK_ROWS).min(rows) * row_blocks;
    // SAFETY: the views have candle's layouts (asserted beside the structs); `span` is inside
    // the tensor; the caller's features and rows.
    unsafe {
        match w {
            Weights::Q4K(blocks) => {
                prep.q4k(view::<_, Q4K>(&blocks[span.clone()], span.len()));
                prefetch_l2(&blocks[next]);
                let body = KQuant::<64, 8, 8> {
                    prep: &*prep,
                    row_blocks,
                };
                run(family, &body, n, acts, out);
            }
            Weights::Q5K(blocks) => {
                prep.q5k(view::<_, Q5K>(&blocks[span.clone()], span.len()));
                prefetch_l2(&blocks[next]);
                // Values up to 31: four groups' `maddubs` sums fit an i16 pair (4 · 2 · 31 ·
                // 128 < 2^15), eight would not.
                let body = KQuant::<64, 8, 4> {
                    prep: &*prep,
                    row_blocks,
                };
                run(family, &body, n, acts, out);
            }
            Weights::Q6K(blocks) => {
                prep.q6k(view::<_, Q6K>(&blocks[span.clone()], span.len()));
                prefetch_l2(&blocks[next]);
                let body = KQuant::<64, 16, 2> {
                    prep: &*prep,
                    row_blocks,
                };
                run(family, &body, n, acts, out);
            }
            Weights::Q3K(blocks) => {
                prep.q3k(view::<_, Q3K>(&blocks[span.clone()], span.len()));
                prefetch_l2(&blocks[next]);
                // Values up to 7: a sub-block's four groups' `maddubs` sums fit an i16 pair
                // (4 · 2 · 7 · 128 < 2^15).
                let body = KQuant::<64, 16, 4> {
                    prep: &*prep,
                    row_blocks,
                };
                run(family, &body, n, acts, out);
            }
            Weights::Q2K(blocks) => {
                prep.q2k(view::<_, Q2K>(&blocks[span.clone()], span.len()));
                prefetch_l2(&blocks[next]);
                let body = KQuant::<64, 16, 4> {
                    prep: &*prep,
                    row_blocks,
                };
                run(family, &body, n, acts, out);
            }
            Weights::Q4_0(blocks) => {
                prep.offset32(view::<_, Q40>(&blocks[span.clone()], span.len()));
                prefetch_l2(&blocks[next]);
                // Values up to 15: a block's eight groups' `maddubs` sums fit an i16 pair
                // (8 · 2 · 15 · 128 < 2^15).
                let body = KQuant::<8, 1, 8> {
                    prep: &*prep,
                    row_blocks,
                };
                run(family, &body, n, acts, out);
            }
            Weights::Q5_0(blocks) => {
                prep.offset32(view::<_, Q50>(&blocks[span.clone()], span.len()));
                prefetch_l2(&blocks[next]);
                // Values up to 31: four groups at a time (4 · 2 · 31 · 128 < 2^15).
                let body = KQuant::<8, 1, 4> {
                    prep: &*prep,
                    row_blocks,
                };
                run(family, &body, n, acts, out);
            }
            Weights::Q8_0(blocks) => {
                let pairs = family.i16();
                let task_blocks = &blocks[span.clone()];
                prep.q8_0(view::<_, Q8>(task_blocks, span.len()), pairs);
                prefetch_l2(&blocks[next]);
                let body = Q8_0 {
                    prep: &*prep,
                    blocks: if pairs {
                        prep.bytes.as_ptr()
                    } else {
                        task_blocks.as_ptr() as *const u8
                    },
                    row_blocks,
                };
                run(family, &body, n, acts, out);
            }
        }
    }
}

/// Asks for `data` in L2 (a hint: no effect on results).
fn prefetch_l2<T>(data: &[T]) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T1};
        let p = data.as_ptr() as *const i8;
        for off in (0..std::mem::size_of_val(data)).step_by(64) {
            // SAFETY: prefetching has no architectural effect; the address is inside `data`.
            unsafe { _mm_prefetch::<_MM_HINT_T1>(p.wrapping_add(off)) };
        }
    }
}

/// Where a task's results go.
#[derive(Clone, Copy)]
struct Out {
    dst: SharedOut,
    rows: usize,
    m: usize,
    row0: usize,
}

/// A pointer that rayon tasks may share because each writes disjoint elements.
#[derive(Clone, Copy)]
struct SharedOut(*mut f32);
// SAFETY: tasks write disjoint indices (distinct rows of the output) and the owner waits for
// all of them before reading.
unsafe impl Send for SharedOut {}
unsafe impl Sync for SharedOut {}

/// # Safety
/// The family's target features; `out` as `task` requires.
unsafe fn run<B: Body>(family: Family, body: &B, n: usize, acts: &Acts, out: Out) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: the caller's.
    unsafe {
        match family {
            Family::Vnni512 => task_vnni512(body, n, acts, out),
            Family::AvxVnni => task_avxvnni(body, n, acts, out),
            Family::Vnni256Evex => task_vnni256_evex(body, n, acts, out),
            Family::Avx2 => task_avx2(body, n, acts, out),
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn task_vnni512<B: Body>(body: &B, n: usize, acts: &Acts, out: Out) {
    // SAFETY: the caller's; this function's features are the lanes'.
    unsafe { task::<lanes::Vnni512, B, 4, 2>(body, n, acts, out) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c,avxvnni")]
unsafe fn task_avxvnni<B: Body>(body: &B, n: usize, acts: &Acts, out: Out) {
    // SAFETY: the caller's; this function's features are the lanes'.
    unsafe { task_vnni256::<lanes::AvxVnni, B>(body, n, acts, out) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn task_vnni256_evex<B: Body>(body: &B, n: usize, acts: &Acts, out: Out) {
    // SAFETY: the caller's; this function's features are the lanes'.
    unsafe { task_vnni256::<lanes::Vnni256Evex, B>(body, n, acts, out) }
}

/// 256-bit VNNI tiles in either encoding: 4 rows × 1 vector where the body asks for it
/// (`Body::VNNI256_TALL`), else 2 × 2.
///
/// # Safety
/// As for `task`.
#[inline(always)]
unsafe fn task_vnni256<S: Lanes, B: Body>(body: &B, n: usize, acts: &Acts, out: Out) {
    // SAFETY: the caller's.
    unsafe {
        if B::VNNI256_TALL {
            task::<S, B, 4, 1>(body, n, acts, out)
        } else {
            task::<S, B, 2, 2>(body, n, acts, out)
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn task_avx2<B: Body>(body: &B, n: usize, acts: &Acts, out: Out) {
    // 4 rows × 2 vectors for every weight type: Q8_0's sums are one `vpmaddwd` accumulator
    // per tile element (16 `ymm` hold 8 of them, 2 activation vectors and a weight pair), and
    // the K-quants' i32 sums of integer-scaled sub-blocks ran faster so too (`jslm bench
    // --kernels`, stop 28: Q4_K 2.30 against 2.38 ns at 2 × 2, Q6_K 2.85 against 3.09).
    // SAFETY: the caller's; this function's features are the lanes'.
    unsafe { task::<lanes::Avx2, B, 4, 2>(body, n, acts, out) }
}

/// The task's `n` rows against every tile: `V` tiles at a time, then the odd one; `R` rows at
/// a time, then one by one.
#[inline(always)]
unsafe fn task<S: Lanes, B: Body, const R: usize, const V: usize>(
    body: &B,
    n: usize,
    acts: &Acts,
    out: Out,
) {
    let mut tile = 0;
    // SAFETY (all calls): rows below `n`, tiles below `acts.tiles`.
    unsafe {
        while tile + V <= acts.tiles {
            rows::<S, B, R, V>(body, n, acts, tile, out);
            tile += V;
        }
        while tile < acts.tiles {
            rows::<S, B, R, 1>(body, n, acts, tile, out);
            tile += 1;
        }
    }
}

#[inline(always)]
unsafe fn rows<S: Lanes, B: Body, const R: usize, const V: usize>(
    body: &B,
    n: usize,
    acts: &Acts,
    tile0: usize,
    out: Out,
) {
    let mut r = 0;
    // SAFETY (all calls): the caller's.
    unsafe {
        while r + R <= n {
            store::<S, R, V>(body.tile::<S, R, V>(r, acts, tile0), r, tile0, out);
            r += R;
        }
        while r < n {
            store::<S, 1, V>(body.tile::<S, 1, V>(r, acts, tile0), r, tile0, out);
            r += 1;
        }
    }
}

#[inline(always)]
unsafe fn store<S: Lanes, const R: usize, const V: usize>(
    acc: [[S::F; V]; R],
    row: usize,
    tile0: usize,
    out: Out,
) {
    let mut buf = [0f32; 16];
    for (r, acc) in acc.iter().enumerate() {
        for (v, &x) in acc.iter().enumerate() {
            // SAFETY: the caller's features; `buf` holds 16 floats.
            unsafe { S::store_f(x, &mut buf) };
            for (l, &value) in buf.iter().take(S::L).enumerate() {
                let t = (tile0 + v) * S::L + l;
                if t < out.m {
                    // SAFETY: t < m and row0 + row + r < rows: inside the m × rows output,
                    // written by this task alone.
                    unsafe { *out.dst.0.add(t * out.rows + out.row0 + row + r) = value };
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gguf_cpu::simd::test_data::{random_blocks, Lcg};
    use candle_core::quantized::k_quants::GgmlType;

    fn families() -> Vec<Family> {
        let mut out: Vec<Family> = Vec::new();
        for family in Cpu::all().into_iter().filter_map(Family::of) {
            if !out.contains(&family) {
                out.push(family);
            }
        }
        out
    }

    /// `n` activations in [-1, 1) with ±`extreme` every `period` values.
    fn activations(n: usize, period: usize, extreme: f32, rng: &mut Lcg) -> Vec<f32> {
        (0..n)
            .map(|i| match i % period {
                0 => extreme,
                1 => -extreme,
                _ => (rng.next_u32() as f32 / u32::MAX as f32) * 2.0 - 1.0,
            })
            .collect()
    }

    /// Every tail: 1 … 3 tiles + 1 tokens (partial tiles, a lone tile after pairs of them;
    /// activations with ±1000 outliers for odd token counts, ±2 for even ones),
    /// a whole task plus a partial one of 5 rows (an odd row after pairs and quads) and a
    /// task of 3 rows, against candle's scalar `vec_dot_unopt` on the same quantized
    /// activations.
    fn check<T: GgmlType>(
        label: &str,
        cols: usize,
        blocks: impl Fn(usize, &mut Lcg) -> Vec<T>,
        weights: impl for<'a> Fn(&'a [T]) -> Weights<'a>,
    ) {
        let per_row = cols / T::BLCK_SIZE;
        for family in families() {
            let l = family.lanes();
            for rows in [TASK_ROWS + 5, 3] {
                let mut rng = Lcg::new(rows as u64);
                let w = blocks(rows * per_row, &mut rng);
                for m in 1..=3 * l + 1 {
                    // ±1000 leaves most quantized values 0 around it; ±2 leaves none 0.
                    let extreme = if m % 2 == 1 { 1e3 } else { 2.0 };
                    let xs = activations(m * cols, 97, extreme, &mut rng);
                    let mut out = vec![f32::NAN; m * rows];
                    matmul(family, weights(&w), rows, cols, &xs, &mut out);
                    let mut want = vec![0f32; m * rows];
                    for t in 0..m {
                        let mut q = vec![T::VecDotType::zeros(); cols / T::VecDotType::BLCK_SIZE];
                        T::VecDotType::from_float(&xs[t * cols..(t + 1) * cols], &mut q);
                        for r in 0..rows {
                            let row = &w[r * per_row..(r + 1) * per_row];
                            want[t * rows + r] = T::vec_dot_unopt(cols, row, &q);
                        }
                    }
                    let scale = want.iter().fold(1f32, |a, v| a.max(v.abs()));
                    for (i, (g, w)) in out.iter().zip(&want).enumerate() {
                        assert!(
                            (g - w).abs() <= 2e-5 * scale,
                            "{label} {family:?} rows={rows} m={m}: element {i}: {g} vs {w}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn q4k_tiles_match_the_scalar_reference_for_every_tail() {
        check::<BlockQ4K>(
            "q4k",
            768,
            |n, rng| random_blocks(n, 144, &[1, 3], rng),
            |w| Weights::Q4K(w),
        );
    }

    #[test]
    fn q5k_tiles_match_the_scalar_reference_for_every_tail() {
        check::<BlockQ5K>(
            "q5k",
            768,
            |n, rng| random_blocks(n, 176, &[1, 3], rng),
            |w| Weights::Q5K(w),
        );
    }

    #[test]
    fn q6k_tiles_match_the_scalar_reference_for_every_tail() {
        check::<BlockQ6K>(
            "q6k",
            768,
            |n, rng| random_blocks(n, 210, &[209], rng),
            |w| Weights::Q6K(w),
        );
    }

    #[test]
    fn q3k_tiles_match_the_scalar_reference_for_every_tail() {
        check::<BlockQ3K>(
            "q3k",
            768,
            |n, rng| random_blocks(n, 110, &[109], rng),
            |w| Weights::Q3K(w),
        );
    }

    #[test]
    fn q2k_tiles_match_the_scalar_reference_for_every_tail() {
        check::<BlockQ2K>(
            "q2k",
            768,
            |n, rng| random_blocks(n, 84, &[81, 83], rng),
            |w| Weights::Q2K(w),
        );
    }

    #[test]
    fn q4_0_tiles_match_the_scalar_reference_for_every_tail() {
        check::<BlockQ4_0>(
            "q4_0",
            96,
            |n, rng| random_blocks(n, 18, &[1], rng),
            |w| Weights::Q4_0(w),
        );
    }

    #[test]
    fn q5_0_tiles_match_the_scalar_reference_for_every_tail() {
        check::<BlockQ5_0>(
            "q5_0",
            96,
            |n, rng| random_blocks(n, 22, &[1], rng),
            |w| Weights::Q5_0(w),
        );
    }

    #[test]
    fn q8_0_tiles_match_the_scalar_reference_for_every_tail() {
        check::<BlockQ8_0>(
            "q8_0",
            96,
            |n, rng| random_blocks(n, 34, &[1], rng),
            |w| Weights::Q8_0(w),
        );
    }
}
