//! One token's matrix-vector products on CUDA with our own kernel (`src/cuda/matvec.cu`):
//! bf16 and f16 weights, one row of activations. Everything else — prompts, f32, other devices,
//! odd shapes — stays with candle's matmul ([`matvec`] returns `None`).
//!
//! `JSLM_CUDA_MATVEC=0` turns the kernel off (candle's cuBLAS path for every product), for A/B
//! runs of `jslm bench` like `JSLM_NO_AVX512` on the CPU.

use candle_core::backend::BackendStorage;
use candle_core::cuda_backend::cudarc::driver::{LaunchConfig, PushKernelArg};
use candle_core::cuda_backend::{CudaDType, CudaDevice, WrapErr};
use candle_core::{CpuStorage, CudaStorage, CustomOp2, DType, Layout, Result, Shape, Tensor};
use half::{bf16, f16};
use std::sync::OnceLock;

const PTX: &str = include_str!(concat!(env!("OUT_DIR"), "/matvec.ptx"));
/// Rows (warps) per block of 128 threads: enough blocks for every SM even for a 1,024-row
/// matrix (the K and V projections).
const ROWS_PER_BLOCK: usize = 4;

fn enabled() -> bool {
    static ENABLED: OnceLock<bool> = OnceLock::new();
    *ENABLED.get_or_init(|| std::env::var("JSLM_CUDA_MATVEC").as_deref() != Ok("0"))
}

/// `x · wᵀ` for `x` of one row (`[.., 1, k]`, any leading dims of size 1) and `w` `[n, k]`,
/// on CUDA in bf16 or f16, by our kernel; `None` where it does not apply.
pub fn matvec(x: &Tensor, w: &Tensor) -> Result<Option<Tensor>> {
    let Ok((rows, k)) = w.dims2() else {
        return Ok(None);
    };
    let applies = enabled()
        && x.device().is_cuda()
        && matches!(x.dtype(), DType::BF16 | DType::F16)
        && x.dtype() == w.dtype()
        && x.dims().last() == Some(&k)
        && x.elem_count() == k
        && k % 8 == 0
        && rows > 0
        && i32::try_from(rows).is_ok()
        && i32::try_from(k / 8).is_ok()
        && aligned(x)
        && aligned(w);
    if !applies {
        return Ok(None);
    }
    x.apply_op2_no_bwd(w, &MatVec { rows, k }).map(Some)
}

/// Contiguous from an element that is 16-byte aligned (2-byte values; allocations are 256-byte
/// aligned): what the kernel's vector loads need. Anything else goes to candle's matmul.
fn aligned(t: &Tensor) -> bool {
    t.is_contiguous() && t.layout().start_offset() % 8 == 0
}

struct MatVec {
    rows: usize,
    k: usize,
}

impl MatVec {
    /// The contiguous range of `layout` (checked by [`matvec`] before it dispatches here).
    fn range(layout: &Layout, len: usize) -> Result<std::ops::Range<usize>> {
        match layout.contiguous_offsets() {
            Some((start, end)) if end - start == len && start % 8 == 0 => Ok(start..end),
            _ => candle_core::bail!("jslm-matvec needs contiguous, 16-byte aligned operands"),
        }
    }

    fn launch<T: CudaDType + candle_core::cuda_backend::cudarc::driver::DeviceRepr>(
        &self,
        kernel: &str,
        x: &CudaStorage,
        xl: &Layout,
        w: &CudaStorage,
        wl: &Layout,
    ) -> Result<CudaStorage> {
        let dev: &CudaDevice = x.device();
        let xs = x.as_cuda_slice::<T>()?.slice(Self::range(xl, self.k)?);
        let ws = w
            .as_cuda_slice::<T>()?
            .slice(Self::range(wl, self.rows * self.k)?);
        let func = dev.get_or_load_custom_func(kernel, "jslm_matvec", PTX)?;
        // SAFETY: every element is written by the kernel (one warp per row).
        let y = unsafe { dev.alloc::<T>(self.rows)? };
        // Both fit: `matvec` checked them.
        let (rows, k8) = (self.rows as i32, (self.k / 8) as i32);
        let mut builder = func.builder();
        builder.arg(&ws);
        builder.arg(&xs);
        builder.arg(&y);
        builder.arg(&rows);
        builder.arg(&k8);
        let config = LaunchConfig {
            grid_dim: (self.rows.div_ceil(ROWS_PER_BLOCK) as u32, 1, 1),
            block_dim: (32 * ROWS_PER_BLOCK as u32, 1, 1),
            shared_mem_bytes: 0,
        };
        // SAFETY: the arguments match the kernel's signature; the ranges were checked above.
        unsafe { builder.launch(config) }.w()?;
        Ok(CudaStorage::wrap_cuda_slice(y, dev.clone()))
    }
}

