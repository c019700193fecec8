//! With the `cuda` feature: compiles `src/cuda/*.cu` to PTX with nvcc (the same nvcc candle's
//! kernels are built with: `scripts/build-cuda.sh` puts PyPI's CUDA toolkit on PATH), for
//! `include_str!` in `src/cuda_matvec.rs`. Without it: nothing.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=src/cuda/matvec.cu");
    println!("cargo:rerun-if-env-changed=NVCC");
    if std::env::var_os("CARGO_FEATURE_CUDA").is_none() {
        return;
    }
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let nvcc = std::env::var("NVCC").unwrap_or_else(|_| "nvcc".into());
    // compute_75: PTX for a virtual architecture that every GPU CUDA 13 supports JIT-compiles;
    // the kernel uses nothing newer.
    let status = Command::new(&nvcc)
        .args(["--ptx", "-O3", "-arch=compute_75", "-o"])
        .arg(out.join("matvec.ptx"))
        .arg("src/cuda/matvec.cu")
        .status()
        .unwrap_or_else(|e| {
            panic!("running {nvcc} (the CUDA compiler; put it on PATH or set NVCC): {e}")
        });
    assert!(status.success(), "{nvcc} failed on src/cuda/matvec.cu");
}
