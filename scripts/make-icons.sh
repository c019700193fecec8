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
# At 32 px the scaled glyph's 2-px strokes smear into grey: the 32 px icon (menus, taskbars) is
# drawn on the pixel grid instead, the same strokes as the large glyph, each exactly 2 px.
convert -size 32x32 xc:none -fill '#2F4A7A' -draw "roundrectangle 1,1 30,30 6,6" \
  +antialias -fill '#F7F4EC' \
  -draw "rectangle 13,6 18,7" -draw "rectangle 7,10 24,11" \
  -draw "rectangle 10,14 21,15" -draw "rectangle 10,18 21,19" \
  -draw "rectangle 10,22 21,23" -draw "rectangle 10,26 21,27" \
  -draw "rectangle 10,22 11,27" -draw "rectangle 20,22 21,27" \
  -antialias -fill '#E8B04B' -draw "circle 25,6 25,8" src-tauri/icons/32x32.png
