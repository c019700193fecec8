#!/usr/bin/env bash
# Regenerates the app icons in src-tauri/icons/ from a 1024 px drawing: 言 (kotoba, "words")
# on the app's indigo, with an amber dot. Needs ImageMagick, fonts-noto-cjk and npm.
# The generated files are committed; run this only to change the icon.
set -euo pipefail
cd "$(dirname "$0")/.."
src="$(mktemp -d)/icon-source.png"
convert -size 1024x1024 xc:none -fill '#2F4A7A' -draw "roundrectangle 64,64 960,960 180,180" \
  -font Noto-Sans-CJK-JP-Bold -pointsize 620 -fill '#F7F4EC' -gravity center -annotate +0+10 '言' \
  -fill '#E8B04B' -draw "circle 790,250 790,300" "$src"
[ -x node_modules/.bin/tauri ] || npm install --no-audit --no-fund
# The Tauri CLI writes every size and format the bundlers want (PNG, ICO, ICNS, Windows tiles).
node_modules/.bin/tauri icon "$src" --output src-tauri/icons
# Desktop only: no mobile targets.
rm -rf src-tauri/icons/android src-tauri/icons/ios
