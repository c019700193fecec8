//! A weight matrix that stays in the memory-mapped GGUF file, multiplied with the row kernels
//! `kernels.rs` picks for the CPU (ours for Q2_K–Q6_K, Q4_0, Q5_0 and Q8_0 on AVX-512 and
//! AVX2, candle's `GgmlType::vec_dot` otherwise) or, for prompts, the tiles (`tile/`).
//!
//! Why not candle's `QMatMul`: on load it copies every tensor out of the file, and on first
//! use its x86 path builds a repacked copy besides; a Q4_K_M 7B peaked at 16.9 GiB for a
//! 4.07 GiB file. Reading the blocks in place keeps the weights at the file's size, shared
//! with the page cache, and makes loading a memory map instead of a copy.

use super::acts_quant::quantize_for;
use super::decode_acts::Arrangement;
use super::kernels::{self, RowKernels};
#[cfg(target_arch = "x86_64")]
use super::tile;
use crate::isa::{Cpu, Isa};
use candle_core::quantized::k_quants::{
    BlockQ2K, BlockQ3K, BlockQ4K, BlockQ4_0, BlockQ4_1, BlockQ5K, BlockQ5_0, BlockQ5_1, BlockQ6K,
    BlockQ8_0, GgmlType,
};
use candle_core::quantized::GgmlDType;
use half::{bf16, f16};
use memmap2::Mmap;
use rayon::prelude::*;
use std::sync::Arc;

/// Rows handed to one task: small enough to balance 2–64 threads, large enough that task
/// overhead stays far below the dot products (a Q4_K row of 4,096 is 2.3 KB)...
const ROWS_PER_TASK: usize = 16;
/// ...and at least this many weights per task, so that small models (the test fixtures: rows
/// of 64) do not drown in task overhead: their 32,000-row output head made 2,000 tasks.
const MIN_WEIGHTS_PER_TASK: usize = 1 << 16;
/// Tokens whose quantized activations are reused against one weight row while it is in L1.
const TOKENS_PER_TILE: usize = 32;

/// A `rows × cols` row-major matrix of GGUF blocks inside a shared memory map.
pub(crate) struct QMatrix {
    map: Arc<Mmap>,
    offset: usize,
    pub rows: usize,
    pub cols: usize,
    pub dtype: GgmlDType,
}

/// Why a tensor cannot be used in place.
#[derive(Debug)]
pub(crate) struct MatrixError(pub String);

impl QMatrix {
    /// Views `rows × cols` elements of `dtype` at byte `offset` of `map`.
    pub fn new(
        map: Arc<Mmap>,
        offset: usize,
        rows: usize,
        cols: usize,
        dtype: GgmlDType,
    ) -> Result<Self, MatrixError> {
        if !supported(dtype) {
            return Err(MatrixError(format!(
                "tensor type {dtype:?} is not supported"
            )));
        }
        if rows == 0 || cols == 0 {
            return Err(MatrixError(format!(
                "a {rows}×{cols} matrix has no elements"
            )));
        }
        let multiple = crate::gguf_header::runner_row_multiple(dtype);
        if !cols.is_multiple_of(multiple) {
            return Err(MatrixError(format!(
                "row length {cols} is not a multiple of {multiple}, as {dtype:?} rows must be"
            )));
        }
        // Checked: a size that wraps would pass the bounds check below and slice past the map.
        let bytes = byte_len(rows, cols, dtype).ok_or_else(|| {
            MatrixError(format!(
                "a {rows}×{cols} {dtype:?} matrix has no addressable size"
            ))
        })?;
        if offset.checked_add(bytes).is_none_or(|end| end > map.len()) {
            return Err(MatrixError(format!(
                "tensor data [{offset}, {offset}+{bytes}) lies beyond the file's {} bytes",
                map.len()
            )));
        }
        // Every block type is made of u8/f16/f32 fields; GGUF aligns tensor data to 32 bytes.
        let ptr = map.as_ptr() as usize + offset;
        if !ptr.is_multiple_of(4) {
            return Err(MatrixError(format!(
                "tensor data at byte {offset} is not aligned to 4 bytes"
            )));
        }
        Ok(Self {
            map,
            offset,
            rows,
            cols,
            dtype,
        })
    }

