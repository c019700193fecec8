//! A decode step's matrix-vector products that read the same activations (attention's Q, K
//! and V; the feed-forward's gate and up) as one parallel pass.
//!
//! Why: one at a time, each product quantized the activations on one thread while the others
//! waited, and the threads met at its end; K and V (1,024 rows on a 7B) were too short to
//! keep two cores streaming. In one pass the activations are quantized once per partner type
//! and the threads meet once.

use super::kernels;
use super::matrix::{
    arranged, multiply_rows, quantized, rows_per_task, Activations, QMatrix, SharedOut,
};
use crate::isa::Cpu;
use candle_core::quantized::k_quants::{
    BlockQ2K, BlockQ3K, BlockQ4K, BlockQ4_0, BlockQ5K, BlockQ5_0, BlockQ6K, BlockQ8K, BlockQ8_0,
    GgmlType,
};
use candle_core::quantized::GgmlDType;
use rayon::prelude::*;

/// The group's activation row quantized once per partner type its weights read (empty where
/// none reads it).
struct Quantized {
    q8k: Vec<BlockQ8K>,
    q8_0: Vec<BlockQ8_0>,
}

/// A partner type's activations in `Quantized`.
trait Partner: Sized {
    fn of(q: &Quantized) -> &[Self];
}

impl Partner for BlockQ8K {
    fn of(q: &Quantized) -> &[Self] {
        &q.q8k
    }
}

impl Partner for BlockQ8_0 {
    fn of(q: &Quantized) -> &[Self] {
        &q.q8_0
    }
}

/// `outs[i] = weights[i] · xs`. One activation row in one pass; matrices of types without our row
/// kernels, or more than one token, one after another through `QMatrix::matmul`.
pub(crate) fn matmul_group(cpu: Cpu, xs: &[f32], weights: &[&QMatrix], outs: &mut [&mut [f32]]) {
    assert_eq!(weights.len(), outs.len());
    let ours = |w: &QMatrix| w.cols == xs.len() && kernels::partner(w.dtype).is_some();
    if !weights.iter().all(|w| ours(w)) {
        for (w, out) in weights.iter().zip(outs.iter_mut()) {
            w.matmul(cpu, xs, out);
        }
        return;
    }
    for (w, out) in weights.iter().zip(outs.iter()) {
        assert_eq!(out.len(), w.rows, "output has the wrong size");
    }
    let cols = xs.len();
    let reads = |p: GgmlDType| weights.iter().any(|w| kernels::partner(w.dtype) == Some(p));
    let acts = Quantized {
        q8k: match reads(GgmlDType::Q8K) {
            true => quantized::<BlockQ4K>(cpu.isa, xs, cols),
            false => Vec::new(),
        },
        q8_0: match reads(GgmlDType::Q8_0) {
            true => quantized::<BlockQ8_0>(cpu.isa, xs, cols),
            false => Vec::new(),
        },
    };
    let per_task = rows_per_task(cols);
    let tasks: Vec<(usize, usize)> = weights
        .iter()
        .enumerate()
        .flat_map(|(i, w)| (0..w.rows).step_by(per_task).map(move |r0| (i, r0)))
        .collect();
    let dsts: Vec<SharedOut> = outs.iter_mut().map(|o| SharedOut(o.as_mut_ptr())).collect();
    let has = |t: GgmlDType| weights.iter().any(|w| w.dtype == t);
    macro_rules! group {
        ($(($d:ident, $t:ty, $k:ident, $name:literal)),*) => {{
            // Each type's kernels, with the activations arranged for them (once per product)
            // where the group has that type and its decode kernel reads them so.
            $(
                let $k = kernels::$k(cpu);
                let $k = {
                    let q = <<$t as GgmlType>::VecDotType as Partner>::of(&acts);
                    let arranged = has(GgmlDType::$d).then(|| arranged(&$k, q, cols)).flatten();
                    ($k, arranged)
                };
            )*
            tasks.into_par_iter().for_each(|(i, r0)| {
                let w = weights[i];
                let rs = r0..(r0 + per_task).min(w.rows);
                // SAFETY: tasks cover disjoint rows of each output, which holds `w.rows`
                // floats (asserted above) for the one token.
                unsafe {
                    match w.dtype {
                        $(GgmlDType::$d => {
                            let (kernels, arranged) = &$k;
                            let acts = Activations::<$t> {
                                quantized: <<$t as GgmlType>::VecDotType as Partner>::of(&acts),
                                arranged: arranged.as_ref(),
                            };
                            let blocks = w.blocks::<$t>();
                            multiply_rows(blocks, w.rows, cols, acts, kernels, rs, dsts[i])
                        })*
                        other => unreachable!("{other:?} is not one of ours (checked above)"),
                    }
                }
            });
        }};
    }
    kernels::our_types!(group)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gguf_cpu::matrix::tests::{mapped, values};
    use candle_core::quantized::k_quants::BlockQ4_1;

    /// The group gives each matrix's own `matmul`, bit for bit, for every mix of types
    /// (Q8_0, Q4_0 or Q5_0 beside K-quants needs both partner types; a type without our
    /// kernels, Q4_1, sends the group one matrix at a time) and row counts that are not a
    /// multiple of the task size.
    #[test]
    fn a_group_matches_each_matrix_alone() {
        let cols = 512;
        let x = values(cols, 9);
        let q4 = mapped::<BlockQ4K>(&values(35 * cols, 1), 35, cols);
        let q6 = mapped::<BlockQ6K>(&values(19 * cols, 2), 19, cols);
        let q8 = mapped::<BlockQ8_0>(&values(300 * cols, 3), 300, cols);
        let q2 = mapped::<BlockQ2K>(&values(7 * cols, 4), 7, cols);
        let q5 = mapped::<BlockQ5K>(&values(21 * cols, 5), 21, cols);
        let q40 = mapped::<BlockQ4_0>(&values(13 * cols, 6), 13, cols);
        let q50 = mapped::<BlockQ5_0>(&values(11 * cols, 7), 11, cols);
        let q3 = mapped::<BlockQ3K>(&values(9 * cols, 8), 9, cols);
        let q41 = mapped::<BlockQ4_1>(&values(5 * cols, 10), 5, cols);
        let groups: [&[&QMatrix]; 9] = [
            &[&q4, &q6, &q8],
            &[&q4, &q4],
            &[&q8],
            &[&q5, &q5, &q6],
            &[&q6, &q2],
            &[&q40, &q50, &q6],
            &[&q8, &q40],
            &[&q3, &q6, &q3],
            &[&q2, &q41, &q4],
        ];
        for cpu in Cpu::all() {
            for group in groups {
                let mut outs: Vec<Vec<f32>> =
                    group.iter().map(|w| vec![f32::NAN; w.rows]).collect();
                let mut refs: Vec<&mut [f32]> = outs.iter_mut().map(|o| o.as_mut_slice()).collect();
                matmul_group(cpu, &x, group, &mut refs);
                for (w, got) in group.iter().zip(&outs) {
                    let mut want = vec![0f32; w.rows];
                    w.matmul(cpu, &x, &mut want);
                    assert_eq!(got, &want, "{cpu:?} {:?}", w.dtype);
                }
            }
        }
    }
}
