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
};
use candle_core::quantized::GgmlDType;
use rayon::prelude::*;

/// `outs[i] = weights[i] · xs`. One activation row in one pass; matrices of types without our row
/// kernels, or more than one token, one after another through `QMatrix::matmul`.
pub(crate) fn matmul_group(cpu: Cpu, xs: &[f32], weights: &[&QMatrix], outs: &mut [&mut [f32]]) {
    assert_eq!(weights.len(), outs.len());
    let ours = |w: &QMatrix| {
        matches!(
            w.dtype,
            GgmlDType::Q2K
                | GgmlDType::Q3K
                | GgmlDType::Q4K
                | GgmlDType::Q5K
                | GgmlDType::Q6K
                | GgmlDType::Q4_0
                | GgmlDType::Q5_0
                | GgmlDType::Q8_0
        )
    };
    if !weights.iter().all(|w| w.cols == xs.len() && ours(w)) {
        for (w, out) in weights.iter().zip(outs.iter_mut()) {
            w.matmul(cpu, xs, out);
        }
        return;
    }
    for (w, out) in weights.iter().zip(outs.iter()) {
        assert_eq!(out.len(), w.rows, "output has the wrong size");
    }
    let cols = xs.len();
    let has = |t: GgmlDType| weights.iter().any(|w| w.dtype == t);
    let k_acts = [
        GgmlDType::Q2K,
        GgmlDType::Q3K,
        GgmlDType::Q4K,
        GgmlDType::Q5K,
        GgmlDType::Q6K,
    ]
    .into_iter()
    .any(has)
    .then(|| quantized::<BlockQ4K>(cpu.isa, xs, cols));
    let q8_0_acts = [GgmlDType::Q4_0, GgmlDType::Q5_0, GgmlDType::Q8_0]
        .into_iter()
        .any(has)
        .then(|| quantized::<BlockQ8_0>(cpu.isa, xs, cols));
    let per_task = rows_per_task(cols);
    let tasks: Vec<(usize, usize)> = weights
        .iter()
        .enumerate()
        .flat_map(|(i, w)| (0..w.rows).step_by(per_task).map(move |r0| (i, r0)))
        .collect();
    let dsts: Vec<SharedOut> = outs.iter_mut().map(|o| SharedOut(o.as_mut_ptr())).collect();
    let (q4k, q5k) = (kernels::q4k(cpu), kernels::q5k(cpu));
    let (q2k, q3k) = (kernels::q2k(cpu), kernels::q3k(cpu));
    let (q6k, q8_0) = (kernels::q6k(cpu), kernels::q8_0(cpu));
    let (q4_0, q5_0) = (kernels::q4_0(cpu), kernels::q5_0(cpu));
    let q4k_acts = k_acts
        .as_deref()
        .filter(|_| has(GgmlDType::Q4K))
        .and_then(|k| arranged(&q4k, k, cols));
    let q4k_acts = q4k_acts.as_ref();
    // Q4_0's and Q5_0's decode kernels read Q8_0 with their offsets' pair sums.
    let q8: &[BlockQ8_0] = q8_0_acts.as_deref().unwrap_or_default();
    let q4_0_acts = has(GgmlDType::Q4_0)
        .then(|| arranged(&q4_0, q8, cols))
        .flatten();
    let q5_0_acts = has(GgmlDType::Q5_0)
        .then(|| arranged(&q5_0, q8, cols))
        .flatten();
    let k: &[BlockQ8K] = k_acts.as_deref().unwrap_or_default();
    tasks.into_par_iter().for_each(|(i, r0)| {
        let w = weights[i];
        let rs = r0..(r0 + per_task).min(w.rows);
        // Rows `rs` of `w` as `$t` with `$kernels`, on activations `$quantized` (and their
        // arrangement, where the kernels read one).
        macro_rules! rows {
            ($t:ty, $kernels:expr, $quantized:expr, $arranged:expr) => {
                multiply_rows(
                    w.blocks::<$t>(),
                    w.rows,
                    cols,
                    Activations {
                        quantized: $quantized,
                        arranged: $arranged,
                    },
                    $kernels,
                    rs,
                    dsts[i],
                )
            };
        }
        // SAFETY: tasks cover disjoint rows of each output, which holds `w.rows` floats
        // (asserted above) for the one token.
        unsafe {
            match w.dtype {
                GgmlDType::Q2K => rows!(BlockQ2K, &q2k, k, None),
                GgmlDType::Q3K => rows!(BlockQ3K, &q3k, k, None),
                GgmlDType::Q4K => rows!(BlockQ4K, &q4k, k, q4k_acts),
                GgmlDType::Q5K => rows!(BlockQ5K, &q5k, k, None),
                GgmlDType::Q6K => rows!(BlockQ6K, &q6k, k, None),
                GgmlDType::Q4_0 => rows!(BlockQ4_0, &q4_0, q8, q4_0_acts.as_ref()),
                GgmlDType::Q5_0 => rows!(BlockQ5_0, &q5_0, q8, q5_0_acts.as_ref()),
                GgmlDType::Q8_0 => rows!(BlockQ8_0, &q8_0, q8, None),
                other => unreachable!("{other:?} is not one of ours (checked above)"),
            }
        }
    });
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
