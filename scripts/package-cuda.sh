#!/usr/bin/env bash
# Builds jslm-desktop-cuda_<version>_amd64.deb: the CUDA builds (`jslm-cuda`, `jslm-desktop-cuda`)
# as an add-on to the main package, installed beside /usr/bin/jslm and /usr/bin/jslm-desktop,
# where the CPU programs find them and hand over when the machine has an NVIDIA GPU, a driver
# for CUDA 13 and the CUDA libraries (crates/jslm-hardware/src/gpu_variant.rs).
#
# Why an add-on and not in the main .deb: the CUDA builds are 150 MB and useless without an
# NVIDIA GPU; the main package stays small and works everywhere, and the add-on depends on
# exactly its version.
#
# The CUDA libraries are not in the package (NVIDIA's licence lets them be redistributed, but
# they are ~1 GB and Debian has no CUDA 13 packages): the control file and
# /usr/share/doc/jslm-desktop-cuda/README.Debian say which are needed and where they come from.
#
#   bash scripts/package-cuda.sh            # build the add-on .deb (builds the CUDA twins first)
#   bash scripts/package-cuda.sh --check    # and install it beside the main .deb, check, remove
#
# Needs the main .deb of the same version (`bash scripts/package-check.sh` or `npx tauri build
# --bundles deb`): the add-on depends on its package by name and version. Not part of CI (two
# CUDA release builds, ~35 minutes on 2 cores). Report in target/package-cuda/.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/setup.sh
source scripts/lib/cuda-toolkit.sh

ensure_rust
ensure_apt_packages build-essential pkg-config python3 python3-venv libssl-dev "${DESKTOP_BUILD_PACKAGES[@]}" dpkg-dev
cargo fetch --locked >/dev/null
ensure_cuda_toolkit

out="$PWD/target/package-cuda"
rm -rf "$out" && mkdir -p "$out"
fail() { echo "package-cuda: FAIL: $*" >&2; exit 1; }
TARGET_DIR="${JSLM_CUDA_TARGET_DIR:-$PWD/target/cuda}"
version="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)"
main="$(ls -t target/release/bundle/deb/*_"$version"_amd64.deb 2>/dev/null | head -1 || true)"
[ -n "$main" ] || fail "no main .deb for $version in target/release/bundle/deb (run scripts/package-check.sh)"
main_package="$(dpkg-deb --field "$main" Package)"
package="$main_package-cuda"

step "the CUDA builds (compute capability ${CUDA_COMPUTE_CAP:-90})"
bash scripts/build-cuda.sh
export CUDA_COMPUTE_CAP="${CUDA_COMPUTE_CAP:-90}"
cargo build --release --locked -p jslm-desktop --features cuda --target-dir "$TARGET_DIR"
cp "$TARGET_DIR/release/jslm-desktop" "$TARGET_DIR/release/jslm-desktop-cuda"
strip "$TARGET_DIR/release/jslm-desktop-cuda"

step "staging $package $version"
root="$out/root"
install -Dm755 "$TARGET_DIR/release/jslm-cuda" "$root/usr/bin/jslm-cuda"
install -Dm755 "$TARGET_DIR/release/jslm-desktop-cuda" "$root/usr/bin/jslm-desktop-cuda"
# What the builds link against beyond the main package's dependencies, read from the binaries.
needed="$(for bin in jslm-cuda jslm-desktop-cuda; do
  readelf -d "$root/usr/bin/$bin" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p'
done | grep -E '^lib(cudart|cublas|cublasLt|curand|nvrtc)\.' | sort -u | tr '\n' ' ' | sed 's/ $//')"
# cuBLAS loads cuBLASLt itself (the launcher checks for it too).
case " $needed " in *" libcublas.so."*) needed="$needed libcublasLt.so.$CUDA_MAJOR" ;; esac
echo "CUDA libraries the builds need: $needed" | tee "$out/needed.txt"
doc="$root/usr/share/doc/$package"
mkdir -p "$doc"
cat >"$doc/README.Debian" <<EOF
JSLM Desktop: the CUDA builds
=============================