    /// The blocks as `T`.
    ///
    /// # Safety-relevant invariant
    /// `T::DTYPE == self.dtype`, checked by the callers' dispatch in [`Self::matmul`].
    pub(super) fn blocks<T: GgmlType>(&self) -> &[T] {
        assert_eq!(T::DTYPE, self.dtype);
        let count = self.rows * self.cols / T::BLCK_SIZE;
        // SAFETY: `new` checked bounds and alignment; the block types are plain old data
        // (integers and halves) valid for any bit pattern; the map is read-only and outlives
        // the returned slice through `&self`.
        unsafe { std::slice::from_raw_parts(self.map.as_ptr().add(self.offset) as *const T, count) }
    }

    /// Where the matrix's bytes lie in the file.
    pub fn byte_range(&self) -> std::ops::Range<usize> {
        let len = byte_len(self.rows, self.cols, self.dtype).expect("checked in `new`");
        self.offset..self.offset + len
    }

    /// The matrix's bytes in the file.
    pub fn bytes(&self) -> &[u8] {
        &self.map[self.byte_range()]
    }

    /// Copies row `row` into `out` as f32 (the token embedding lookup).
    pub fn dequantize_row(&self, row: usize, out: &mut [f32]) {
        debug_assert_eq!(out.len(), self.cols);
        macro_rules! go {
            ($t:ty) => {{
                let per_row = self.cols / <$t>::BLCK_SIZE;
                let blocks = self.blocks::<$t>();
                <$t>::to_float(&blocks[row * per_row..(row + 1) * per_row], out)
            }};
        }
        dispatch!(self.dtype, go)
    }

    /// `out[t][r] = Σ_c self[r][c] · xs[t][c]` for `m = xs.len() / cols` tokens with `cpu`'s
    /// kernels: the activations are quantized once to the kernel's partner type, then rows are
    /// split across rayon's threads.
    pub fn matmul(&self, cpu: Cpu, xs: &[f32], out: &mut [f32]) {
        macro_rules! go {
            ($t:ty, $kernels:expr) => {
                matmul_typed::<$t>(
                    self.blocks::<$t>(),
                    self.rows,
                    self.cols,
                    xs,
                    out,
                    $kernels,
                    cpu.isa,
                )
            };
            ($t:ty) => {
                go!($t, RowKernels::candle())
            };
        }
        // Our types: a prompt through the tiles (x86 code: AVX2, AVX-VNNI, AVX-512 VNNI),
        // else the row kernels; the rest through candle's.
        macro_rules! ours {
            ($(($d:ident, $t:ty, $k:ident, $name:literal)),*) => {{
                #[cfg(target_arch = "x86_64")]
                if let Some(family) =
                    tile::Family::of(cpu).filter(|_| xs.len() / self.cols >= super::PROMPT_TILE_TOKENS)
                {
                    match self.dtype {
                        $(GgmlDType::$d => {
                            let weights = tile::Weights::$d(self.blocks());
                            return tile::matmul(family, weights, self.rows, self.cols, xs, out);
                        })*
                        _ => {}
                    }
                }
                match self.dtype {
                    $(GgmlDType::$d => go!($t, kernels::$k(cpu)),)*
                    _ => dispatch!(self.dtype, go),
                }
            }};
        }
        kernels::our_types!(ours)
    }
}

macro_rules! dispatch {
    ($dtype:expr, $go:ident) => {
        match $dtype {
            GgmlDType::F32 => $go!(f32),
            GgmlDType::F16 => $go!(f16),
            GgmlDType::BF16 => $go!(bf16),
            GgmlDType::Q4_0 => $go!(BlockQ4_0),
            GgmlDType::Q4_1 => $go!(BlockQ4_1),
            GgmlDType::Q5_0 => $go!(BlockQ5_0),
            GgmlDType::Q5_1 => $go!(BlockQ5_1),
            GgmlDType::Q8_0 => $go!(BlockQ8_0),
            GgmlDType::Q2K => $go!(BlockQ2K),
            GgmlDType::Q3K => $go!(BlockQ3K),
            GgmlDType::Q4K => $go!(BlockQ4K),
            GgmlDType::Q5K => $go!(BlockQ5K),
            GgmlDType::Q6K => $go!(BlockQ6K),
            GgmlDType::Q8_1 | GgmlDType::Q8K => unreachable!("rejected in QMatrix::new"),
        }
    };
}
use dispatch;

