//! `jslm bench --kernels`: every row kernel this CPU can run, timed on weight rows that stay
//! in cache, in nanoseconds per weight block. It isolates a kernel's instructions from memory
//! and threads, which the whole-model benchmark mixes (BENCHMARKS.md, stop 26: decode on the
//! 2-vCPU VMs swings with the host's memory bandwidth, a kernel's time in cache does not).

use super::kernels::{q4k, q6k, q8_0, RowKernels};
use crate::isa::Cpu;
use candle_core::quantized::k_quants::{BlockQ4K, BlockQ6K, BlockQ8_0, GgmlType};
use rand::{Rng, SeedableRng};
use serde::Serialize;
use std::time::Instant;

/// Columns of the timed rows (the model's hidden size) and rows per sweep: 64 Q6_K rows are
/// 210 KiB, inside L2.
const COLS: usize = 4096;
const ROWS: usize = 64;

/// One kernel's time.
#[derive(Debug, Clone, Serialize)]
pub struct KernelTiming {
    /// "q4_k", "q6_k" or "q8_0".
    pub weights: &'static str,
    /// The instruction set it was built for ("avx512", "avx512-novnni", "avx2", "generic", …).
    pub kernels: String,
    /// "rows" (the one-token row kernel as prompts' leftovers and non-arranged decode use it)
    /// or "arranged" (decode's kernel on activations arranged once per product).
    pub path: &'static str,
    /// Best of the passes.
    pub ns_per_block: f64,
}

/// Times every kernel `passes` times, `sweeps` sweeps over the rows each, and keeps the best.
pub fn row_kernel_timings(passes: usize, sweeps: usize) -> Vec<KernelTiming> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let mut values =
        |n: usize| -> Vec<f32> { (0..n).map(|_| rng.random_range(-1.0..1.0)).collect() };
    let weights = values(ROWS * COLS);
    let acts = values(COLS);
    let q4: Vec<BlockQ4K> = quantize(&weights);
    let q6: Vec<BlockQ6K> = quantize(&weights);
    let q8: Vec<BlockQ8_0> = quantize(&weights);
    let mut out = Vec::new();
    for cpu in Cpu::all() {
        let label = format!(
            "{}{}",
            cpu.isa.as_str(),
            if cpu.isa == crate::isa::Isa::Avx512 && !cpu.vnni {
                "-novnni"
            } else {
                ""
            }
        );
        time(
            "q4_k",
            &label,
            &q4k(cpu),
            &q4,
            &acts,
            passes,
            sweeps,
            &mut out,
        );
        time(
            "q6_k",
            &label,
            &q6k(cpu),
            &q6,
            &acts,
            passes,
            sweeps,
            &mut out,
        );
        time(
            "q8_0",
            &label,
            &q8_0(cpu),
            &q8,
            &acts,
            passes,
            sweeps,
            &mut out,
        );
    }
    out
}

fn quantize<T: GgmlType>(xs: &[f32]) -> Vec<T> {
    let mut blocks = vec![T::zeros(); xs.len() / T::BLCK_SIZE];
    T::from_float(xs, &mut blocks);
    blocks
}

#[allow(clippy::too_many_arguments)]
fn time<T: GgmlType>(
    weights: &'static str,
    label: &str,
    kernels: &RowKernels<T>,
    xs: &[T],
    acts: &[f32],
    passes: usize,
    sweeps: usize,
    out: &mut Vec<KernelTiming>,
) {
    let y: Vec<T::VecDotType> = quantize(acts);
    let per_row = COLS / T::BLCK_SIZE;
    let blocks = (sweeps * ROWS * per_row) as f64;
    let best = |dot: &dyn Fn(&[T]) -> f32| {
        let mut best = f64::INFINITY;
        for _ in 0..passes {
            let start = Instant::now();
            let mut sink = 0f32;
            for _ in 0..sweeps {
                for row in xs.chunks_exact(per_row) {
                    sink += dot(row);
                }
            }
            std::hint::black_box(sink);
            best = best.min(start.elapsed().as_secs_f64() * 1e9 / blocks);
        }
        best
    };
    out.push(KernelTiming {
        weights,
        kernels: label.to_string(),
        path: "rows",
        ns_per_block: best(&|row| (kernels.one)(COLS, row, &y)),
    });
    if let Some(arranged) = &kernels.arranged {
        let a = (arranged.arrange)(&y);
        out.push(KernelTiming {
            weights,
            kernels: label.to_string(),
            path: "arranged",
            ns_per_block: best(&|row| (arranged.dot)(COLS, row, &a)),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every kernel set of this CPU is timed once per weight type (and its arranged decode
    /// path where it has one), each a finite positive time.
    #[test]
    fn times_every_kernel_of_this_cpu() {
        let timings = row_kernel_timings(1, 1);
        let cpus = Cpu::all().len();
        for weights in ["q4_k", "q6_k", "q8_0"] {
            let rows: Vec<_> = timings
                .iter()
                .filter(|t| t.weights == weights && t.path == "rows")
                .collect();
            assert_eq!(rows.len(), cpus, "{weights}: {timings:?}");
        }
        for t in &timings {
            assert!(t.ns_per_block.is_finite() && t.ns_per_block > 0.0, "{t:?}");
        }
    }
}