impl CustomOp2 for MatVec {
    fn name(&self) -> &'static str {
        "jslm-matvec"
    }

    fn cpu_fwd(
        &self,
        _: &CpuStorage,
        _: &Layout,
        _: &CpuStorage,
        _: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        candle_core::bail!("jslm-matvec runs on CUDA only")
    }

    fn cuda_fwd(
        &self,
        x: &CudaStorage,
        xl: &Layout,
        w: &CudaStorage,
        wl: &Layout,
    ) -> Result<(CudaStorage, Shape)> {
        let y = match x.dtype() {
            DType::BF16 => self.launch::<bf16>("matvec_bf16", x, xl, w, wl)?,
            DType::F16 => self.launch::<f16>("matvec_f16", x, xl, w, wl)?,
            other => candle_core::bail!("jslm-matvec has no {other:?} kernel"),
        };
        let mut dims = xl.shape().dims().to_vec();
        if let Some(last) = dims.last_mut() {
            *last = self.rows;
        }
        Ok((y, Shape::from(dims)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn max_abs(t: &Tensor) -> Result<f32> {
        t.abs()?.flatten_all()?.max(0)?.to_scalar::<f32>()
    }

    /// Against candle's f32 matmul on the same GPU, where there is one (the GPU check runs this
    /// test binary); without a GPU there is nothing to compare and the test says so.
    #[test]
    fn matches_candle_matmul_on_a_gpu() -> Result<()> {
        let Ok(dev) = Device::new_cuda(0) else {
            eprintln!("no CUDA device: jslm-matvec not compared");
            return Ok(());
        };
        for dtype in [DType::BF16, DType::F16] {
            // Rows not a multiple of 4 (the last block part empty), k with and without the
            // 128-vector main loop, and the 7B shapes.
            let shapes = [
                (1, 8),
                (5, 64),
                (37, 1032),
                (1024, 4096),
                (4099, 14336),
                (32000, 4096),
            ];
            for (rows, k) in shapes {
                let w = Tensor::randn(0f32, 0.02, (rows, k), &dev)?.to_dtype(dtype)?;
                let x = Tensor::randn(0f32, 1.0, (1, 1, k), &dev)?.to_dtype(dtype)?;
                let ours = matvec(&x, &w)?.expect("applies");
                assert_eq!(ours.dims(), &[1, 1, rows]);
                let f32_w = w.to_dtype(DType::F32)?.t()?.unsqueeze(0)?;
                let reference = x.to_dtype(DType::F32)?.matmul(&f32_w)?;
                let diff = max_abs(&(ours.to_dtype(DType::F32)? - &reference)?)?;
                let scale = max_abs(&reference)?;
                // One rounding of the output to 8 (bf16) or 11 (f16) bits, relative to the largest.
                assert!(
                    diff <= scale * 1e-2 + 1e-3,
                    "{dtype:?} {rows}x{k}: max diff {diff} (max |y| {scale})"
                );
            }
        }
        // A row that does not start 16-byte aligned is left to candle.
        let x = Tensor::randn(0f32, 1.0, (1, 1, 72), &dev)?.to_dtype(DType::BF16)?;
        let w = Tensor::randn(0f32, 1.0, (3, 64), &dev)?.to_dtype(DType::BF16)?;
        assert!(matvec(&x.narrow(2, 1, 64)?, &w)?.is_none());
        assert!(matvec(&x.narrow(2, 8, 64)?, &w)?.is_some());
        Ok(())
    }
}
