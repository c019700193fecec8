//! `jslm bench --kernels`: every row kernel and prompt tile this CPU can run, for every type
//! of `kernels::our_types`, timed on weight rows that stay in cache, in nanoseconds per weight
//! block (tiles: per block and token). It isolates a kernel's instructions from memory and
//! threads, which the whole-model benchmark mixes (BENCHMARKS.md, stop 26: decode on the
//! 2-vCPU VMs swings with the host's memory bandwidth). On a shared VM these times move too
//! (4.87–6.33 ns for the same kernel minutes apart): compare builds run alternately.

use super::kernels::{self, RowKernels};
use super::matrix::quantized;
#[cfg(target_arch = "x86_64")]
use super::tile::{time_tasks, Family, Weights};
use crate::isa::{Cpu, Isa};
use candle_core::quantized::k_quants::{
    BlockQ2K, BlockQ3K, BlockQ4K, BlockQ4_0, BlockQ5K, BlockQ5_0, BlockQ6K, BlockQ8_0, GgmlType,
};
use rand::{Rng, SeedableRng};
use serde::Serialize;
use std::time::Instant;

/// Columns of the timed rows (the model's hidden size) and rows per sweep: 64 Q6_K rows are
/// 210 KiB, inside L2.
const COLS: usize = 4096;
const ROWS: usize = 64;
/// Tokens of the timed tiles (a prompt of the model card's size).
const TILE_TOKENS: usize = 128;

/// One kernel's time.
#[derive(Debug, Clone, Serialize)]
pub struct KernelTiming {
    /// The weight type's name ("q2_k", …, "q8_0": `kernels::our_types`).
    pub weights: &'static str,
    /// The instruction set it was built for ("avx512", "avx512-novnni", "avx2", "generic", …).
    pub kernels: String,
    /// "rows" (the one-token row kernel as prompts' leftovers and non-arranged decode use it),
    /// "arranged" (decode's kernel on activations arranged once per product) or "tiles" (the
    /// prompt tiles against 128 tokens, rows unpacked per task as a prompt does).
    pub path: &'static str,
    /// Best of the passes; for tiles per block and token.
    pub ns_per_block: f64,
}

/// Times every kernel `passes` times, `sweeps` sweeps over the rows each (tiles: a hundredth
/// of that, at least one: each sweep is 128 tokens), and keeps the best.
pub fn kernel_timings(passes: usize, sweeps: usize) -> Vec<KernelTiming> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let mut values =
        |n: usize| -> Vec<f32> { (0..n).map(|_| rng.random_range(-1.0..1.0)).collect() };
    let weights = values(ROWS * COLS);
    let acts = values(COLS);
    #[cfg_attr(not(target_arch = "x86_64"), allow(unused_variables))]
    let prompt = values(TILE_TOKENS * COLS);
    let mut out = Vec::new();
    macro_rules! time_all {
        ($(($d:ident, $t:ty, $k:ident, $name:literal)),*) => {{
            $(let $k: Vec<$t> = quantize_weights(&weights);)*
            for cpu in Cpu::all() {
                let mut timer = Timer {
                    cpu,
                    acts: &acts,
                    passes,
                    sweeps,
                    out: &mut out,
                };
                $(timer.time($name, kernels::$k(cpu), &$k);)*
                #[cfg(target_arch = "x86_64")]
                if let Some(family) = Family::of(cpu) {
                    let label = timer.label();
                    let tile_sweeps = (sweeps / 100).max(1);
                    $(out.push(KernelTiming {
                        weights: $name,
                        kernels: label.clone(),
                        path: "tiles",
                        ns_per_block: time_tasks(
                            family,
                            Weights::$d(&$k),
                            ROWS,
                            COLS,
                            &prompt,
                            passes,
                            tile_sweeps,
                        ),
                    });)*
                }
            }
        }};
    }
    kernels::our_types!(time_all);
    out
}

/// The weights as a file stores them (candle's reference quantization).
fn quantize_weights<T: GgmlType>(xs: &[f32]) -> Vec<T> {
    let mut blocks = vec![T::zeros(); xs.len() / T::BLCK_SIZE];
    T::from_float(xs, &mut blocks);
    blocks
}

/// Times one CPU's kernels into `out`.
struct Timer<'a> {
    cpu: Cpu,
    acts: &'a [f32],
    passes: usize,
    sweeps: usize,
    out: &'a mut Vec<KernelTiming>,
}

impl Timer<'_> {
    /// The kernel set's name: the instruction set, "-novnni" for AVX-512 without VNNI.
    fn label(&self) -> String {
        if self.cpu.isa == Isa::Avx512 && !self.cpu.vnni {
            format!("{}-novnni", self.cpu.isa.as_str())
        } else {
            self.cpu.isa.as_str().to_string()
        }
    }

    fn time<T: GgmlType>(&mut self, weights: &'static str, kernels: RowKernels<T>, xs: &[T]) {
        // The activations as decode quantizes them for these kernels.
        let y = quantized::<T>(self.cpu.isa, self.acts, COLS);
        let per_row = COLS / T::BLCK_SIZE;
        let blocks = (self.sweeps * ROWS * per_row) as f64;
        let (passes, sweeps) = (self.passes, self.sweeps);
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
        let label = self.label();
        self.out.push(KernelTiming {
            weights,
            kernels: label.clone(),
            path: "rows",
            ns_per_block: best(&|row| (kernels.one)(COLS, row, &y)),
        });
        if let Some(arranged) = &kernels.arranged {
            let a = (arranged.arrange)(&y);
            self.out.push(KernelTiming {
                weights,
                kernels: label,
                path: "arranged",
                ns_per_block: best(&|row| (arranged.dot)(COLS, row, &a)),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every kernel set of this CPU is timed once per weight type (and its arranged decode
    /// path where it has one, and its tiles where it tiles), each a finite positive time.
    #[test]
    fn times_every_kernel_of_this_cpu() {
        let timings = kernel_timings(1, 1);
        let cpus = Cpu::all().len();
        #[cfg(target_arch = "x86_64")]
        let tiling = Cpu::all()
            .into_iter()
            .filter_map(super::super::tile::Family::of)
            .count();
        #[cfg(not(target_arch = "x86_64"))]
        let tiling = 0;
        macro_rules! names {
            ($(($d:ident, $t:ty, $k:ident, $name:literal)),*) => {
                [$($name),*]
            };
        }
        for weights in kernels::our_types!(names) {
            for (path, want) in [("rows", cpus), ("tiles", tiling)] {
                let n = timings
                    .iter()
                    .filter(|t| t.weights == weights && t.path == path)
                    .count();
                assert_eq!(n, want, "{weights} {path}: {timings:?}");
            }
        }
        for t in &timings {
            assert!(t.ns_per_block.is_finite() && t.ns_per_block > 0.0, "{t:?}");
        }
    }
}
