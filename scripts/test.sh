#!/usr/bin/env bash
# Sets up a fresh Debian/Ubuntu machine and runs every test of the project.
# Used by the README's quick start and by CI (.ci/run). Needs no GPU and no internet beyond the
# package registries (apt, crates.io, PyPI, npm).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/setup.sh

ensure_rust
ensure_apt_packages build-essential pkg-config python3 python3-venv
ensure_python_venv

step "cargo test (engine, CLI, hub, hardware)"
cargo test --workspace --locked 2>&1 | tee target/test-rust.log