This package adds jslm-cuda and jslm-desktop-cuda beside jslm and jslm-desktop. You keep
starting jslm and jslm-desktop: they hand over to the CUDA build when all of these hold,
and otherwise run on the CPU and say why in \`jslm doctor\` and the hardware view:

- an NVIDIA GPU that CUDA can see (CUDA_VISIBLE_DEVICES is respected);
- an NVIDIA driver for CUDA $CUDA_MAJOR (R580 or newer), which provides libcuda.so.1;
- the CUDA $CUDA_MAJOR libraries: $needed
  From NVIDIA's CUDA repository for your distribution:
    apt install cuda-cudart-$CUDA_MAJOR-0 libcublas-$CUDA_MAJOR-0 libcurand-$CUDA_MAJOR-0
  or from PyPI, without root:
    pip install "cuda-toolkit[cudart,cublas,curand]==$CUDA_MAJOR.0.*"
  with that environment's nvidia/cu$CUDA_MAJOR/lib folder on LD_LIBRARY_PATH.

JSLM_GPU_VARIANT=off keeps the CPU build on purpose. The kernels are compiled for compute
capability $CUDA_COMPUTE_CAP (CUDA_COMPUTE_CAP when this package was built).
EOF
gzip -9n <"$doc/README.Debian" >"$doc/README.Debian.gz" && rm "$doc/README.Debian"
cp LICENSE "$doc/copyright" 2>/dev/null || echo "License: Apache-2.0" >"$doc/copyright"
mkdir -p "$root/DEBIAN"
cat >"$root/DEBIAN/control" <<EOF
Package: $package
Version: $version
Architecture: amd64
Maintainer: JSLM Desktop <noreply@jslm.app>
Depends: $main_package (= $version)
Section: utils
Priority: optional
Installed-Size: $(du -sk "$root/usr" | cut -f1)
Description: JSLM Desktop on NVIDIA GPUs (CUDA $CUDA_MAJOR builds)
 The CUDA builds of the jslm command line and the JSLM Desktop window. jslm and
 jslm-desktop start them on a machine with an NVIDIA GPU, a driver for CUDA $CUDA_MAJOR
 (R580 or newer) and the CUDA $CUDA_MAJOR libraries ($needed),
 from NVIDIA's CUDA repository (cuda-cudart-$CUDA_MAJOR-0, libcublas-$CUDA_MAJOR-0,
 libcurand-$CUDA_MAJOR-0) or PyPI; elsewhere they keep running on the CPU.
 See /usr/share/doc/$package/README.Debian.gz.
EOF
deb="$out/${package}_${version}_amd64.deb"
dpkg-deb --build --root-owner-group "$root" "$deb" >/dev/null
dpkg-deb --info "$deb" | tee "$out/deb-info.txt"
dpkg-deb --contents "$deb" | tee "$out/deb-contents.txt"
ls -l "$deb" | tee "$out/size.txt"

[ "${1:-}" = "--check" ] || { echo "package-cuda: built $deb"; exit 0; }

step "install it beside the main package"
SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
# The dependency on exactly this version of the main package is in the control file.
[ "$(dpkg-deb --field "$deb" Depends)" = "$main_package (= $version)" ] ||
  fail "the add-on does not depend on $main_package (= $version)"
$SUDO apt-get install -y "./$main" "$deb" >"$out/apt-install.log"
for bin in jslm jslm-desktop jslm-cuda jslm-desktop-cuda; do
  [ -x "/usr/bin/$bin" ] || fail "/usr/bin/$bin is not installed"
  file "/usr/bin/$bin" | tee -a "$out/binaries.txt" | grep -q ", stripped" || fail "$bin is not stripped"
done
# The CPU program, with the twin beside it, on a machine without an NVIDIA GPU: the CPU plan,
# and the reason in doctor.
/usr/bin/jslm doctor | tee "$out/doctor.txt"
grep -Eq "^ *Build: +CPU" "$out/doctor.txt" || fail "doctor does not say which build runs"
# The twin itself starts where its libraries are (the toolkit's, with the stub driver: no GPU).
mkdir -p "$CUDA_ROOT_DIR/stub-driver"
ln -sf ../lib64/libcuda.so "$CUDA_ROOT_DIR/stub-driver/libcuda.so.1"
LD_LIBRARY_PATH="$CUDA_ROOT_DIR/lib64:$CUDA_ROOT_DIR/stub-driver" /usr/bin/jslm-cuda --version \
  | tee "$out/cuda-version.txt"
grep -q "^jslm $version (" "$out/cuda-version.txt" || fail "jslm-cuda --version does not say $version"

step "remove the add-on; the main package stays and nothing of the add-on is left"
$SUDO apt-get remove --purge -y "$package" >"$out/apt-remove.log"
for bin in jslm-cuda jslm-desktop-cuda; do
  [ ! -e "/usr/bin/$bin" ] || fail "/usr/bin/$bin was left behind"
done
[ -x /usr/bin/jslm ] || fail "removing the add-on removed jslm"
[ ! -e "/usr/share/doc/$package" ] || fail "/usr/share/doc/$package was left behind"
$SUDO apt-get remove --purge -y "$main_package" >>"$out/apt-remove.log"

echo
echo "package-cuda: OK — $(basename "$deb"); report in $out"
