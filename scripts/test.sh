#!/usr/bin/env bash
# Sets up a fresh Debian/Ubuntu machine and runs every test of the project.
# Used by the README's quick start and by CI (.ci/run). Needs no GPU and no internet beyond the
# package registries (apt, crates.io, PyPI, npm).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/setup.sh

ensure_rust
# The desktop app (src-tauri) is a workspace member: building it needs WebKitGTK and GTK.
ensure_apt_packages build-essential pkg-config python3 python3-venv "${DESKTOP_BUILD_PACKAGES[@]}"
ensure_python_venv

step "cargo test (engine, CLI, hub, hardware, desktop commands)"
# `jslm-desktop/test` adds Tauri's mock runtime for the command tests; the E2E build below
# uses the same features, so Tauri compiles once.
cargo test --workspace --locked --features jslm-desktop/test 2>&1 | tee target/test-rust.log

step "fuzz the model file readers as release builds run them"
# The workspace run above already ran fuzz_files briefly, with overflow checks on (a size that
# wraps is a panic there). Release builds have no overflow checks and no debug assertions: a
# wrap there is a silent small number, then a segfault or garbage. So the fuzz test runs again
# for longer with the engine built that way. Only jslm-engine's settings change (a package
# override in the test profile), so this rebuilds the engine and the test binary, not the
# dependencies (~1-2 min on 2 cores) - unlike `--release`, which would compile candle, tokenizers
# and the rest a second time. The workspace and features are the same as above for the same
# reason.
JSLM_FUZZ_SECONDS="${JSLM_FUZZ_SECONDS:-90}" cargo test --workspace --locked \
  --features jslm-desktop/test --test fuzz_files \
  --config 'profile.test.package.jslm-engine.overflow-checks=false' \
  --config 'profile.test.package.jslm-engine.debug-assertions=false' \
  -- --nocapture 2>&1 | tee target/test-fuzz.log

step "desktop app: UI unit tests and end-to-end tests in the real window"
bash scripts/e2e.sh --skip-cargo-test

# The CUDA build (issue 11): that it compiles on a machine without a GPU (toolkit from PyPI,
# kernels for one compute capability; ~20 min on 2 cores, in its own target dir) and that the
# CLI's tests pass against it on the CPU plan. JSLM_SKIP_CUDA_BUILD=1 skips it for a quick
# local run; CI always runs it.
if [ "${JSLM_SKIP_CUDA_BUILD:-0}" != 1 ]; then
  step "CUDA build and the CLI's tests against it (no GPU: CPU plan)"
  bash scripts/build-cuda.sh --test 2>&1 | tee target/test-cuda.log
fi

# ARM (Apple Silicon, Linux aarch64): the engine's x86 kernels sit behind cfg, and a use that
# is not (the tile code's, until stop 25) breaks every ARM build without any x86 test failing;
# and what ARM runs instead (candle's NEON kernels, the portable attention and quantizers) is
# only known to be right where it runs. So the engine's and the hardware crate's tests are
# built for aarch64 (Debian's cross gcc links them) and run under qemu-user, ~12 min on 2
# cores from a cold cache: the kernels, the tiny-model references against transformers,
# every quantization type against its dequantized weights, generation and the bad-file tests.
# Left out: gguf_tokenizer and fuzz_files (platform-independent parsing, ~90 s under qemu),
# and one test that qemu-user cannot pass: it checks through /proc/self/smaps that
# `MADV_POPULATE_READ` faulted pages in, and qemu-user accepts that advice without doing it.
# (Only the engine and hardware crates: the network crates' C code, e.g. ring's, would need
# more of the cross toolchain.) rustup fetches the target's std from the Rust distribution
# server; where it cannot, this says so and goes on.
step "the engine's and hardware crate's tests on aarch64 (ARM), under qemu-user"
if rustup target add aarch64-unknown-linux-gnu >/dev/null 2>&1; then
  ensure_apt_packages qemu-user gcc-aarch64-linux-gnu libc6-dev-arm64-cross
  arm=(env CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
    CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc
    CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -L /usr/aarch64-linux-gnu"
    cargo test --locked --target aarch64-unknown-linux-gnu)
  "${arm[@]}" -p jslm-hardware --lib --tests 2>&1 | tee target/test-aarch64.log
  "${arm[@]}" -p jslm-engine --lib --test tiny_model_reference --test quant_types \
    --test quantized_k --test generation --test sampling_reference --test tokenizer_reference \
    --test bad_files --test hostile_files --test synthetic_bench \
    -- --skip only_the_ranges_asked_for_are_populated 2>&1 | tee -a target/test-aarch64.log
else
  echo "skipped: rustup could not add the aarch64-unknown-linux-gnu target (no access to the Rust distribution server)"
fi
