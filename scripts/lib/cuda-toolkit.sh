# The CUDA toolkit from PyPI, laid out as a CUDA_HOME that candle's and cudarc's build scripts
# understand, so a `cuda` build compiles on a machine without a GPU or a system CUDA install.
# Sourced by scripts/build-cuda.sh (after scripts/lib/setup.sh).
#
# Why CUDA 13: NVIDIA's `nvidia-cuda-nvcc-cu12` wheels carry only ptxas; the nvcc driver itself
# is on PyPI from CUDA 13.0 (`nvidia-cuda-nvcc`). 13.0 is the oldest 13.x, so the build asks the
# least of the user's driver (CUDA 13 needs an R580 or newer driver; `jslm doctor` says so).
#
# What PyPI lacks is the driver's `libcuda.so` (it comes with the GPU driver, never with the
# toolkit): the linker gets a stub with the same soname (libcuda.so.1) that exports the driver
# API's names, like the toolkit's own lib64/stubs/libcuda.so; the real one is loaded at run time.

CUDA_TOOLKIT_VERSION="${JSLM_CUDA_TOOLKIT_VERSION:-13.0.2}"
CUDA_MAJOR="${CUDA_TOOLKIT_VERSION%%.*}"
CUDA_VENV="${JSLM_CUDA_VENV:-$PWD/target/cuda-venv}"
CUDA_ROOT_DIR="${JSLM_CUDA_ROOT:-$PWD/target/cuda-root}"

ensure_cuda_toolkit() {
  local site nvidia
  if [ ! -x "$CUDA_VENV/bin/python" ]; then
    step "creating the CUDA toolkit venv $CUDA_VENV"
    make_venv "$CUDA_VENV"
  fi
  # sed reads all of pip's output (grep -q would stop early: SIGPIPE, a failed pipeline under
  # pipefail, and a reinstall every time). `pip show` exits 1 while the package is missing, which
  # under `set -e -o pipefail` would end the script on a fresh machine: `|| true`.
  local installed
  installed="$("$CUDA_VENV/bin/pip" show cuda-toolkit 2>/dev/null | sed -n 's/^Version: //p' || true)"
  if [ "$installed" != "$CUDA_TOOLKIT_VERSION" ]; then
    step "pip install cuda-toolkit $CUDA_TOOLKIT_VERSION (nvcc, cudart, cuBLAS, cuRAND, NVRTC, CCCL)"
    # crt and nvvm are nvcc's own parts: pinned to its minor version (the meta-package leaves
    # them open, and a newer nvvm than nvcc fails at the first kernel).
    local minor="${CUDA_TOOLKIT_VERSION%.*}"
    # --no-cache-dir: the wheels are ~1.5 GB, and a second copy in pip's cache only fills the disk.
    "$CUDA_VENV/bin/pip" install -q --no-cache-dir "cuda-toolkit[nvcc,cudart,cublas,curand,nvrtc,cccl]==$CUDA_TOOLKIT_VERSION" \
      "nvidia-cuda-crt==$minor.*" "nvidia-nvvm==$minor.*"
  fi
  site="$("$CUDA_VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  nvidia="$site/nvidia/cu$CUDA_MAJOR"
  [ -x "$nvidia/bin/nvcc" ] || { echo "nvcc not found under $nvidia/bin" >&2; return 1; }

  step "laying out $CUDA_ROOT_DIR as CUDA_HOME"
  rm -rf "$CUDA_ROOT_DIR"
  mkdir -p "$CUDA_ROOT_DIR/lib64"
  ln -s "$nvidia/bin" "$CUDA_ROOT_DIR/bin"
  ln -s "$nvidia/include" "$CUDA_ROOT_DIR/include"
  ln -s "$nvidia/nvvm" "$CUDA_ROOT_DIR/nvvm"
  # The wheels ship only versioned names (libcublas.so.13); `-lcublas` needs libcublas.so.
  local lib base
  for lib in "$nvidia"/lib/lib*.so.*; do
    base="$(basename "$lib")"
    ln -sf "$lib" "$CUDA_ROOT_DIR/lib64/$base"
    ln -sf "$lib" "$CUDA_ROOT_DIR/lib64/${base%%.so.*}.so"
  done
  build_libcuda_stub "$CUDA_ROOT_DIR/lib64"

  export CUDA_HOME="$CUDA_ROOT_DIR" CUDA_PATH="$CUDA_ROOT_DIR" CUDA_ROOT="$CUDA_ROOT_DIR"
  export PATH="$CUDA_ROOT_DIR/bin:$PATH"
  export LIBRARY_PATH="$CUDA_ROOT_DIR/lib64${LIBRARY_PATH:+:$LIBRARY_PATH}"
  nvcc --version | tail -2
}

# libcuda.so for the linker only: every driver API name cudarc declares, as a function that
# returns CUDA_ERROR_STUB_LIBRARY (34), under the real library's soname.
build_libcuda_stub() {
  local dir="$1" bindings names
  bindings="$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/cudarc-*/src/driver/sys/mod.rs 2>/dev/null | sort | tail -1 || true)"
  [ -f "$bindings" ] || { echo "cudarc's sources are missing: run cargo fetch first" >&2; return 1; }
  names="$(grep -o 'pub unsafe fn cu[A-Za-z0-9_]*\|pub fn cu[A-Za-z0-9_]*' "$bindings" | sed 's/.*fn //' | sort -u)"
  printf 'int %s(void) { return 34; }\n' $names > "$dir/libcuda-stub.c"
  gcc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$dir/libcuda.so" "$dir/libcuda-stub.c"
}
