#!/usr/bin/env bash
# Builds the CUDA variant of the `jslm` CLI on any Linux machine, GPU or not: the CUDA toolkit
# comes from PyPI (scripts/lib/cuda-toolkit.sh), the kernels are compiled for the compute
# capabilities in CUDA_COMPUTE_CAP (default 90: H100/H200; 89 for RTX 40xx, 86 for RTX 30xx).
#
# Output: target/cuda/release/jslm-cuda (stripped), the file the CPU `jslm` starts when it finds
# an NVIDIA GPU, a driver for CUDA 13 and the libraries this build needs (installed beside
# `jslm`; crates/jslm-hardware/src/gpu_variant.rs), and jslm-cuda.xz, the same compressed for
# carrying to a GPU machine (scripts/gpu-check.sh takes either).
#
#   bash scripts/build-cuda.sh            # build
#   bash scripts/build-cuda.sh --test     # build, then run the CLI's tests against this build
#   bash scripts/build-cuda.sh --engine-tests   # build, and the engine's unit tests with CUDA as
#                                         # jslm-engine-tests(.xz), for gpu-check's ENGINE_TESTS
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/setup.sh
source scripts/lib/cuda-toolkit.sh

ensure_rust
ensure_apt_packages build-essential pkg-config python3 python3-venv libssl-dev
cargo fetch --locked >/dev/null
ensure_cuda_toolkit

export CUDA_COMPUTE_CAP="${CUDA_COMPUTE_CAP:-90}"
# A target dir of its own: the CPU build's artifacts stay valid, and both can be cached apart.
TARGET_DIR="${JSLM_CUDA_TARGET_DIR:-$PWD/target/cuda}"

step "cargo build --release -p jslm-cli --features cuda (compute capability $CUDA_COMPUTE_CAP)"
start=$(date +%s)
cargo build --release --locked -p jslm-cli --features cuda --target-dir "$TARGET_DIR"
echo "built in $(( $(date +%s) - start )) s"
cp "$TARGET_DIR/release/jslm" "$TARGET_DIR/release/jslm-cuda"
strip "$TARGET_DIR/release/jslm-cuda"
xz -T0 -6 -f -k "$TARGET_DIR/release/jslm-cuda"
ls -la "$TARGET_DIR/release/jslm-cuda" "$TARGET_DIR/release/jslm-cuda.xz"
echo "needs: $(readelf -d "$TARGET_DIR/release/jslm-cuda" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p' | tr '\n' ' ')"

if [ "${1:-}" = "--test" ]; then
  step "the CLI's tests against the CUDA build, on a machine without a GPU"
  # The toolkit's libraries satisfy the loader and the stub libcuda.so.1 answers every call
  # with CUDA_ERROR_STUB_LIBRARY, like a driver package without a GPU: the build must start,
  # report the failed device, and run everything on the CPU plan (generate against the tiny
  # references, download from the test hub, serve, doctor).
  mkdir -p "$CUDA_ROOT_DIR/stub-driver"
  ln -sf ../lib64/libcuda.so "$CUDA_ROOT_DIR/stub-driver/libcuda.so.1"
  LD_LIBRARY_PATH="$CUDA_ROOT_DIR/lib64:$CUDA_ROOT_DIR/stub-driver${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
    cargo test --release --locked -p jslm-cli --features cuda --target-dir "$TARGET_DIR"
fi
if [ "${1:-}" = "--engine-tests" ]; then
  step "the engine's unit tests with CUDA (for scripts/gpu-check.sh's ENGINE_TESTS)"
  tests="$(cargo test --release --locked -p jslm-engine --features cuda --lib --no-run \
    --target-dir "$TARGET_DIR" --message-format json 2>/dev/null \
    | python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "jslm_engine":
        print(m["executable"])' | tail -1)"
  [ -n "$tests" ] || { echo "the engine's test binary was not built" >&2; exit 1; }
  cp "$tests" "$TARGET_DIR/release/jslm-engine-tests"
  strip "$TARGET_DIR/release/jslm-engine-tests"
  xz -T0 -6 -f -k "$TARGET_DIR/release/jslm-engine-tests"
  ls -la "$TARGET_DIR/release/jslm-engine-tests" "$TARGET_DIR/release/jslm-engine-tests.xz"
fi
