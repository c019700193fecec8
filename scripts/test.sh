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

step "desktop app: UI unit tests and end-to-end tests in the real window"
bash scripts/e2e.sh --skip-cargo-test