/// Bytes of a `rows × cols` matrix of `dtype`, `None` where that does not fit a `usize`
/// (`cols` a whole number of blocks).
fn byte_len(rows: usize, cols: usize, dtype: GgmlDType) -> Option<usize> {
    rows.checked_mul(cols / dtype.block_size())?
        .checked_mul(dtype.type_size())
}

fn supported(dtype: GgmlDType) -> bool {
    !matches!(dtype, GgmlDType::Q8_1 | GgmlDType::Q8K)
}

/// Rows ahead whose weights are prefetched before a row is multiplied, for candle's kernels
/// (ours prefetch for themselves): one-thread Q8_0 decode with candle's kernel went from 0.61
/// to 0.86 tokens/s.
const PREFETCH_ROWS: usize = 1;

/// Asks the CPU to start loading `data` into cache.
#[inline]
fn prefetch_bytes<T>(data: &[T]) {
    #[cfg(not(target_arch = "x86_64"))]
    let _ = data;
    #[cfg(target_arch = "x86_64")]
    {
        let p = data.as_ptr() as *const i8;
        let len = std::mem::size_of_val(data);
        let mut off = 0;
        while off < len {
            // SAFETY: prefetch is a hint; the address is inside `data`.
            unsafe {
                std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.add(off))
            };
            off += 64;
        }
    }
}

/// A pointer that rayon tasks may share because each writes disjoint elements.
#[derive(Clone, Copy)]
pub(super) struct SharedOut(pub *mut f32);
// SAFETY: tasks write disjoint indices (distinct rows of the output) and the owner waits for
// all of them before reading.
unsafe impl Send for SharedOut {}
unsafe impl Sync for SharedOut {}

fn matmul_typed<T: GgmlType>(
    w: &[T],
    rows: usize,
    cols: usize,
    xs: &[f32],
    out: &mut [f32],
    kernels: RowKernels<T>,
    isa: Isa,
) {
    let m = xs.len() / cols;
    assert_eq!(xs.len(), m * cols, "activations are not whole rows");
    assert_eq!(out.len(), m * rows, "output has the wrong size");
    let q = quantized::<T>(isa, xs, cols);
    let arranged = arranged(&kernels, &q, cols);
    let acts = Activations {
        quantized: &q,
        arranged: arranged.as_ref(),
    };
    let dst = SharedOut(out.as_mut_ptr());
    let per_task = rows_per_task(cols);
    let tasks = rows.div_ceil(per_task);
    (0..tasks).into_par_iter().for_each(move |task| {
        let r0 = task * per_task;
        // SAFETY: tasks cover disjoint rows; `out` holds `m × rows` (asserted above).
        unsafe {
            multiply_rows(
                w,
                rows,
                cols,
                acts,
                &kernels,
                r0..(r0 + per_task).min(rows),
                dst,
            )
        };
    });
}

/// The activations (`m` rows of `cols`) quantized to `T`'s partner type, a row per thread
/// when there are several.
pub(super) fn quantized<T: GgmlType>(isa: Isa, xs: &[f32], cols: usize) -> Vec<T::VecDotType> {
    let x_per_row = cols / T::VecDotType::BLCK_SIZE;
    let m = xs.len() / cols;
    let mut q = vec![T::VecDotType::zeros(); m * x_per_row];
    if m > 1 {
        q.par_chunks_mut(x_per_row)
            .zip(xs.par_chunks(cols))
            .for_each(|(q, x)| quantize_for(isa, x, q));
    } else {
        quantize_for(isa, xs, &mut q);
    }
    q
}

/// One token's activations `q` (rows of `cols`) rearranged for `kernels`' decode kernel,
/// where it has one that reads them so.
pub(super) fn arranged<'a, T: GgmlType>(
    kernels: &RowKernels<T>,
    q: &'a [T::VecDotType],
    cols: usize,
) -> Option<Arrangement<'a>> {
    let one_token = q.len() == cols / T::VecDotType::BLCK_SIZE;
    let arranged = kernels.arranged.as_ref().filter(|_| one_token)?;
    Some((arranged.arrange)(q))
}

/// Rows handed to one task for rows of `cols` values.
pub(super) fn rows_per_task(cols: usize) -> usize {
    ROWS_PER_TASK.max(MIN_WEIGHTS_PER_TASK / cols.max(1))
}

