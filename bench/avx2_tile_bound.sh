#!/usr/bin/env bash
# How close the AVX2 Q8_0 prompt tile runs to its own inner loop on this CPU: the loop alone
# (`bench/avx2_tile_bound.c`: registers only, operands in L1, operands streamed over rows of
# 4,096 and 14,336 values) against the whole tile as `jslm bench --kernels` times it (weights
# unpacked per task, the per-block scaling, the stores), alternated, ns per step of 4 rows ×
# 16 tokens × 2 values (128 multiply-adds). One thread, data in cache.
#
#   bench/avx2_tile_bound.sh     # REPS=3 WORK=target/bench
#
# What it showed, and why the Q8_0 tile cannot go much faster on AVX2: BENCHMARKS.md, stop 32.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WORK="${WORK:-$ROOT/target/bench}"
REPS="${REPS:-3}"
mkdir -p "$WORK"
grep -qw avx2 /proc/cpuinfo || { echo "this CPU has no AVX2" >&2; exit 1; }
HARNESS="$WORK/avx2_tile_bound"
cc -O2 -o "$HARNESS" "$ROOT/bench/avx2_tile_bound.c"
cargo build --release --locked -p jslm-cli --manifest-path "$ROOT/Cargo.toml" >&2
JSLM="$ROOT/target/release/jslm"
echo "| rep | loop, registers | loop, L1 | loop, 4,096 | loop, 14,336 | whole tile | tile ÷ loop (L1) |"
echo "|---|---|---|---|---|---|---|"
for rep in $(seq "$REPS"); do
  loop="$("$HARNESS")"
  tile="$("$JSLM" bench --kernels --isa avx2 --json |
    python3 -c 'import json,sys
for l in sys.stdin:
    d = json.loads(l)
    if (d["weights"], d["kernels"], d["path"]) == ("q8_0", "avx2", "tiles"):
        print(4 * d["ns_per_block"])')"
  python3 - "$rep" "$loop" "$tile" <<'PY'
import sys
rep, loop, tile = sys.argv[1], sys.argv[2], float(sys.argv[3])
v = [float(p.split()[-1]) for p in loop.split("|")]
print(f"| {rep} | {v[0]:.3f} | {v[1]:.3f} | {v[2]:.3f} | {v[3]:.3f} | {tile:.3f} | {tile / v[1]:.2f} |")
PY
done
