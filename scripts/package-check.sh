#!/usr/bin/env bash
# Builds the .deb (and the .rpm), checks what they hold, installs the .deb on this machine,
# runs `jslm doctor` and opens the window under Xvfb from the installed files, then removes the
# package and checks that nothing of it is left — and that the user's own files survived.
# Takes several minutes (a release build): not part of CI. Needs root or sudo (dpkg).
# Writes a report and a screenshot to target/package-check/.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/setup.sh

ensure_rust
ensure_apt_packages build-essential pkg-config "${DESKTOP_BUILD_PACKAGES[@]}" xvfb xauth x11-utils imagemagick fonts-noto-cjk rpm desktop-file-utils
ensure_node
[ -x node_modules/.bin/tauri ] || npm ci --no-audit --no-fund

out="$PWD/target/package-check"
rm -rf "$out"
mkdir -p "$out"
fail() { echo "package-check: FAIL: $*" >&2; exit 1; }

step "tauri build --bundles deb,rpm (release; beforeBuildCommand builds the jslm CLI)"
node_modules/.bin/tauri build --bundles deb,rpm
deb="$(ls -t target/release/bundle/deb/*.deb | head -1)"
rpm_file="$(ls -t target/release/bundle/rpm/*.rpm 2>/dev/null | head -1 || true)"
version="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)"

step "what the .deb holds"
dpkg-deb --info "$deb" | tee "$out/deb-info.txt"
dpkg-deb --contents "$deb" | tee "$out/deb-contents.txt"
package="$(dpkg-deb --field "$deb" Package)"
[ "$(dpkg-deb --field "$deb" Version)" = "$version" ] || fail "the .deb's version is not $version"
# The files' absolute paths (tar lists them as `./usr/…` or `usr/…`; names may hold spaces).
dpkg-deb --contents "$deb" | grep -v '^d' | sed -E 's|^([^ ]+ +){5}||; s|^\./|/|; s|^([^/])|/\1|' \
  > "$out/deb-files.txt"
for bin in /usr/bin/jslm-desktop /usr/bin/jslm; do
  grep -qx "$bin" "$out/deb-files.txt" || fail "$bin is not in the .deb"
done
unpacked="$(mktemp -d)"
dpkg-deb --extract "$deb" "$unpacked"
for bin in jslm-desktop jslm; do
  file "$unpacked/usr/bin/$bin" | tee -a "$out/binaries.txt"
  file "$unpacked/usr/bin/$bin" | grep -q ", stripped" || fail "$bin is not stripped"
done
desktop="$(ls "$unpacked"/usr/share/applications/*.desktop)"
cat "$desktop" | tee "$out/desktop-entry.txt"
grep -q '^Name\[ja\]=' "$desktop" || fail "the desktop entry has no Name[ja]"
grep -q '^Comment\[ja\]=' "$desktop" || fail "the desktop entry has no Comment[ja]"
desktop-file-validate "$desktop"
rm -rf "$unpacked"

if [ -n "$rpm_file" ]; then
  step "what the .rpm holds"
  rpm -qlp "$rpm_file" | tee "$out/rpm-contents.txt"
  grep -qx /usr/bin/jslm "$out/rpm-contents.txt" || fail "/usr/bin/jslm is not in the .rpm"
  grep -qx /usr/bin/jslm-desktop "$out/rpm-contents.txt" || fail "/usr/bin/jslm-desktop is not in the .rpm"
fi
ls -l "$deb" ${rpm_file:+"$rpm_file"} | tee "$out/sizes.txt"

step "install the .deb"
# The user's own files: settings and history of the app, the model cache. Removing the package
# must leave them alone.
user_home="$(mktemp -d)"
mkdir -p "$user_home/.local/share/app.jslm.desktop"
echo '{"kept":true}' > "$user_home/.local/share/app.jslm.desktop/history.jsonl"
$SUDO apt-get install -y "./$deb" > "$out/apt-install.log"
/usr/bin/jslm --version | tee "$out/version.txt"
grep -q "^jslm $version (" "$out/version.txt" || fail "jslm --version does not say $version"
HOME="$user_home" /usr/bin/jslm doctor | tee "$out/doctor.txt"

step "open the installed window under Xvfb"
export JSLM_SCREENSHOT="$out/installed-window.png"
HOME="$user_home" timeout 120 xvfb-run -a -s "-screen 0 1440x960x24" bash -c '
  /usr/bin/jslm-desktop & app=$!
  for _ in $(seq 1 60); do
    sleep 1
    kill -0 "$app" 2>/dev/null || { echo "jslm-desktop exited early" >&2; exit 1; }
    # The window is up once X knows a top-level window with our title.
    if xwininfo -root -tree 2>/dev/null | grep -q "JSLM Desktop"; then break; fi
  done
  sleep 3
  import -window root "$JSLM_SCREENSHOT"
  kill "$app"; wait "$app" 2>/dev/null || true
'
[ -s "$JSLM_SCREENSHOT" ] || fail "no screenshot of the installed window"

step "remove the package; nothing of it may be left"
$SUDO apt-get remove --purge -y "$package" > "$out/apt-remove.log"
if dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "installed"; then
  fail "$package is still installed"
fi
left=0
while IFS= read -r path; do
  # Files only: directories such as /usr/bin are shared with other packages and stay.
  if [ -e "$path" ]; then echo "left behind: $path" >&2; left=1; fi
done < "$out/deb-files.txt"
[ "$left" = 0 ] || fail "files of the package were left behind"
[ -f "$user_home/.local/share/app.jslm.desktop/history.jsonl" ] || fail "removing the package deleted the user's history"
rm -rf "$user_home"

echo
echo "package-check: OK — $(basename "$deb")${rpm_file:+, $(basename "$rpm_file")}; report in $out"
