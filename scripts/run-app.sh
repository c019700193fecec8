#!/usr/bin/env bash
# Sets up a Debian/Ubuntu machine, builds the desktop app (release) and opens its window.
# Arguments are passed to the app, e.g. `./scripts/run-app.sh --model ~/models/jslm-7b`.
# Safe to re-run: installed packages and the build are reused.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/setup.sh

ensure_rust
ensure_apt_packages build-essential pkg-config "${DESKTOP_BUILD_PACKAGES[@]}"
# Japanese text needs a CJK font; most desktops have one, minimal installs do not.
ensure_apt_packages fonts-noto-cjk

step "cargo build --release -p jslm-desktop"
# custom-protocol: serve the embedded ui/ as a production build does (what `tauri build` sets).
cargo build --release -p jslm-desktop --features custom-protocol --locked

step "starting JSLM Desktop"
exec target/release/jslm-desktop "$@"
