# Shared setup helpers for scripts/*.sh. Idempotent: each step checks before installing.

step() { printf '\n==> %s\n' "$*"; }

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

ensure_rust() {
  if ! command -v cargo >/dev/null 2>&1; then
    if [ -x "$HOME/.cargo/bin/cargo" ]; then
      export PATH="$HOME/.cargo/bin:$PATH"
    else
      step "installing Rust (rustup)"
      curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
      export PATH="$HOME/.cargo/bin:$PATH"
    fi
  fi
  mkdir -p target
}

APT_UPDATED=0
ensure_apt_packages() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    step "apt-get install ${missing[*]}"
    if [ "$APT_UPDATED" = 0 ]; then $SUDO apt-get update -qq; APT_UPDATED=1; fi
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

# A venv with the small Python packages the tests use (no torch: fixtures are committed).
PY_VENV="${JSLM_PY_VENV:-$PWD/target/py}"
ensure_python_venv() {
  if [ ! -x "$PY_VENV/bin/python" ]; then
    step "creating Python venv $PY_VENV"
    python3 -m venv "$PY_VENV"
  fi
  if ! "$PY_VENV/bin/python" -c "import huggingface_hub" 2>/dev/null; then
    step "pip install test requirements"
    "$PY_VENV/bin/pip" install -q -r scripts/requirements-test.txt
  fi
  export JSLM_TEST_PYTHON="$PY_VENV/bin/python"
}
