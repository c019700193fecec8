#!/usr/bin/env bash
# jslm's one-token row kernels against llama.cpp's (`ggml_vec_dot_*`, and for Q4_K the
# repacked 8-row GEMV its x86 builds decode with, from a second copy of the weights) on rows in cache, one thread, alternated, in ns per weight block: the
# kernels' instructions alone, without the memory and threads that make a whole-model decode
# on a shared VM swing by ±10 % (BENCHMARKS.md).
#
#   bench/compare_kernels.sh     # ISA=avx2 (or native) REPS=3 WORK=target/bench
#
# ISA=avx2: jslm's `avx2` rows against llama.cpp built with AVX2/FMA/F16C only; ISA=native:
# jslm's default kernels on this CPU against llama.cpp's native build. Needs the llama.cpp
# builds of bench/compare_llama_cpp.sh (run it once with the same ISA first).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WORK="${WORK:-$ROOT/target/bench}"
ISA="${ISA:-avx2}"
REPS="${REPS:-3}"
case "$ISA" in
  avx2) BUILD="$WORK/llama.cpp/build-avx2" ;;
  native) BUILD="$WORK/llama.cpp/build" ;;
  *) echo "ISA is avx2 or native" >&2; exit 2 ;;
esac
LIB="$BUILD/bin"
if [ ! -e "$LIB/libggml-cpu.so" ]; then
  echo "no llama.cpp build in $BUILD: run ISA=$ISA bench/compare_llama_cpp.sh first" >&2
  exit 1
fi
HARNESS="$WORK/ggml_kernels-$ISA"
cc -O2 -o "$HARNESS" "$ROOT/bench/ggml_kernels.c" -L"$LIB" -lggml-cpu -lggml-base \
  -Wl,-rpath,"$LIB"
# What llama.cpp's decode of Q4_K really runs on x86: its repacked 8-row GEMV.
GEMV="$WORK/ggml_gemv-$ISA"
c++ -O2 -std=c++17 -o "$GEMV" "$ROOT/bench/ggml_gemv.cpp" -I"$WORK/llama.cpp/ggml/include" \
  -L"$LIB" -lggml-cpu -lggml-base -lggml -Wl,-rpath,"$LIB"
cargo build --release --locked -p jslm-cli --manifest-path "$ROOT/Cargo.toml" >&2
JSLM="$ROOT/target/release/jslm"
echo "| weights | engine | kernel | ns per block | rep |"
echo "|---|---|---|---|---|"
for rep in $(seq "$REPS"); do
  "$HARNESS" | sed "s/ | (checksum.*//; s/\$/ | $rep |/"
  "$GEMV" 2>/dev/null | sed "s/\$/ $rep |/"
  sleep 2
  if [ "$ISA" = avx2 ]; then
    "$JSLM" bench --kernels | awk -F'|' -v rep="$rep" \
      '$3 ~ /^ avx2 $/ && $4 ~ /rows/ {print "|" $2 "| jslm (avx2) |" $4 "|" $5 "| " rep " |"}'
  else
    # Every row kernel this CPU runs but the forced narrower ones (decode's Q4_K on an
    # AVX-512 VNNI CPU is the `arranged` row).
    "$JSLM" bench --kernels | awk -F'|' -v rep="$rep" \
      'NR > 2 && $3 !~ /novnni|avxvnni|generic/ && $4 !~ /tiles/ {print "|" $2 "| jslm (" substr($3, 2, length($3) - 2) ") |" $4 "|" $5 "| " rep " |"}'
  fi
  sleep 2
done
