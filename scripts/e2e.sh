#!/usr/bin/env bash
# Builds the desktop app once and runs its tests headless:
#   1. command tests through Tauri's mock runtime (`cargo test -p jslm-desktop --features test`),
#   2. UI unit tests of the plain-JS modules (`node --test tests/ui`),
#   3. end to end in the real window: tauri-driver + WebKitWebDriver under Xvfb, driving the
#      debug build with the tiny fixture model; screenshots and UI timings go to
#      target/e2e-artifacts/.
# Installs what it needs (apt, tauri-driver, npm packages) and is safe to re-run.
# `--skip-cargo-test`: step 1 already ran (scripts/test.sh runs the whole workspace's tests).
set -euo pipefail
skip_cargo_test=0
[ "${1:-}" = "--skip-cargo-test" ] && skip_cargo_test=1
cd "$(dirname "$0")/.."
source scripts/lib/setup.sh

ensure_rust
ensure_apt_packages build-essential pkg-config "${DESKTOP_BUILD_PACKAGES[@]}" "${DESKTOP_TEST_PACKAGES[@]}"
ensure_node
ensure_tauri_driver

export JSLM_TINY_MODEL="${JSLM_TINY_MODEL:-$PWD/tests/fixtures/tiny-mistral}"
if [ ! -f "$JSLM_TINY_MODEL/model.safetensors" ]; then
  echo "tiny model fixture not found at $JSLM_TINY_MODEL (set JSLM_TINY_MODEL)" >&2
  exit 1
fi

# One feature set for the tests and the E2E binary, so Tauri compiles once.
if [ "$skip_cargo_test" = 0 ]; then
  step "cargo test -p jslm-desktop --features test"
  cargo test -p jslm-desktop --features test --locked 2>&1 | tee target/test-desktop.log
fi

# The workspace with `jslm-desktop/test`, as scripts/test.sh tests it: the same feature
# unification, so that run and this build share every compiled dependency.

step "cargo build (the app for E2E, the jslm CLI as the reference)"
cargo build --workspace --features jslm-desktop/test --locked --bins

step "UI unit tests"
node --test tests/ui/*.test.js

step "end to end (Xvfb, tauri-driver, WebKitWebDriver)"
export JSLM_E2E_ARTIFACTS="${JSLM_E2E_ARTIFACTS:-$PWD/target/e2e-artifacts}"
rm -rf "$JSLM_E2E_ARTIFACTS"
mkdir -p "$JSLM_E2E_ARTIFACTS"
failed=0
for file in tests/e2e/*.test.js; do
  # Without a display the app hangs instead of failing: every run has a hard limit.
  # A session bus as a desktop session has (the single-instance handover goes over D-Bus).
  timeout 600 xvfb-run -a -s "-screen 0 1440x960x24" dbus-run-session -- node --test "$file" || failed=1
done
echo "artifacts: $JSLM_E2E_ARTIFACTS"
exit "$failed"
