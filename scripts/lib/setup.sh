# Shared setup helpers for scripts/*.sh. Idempotent: each step checks before installing.

# Each step says how much disk is left: a build that fills the disk fails later in some other
# tool's words (CI once ended in `ensurepip ... returned non-zero exit status 1`).
step() { printf '\n==> %s  [%s free]\n' "$*" "$(df -h --output=avail . 2>/dev/null | tail -1 | tr -d ' ')"; }

# A venv, with pip's own words when it can't be made: `python3 -m venv` swallows ensurepip's
# output and says only "returned non-zero exit status 1".
# When ensurepip fails in the new venv but another venv's pip works (the test venv, made
# earlier in the same run), that pip installs pip into it (`pip --python`, pip >= 22.3).
make_venv() {
  local dir="$1"
  python3 -m venv "$dir" && return 0
  echo "python3 -m venv $dir failed; ensurepip in it says:" >&2
  df -h "$dir" "${TMPDIR:-/tmp}" >&2 || true
  # Run again where its words show; if it works this time, the venv is good.
  if "$dir/bin/python3" -m ensurepip --upgrade --default-pip >&2 && "$dir/bin/pip" --version >&2; then
    return 0
  fi
  rm -rf "$dir"
  if [ "$dir" != "$PY_VENV" ] && [ -x "$PY_VENV/bin/pip" ]; then
    echo "making $dir without pip, and installing pip into it with $PY_VENV's pip" >&2
    python3 -m venv --without-pip "$dir" &&
      "$PY_VENV/bin/pip" --python "$dir/bin/python3" install -q pip &&
      "$dir/bin/pip" --version && return 0
    rm -rf "$dir"
  fi
  return 1
}

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
    make_venv "$PY_VENV"
  fi
  if ! "$PY_VENV/bin/python" -c "import huggingface_hub, openai" 2>/dev/null; then
    step "pip install test requirements"
    "$PY_VENV/bin/pip" install -q -r scripts/requirements-test.txt
  fi
  export JSLM_TEST_PYTHON="$PY_VENV/bin/python"
}

# What the desktop app needs to build (Tauri 2 on Linux: WebKitGTK 4.1, GTK 3, ...) and to be
# tested headless (Xvfb, WebKitWebDriver, CJK fonts for screenshots, ImageMagick's `import`;
# xdotool and GTK 3 for Python to drive the file picker and drag files onto the window).
DESKTOP_BUILD_PACKAGES=(libwebkit2gtk-4.1-dev libgtk-3-dev libayatana-appindicator3-dev librsvg2-dev
  libsoup-3.0-dev libjavascriptcoregtk-4.1-dev libssl-dev file)
DESKTOP_TEST_PACKAGES=(xvfb xauth dbus webkit2gtk-driver fonts-noto-cjk imagemagick xdotool python3-gi gir1.2-gtk-3.0)

ensure_node() {
  if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    ensure_apt_packages nodejs npm
  fi
  local major
  major="$(node -p 'process.versions.node.split(".")[0]')"
  if [ "$major" -lt 20 ]; then
    echo "Node.js 20 or newer is needed for the UI tests (selenium-webdriver 4; found $(node --version))" >&2
    return 1
  fi
  if [ ! -d node_modules/selenium-webdriver ] || [ ! -d node_modules/@tauri-apps/cli ]; then
    step "npm ci (Tauri CLI, selenium-webdriver)"
    npm ci --no-audit --no-fund --loglevel=error
  fi
}

ensure_tauri_driver() {
  if ! command -v tauri-driver >/dev/null 2>&1; then
    step "cargo install tauri-driver"
    cargo install tauri-driver --locked
  fi
}