/// The activations of a product as the row kernels read them.
pub(super) struct Activations<'a, T: GgmlType> {
    /// `m` rows quantized to `T`'s partner type (`quantized`).
    pub quantized: &'a [T::VecDotType],
    /// The one row rearranged (`arranged`), where the kernels read it so.
    pub arranged: Option<&'a Arrangement<'a>>,
}

impl<T: GgmlType> Clone for Activations<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T: GgmlType> Copy for Activations<'_, T> {}

/// `out[t][r] = Σ_c w[r][c] · q[t][c]` for the rows `rs` of a `rows × cols` matrix and every
/// token `t` of the activations.
///
/// # Safety
/// `dst` points to `m × rows` floats (`m` the tokens of `acts`) that no other thread writes
/// at rows `rs`.
pub(super) unsafe fn multiply_rows<T: GgmlType>(
    w: &[T],
    rows: usize,
    cols: usize,
    acts: Activations<T>,
    kernels: &RowKernels<T>,
    rs: std::ops::Range<usize>,
    dst: SharedOut,
) {
    let q = acts.quantized;
    if let (Some(acts), Some(arranged)) = (acts.arranged, &kernels.arranged) {
        for r in rs {
            let w_per_row = cols / T::BLCK_SIZE;
            let v = (arranged.dot)(cols, &w[r * w_per_row..(r + 1) * w_per_row], acts);
            // SAFETY: row r of the one token is written by this task alone and in bounds
            // (the contract).
            unsafe { *dst.0.add(r) = v };
        }
        return;
    }
    let (dot, dot4, prefetches) = (kernels.one, kernels.four, kernels.prefetches);
    let w_per_row = cols / T::BLCK_SIZE;
    let x_per_row = cols / T::VecDotType::BLCK_SIZE;
    let m = q.len() / x_per_row;
    for t0 in (0..m).step_by(TOKENS_PER_TILE) {
        let t1 = (t0 + TOKENS_PER_TILE).min(m);
        for r in rs.clone() {
            let wr = &w[r * w_per_row..(r + 1) * w_per_row];
            let ahead = r + PREFETCH_ROWS;
            if !prefetches && t0 == 0 && ahead < rows {
                prefetch_bytes(&w[ahead * w_per_row..(ahead + 1) * w_per_row]);
            }
            let act = |t: usize| &q[t * x_per_row..(t + 1) * x_per_row];
            let mut t = t0;
            if let Some(dot4) = dot4 {
                while t + 4 <= t1 {
                    let v = dot4(cols, wr, [act(t), act(t + 1), act(t + 2), act(t + 3)]);
                    for (i, v) in v.into_iter().enumerate() {
                        // SAFETY: as below.
                        unsafe { *dst.0.add((t + i) * rows + r) = v };
                    }
                    t += 4;
                }
            }
            for t in t..t1 {
                let v = dot(cols, wr, act(t));
                // SAFETY: (t, r) is written by this task alone and in bounds (the contract).
                unsafe { *dst.0.add(t * rows + r) = v };
            }
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use candle_core::quantized::k_quants::BlockQ8K;
    use std::io::Write;

    /// A deterministic pseudo-random matrix in [-1, 1).
    pub(in super::super) fn values(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (0..n)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    /// Writes `rows × cols` weights quantized as `T` to a file (after a 32-byte pad, like
    /// GGUF's aligned data section) and maps it.
    pub(in super::super) fn mapped<T: GgmlType>(w: &[f32], rows: usize, cols: usize) -> QMatrix {
        let mut blocks = vec![T::zeros(); rows * cols / T::BLCK_SIZE];
        T::from_float(w, &mut blocks);
        // SAFETY: block types are plain old data.
        let bytes = unsafe {
            std::slice::from_raw_parts(
                blocks.as_ptr() as *const u8,
                std::mem::size_of_val(blocks.as_slice()),
            )
        };
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&[0u8; 32]).unwrap();
        file.write_all(bytes).unwrap();
        // SAFETY: a private temporary file.
        let map = Arc::new(unsafe { Mmap::map(&file) }.unwrap());
        QMatrix::new(map, 32, rows, cols, T::DTYPE).unwrap()
    }

    /// The straightforward reference: dequantize the weights, quantize-dequantize the
    /// activations the same way the kernel sees them, and sum in f64.
    fn reference<T: GgmlType>(mat: &QMatrix, xs: &[f32]) -> Vec<f32> {
        let (rows, cols) = (mat.rows, mat.cols);
        let m = xs.len() / cols;
        let mut w = vec![0f32; rows * cols];
        T::to_float(mat.blocks::<T>(), &mut w);
        let mut out = vec![0f32; m * rows];
        for t in 0..m {
            let mut q = vec![T::VecDotType::zeros(); cols / T::VecDotType::BLCK_SIZE];
            T::VecDotType::from_float(&xs[t * cols..(t + 1) * cols], &mut q);
            let mut x = vec![0f32; cols];
            T::VecDotType::to_float(&q, &mut x);
            for r in 0..rows {
                let s: f64 = (0..cols)
                    .map(|c| w[r * cols + c] as f64 * x[c] as f64)
                    .sum();
                out[t * rows + r] = s as f32;
            }
        }
        out
    }

    fn check<T: GgmlType>(rows: usize, cols: usize, m: usize) {
        let mat = mapped::<T>(&values(rows * cols, 1), rows, cols);
        let xs = values(m * cols, 2);
        let want = reference::<T>(&mat, &xs);
        let scale = want.iter().fold(0f32, |a, v| a.max(v.abs()));
        for cpu in Cpu::all() {
            let mut out = vec![f32::NAN; m * rows];
            mat.matmul(cpu, &xs, &mut out);
            for (i, (g, w)) in out.iter().zip(&want).enumerate() {
                assert!(
                    (g - w).abs() <= 1e-4 * scale.max(1.0),
                    "{:?} {rows}x{cols} m={m} {cpu:?}: element {i}: kernel {g} vs reference {w}",
                    T::DTYPE
                );
            }
        }
    }

    #[test]
    fn every_weight_type_matches_the_dequantized_reference() {
        // Rows not a multiple of the task size, tokens not a multiple of the tile.
        for m in [1, 3, 37] {
            check::<BlockQ4K>(35, 512, m);
            check::<BlockQ6K>(35, 512, m);
            check::<BlockQ8_0>(35, 512, m);
            check::<BlockQ5K>(19, 256, m);
            check::<BlockQ4_0>(19, 256, m);
            check::<BlockQ5_0>(19, 256, m);
            check::<BlockQ3K>(19, 512, m);
            check::<BlockQ2K>(19, 512, m);
            check::<f32>(19, 64, m);
            check::<f16>(19, 64, m);
        }
    }

    #[test]
    fn a_row_dequantizes_like_the_whole_tensor() {
        let (rows, cols) = (5, 512);
        let mat = mapped::<BlockQ4K>(&values(rows * cols, 3), rows, cols);
        let mut all = vec![0f32; rows * cols];
        BlockQ4K::to_float(mat.blocks::<BlockQ4K>(), &mut all);
        let mut row = vec![0f32; cols];
        mat.dequantize_row(3, &mut row);
        assert_eq!(row, all[3 * cols..4 * cols]);
    }

    #[test]
    fn rejects_out_of_bounds_and_unsupported_tensors() {
        let mat = mapped::<BlockQ8_0>(&values(64, 4), 2, 32);
        let map = mat.map.clone();
        let err = QMatrix::new(map.clone(), 32, 3, 32, GgmlDType::Q8_0)
            .err()
            .unwrap();
        assert!(err.0.contains("beyond"), "{}", err.0);
        let err = QMatrix::new(map.clone(), 32, 1, 30, GgmlDType::Q8_0)
            .err()
            .unwrap();
        assert!(err.0.contains("multiple"), "{}", err.0);
        // Sizes that wrap (2^59 rows of 32 f32 = 2^66 bytes) or are empty.
        let err = QMatrix::new(map.clone(), 32, 1 << 59, 32, GgmlDType::F32)
            .err()
            .unwrap();
        assert!(err.0.contains("no addressable size"), "{}", err.0);
        for (rows, cols) in [(0, 32), (1, 0)] {
            assert!(QMatrix::new(map.clone(), 32, rows, cols, GgmlDType::Q8_0).is_err());
        }
        assert!(QMatrix::new(map, 0, 1, 256, BlockQ8K::DTYPE).is_err());
    }
}
