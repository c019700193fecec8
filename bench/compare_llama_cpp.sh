#!/usr/bin/env bash
# jslm against llama.cpp on the same random-weight 7B GGUF files, same threads, one table.
#
#   bench/compare_llama_cpp.sh   # THREADS=$(nproc) REPS=3 PROMPTS="128 512 2048" DECODE=64
#                                # FILES="q4 q8" (q2: Q2_K, q3: Q3_K_M, q4: Q4_K_M, q40: Q4_0, q5: Q5_K_M, q50: Q5_0, q8: Q8_0) ISA=native SETTLE=10
#
# - ISA=native: jslm's default kernels against llama.cpp built for this CPU. ISA=avx2: jslm
#   forced to its AVX2 kernels (`--isa avx2`) against llama.cpp built with AVX2/FMA/F16C only
#   (GGML_NATIVE=OFF), what an AVX2-only machine runs. ISA=avxvnni: jslm's AVX-VNNI kernels
#   (`--isa avxvnni`: Intel since 12th gen) against llama.cpp built with AVX2 + AVX-VNNI on
#   CPUs that have AVX-VNNI; elsewhere (AVX-512 VNNI CPUs run jslm's AVX-VNNI tiles in their
#   EVEX encoding, but llama.cpp's AVX-VNNI build would not start) against the AVX2 build,
#   which the script says.
# - Each prompt length is one llama-bench test (`-p`), and one jslm run (prefill, then
#   DECODE tokens only after the first, shortest prompt: decode is measured once). Both run a
#   long prompt in passes of 512 tokens: jslm the plan's `prefill_chunk_tokens`, as a
#   generation does; llama-bench its default micro-batch (`-ub 512`).
# - llama.cpp is built from a registry package: the source distribution of PyPI's
#   llama-cpp-python 0.3.36 vendors llama.cpp (commit 0c1e570); we build its llama-bench and
#   llama-quantize with cmake (native CPU flags, its default).
# - The files: `jslm bench --prepare-only` writes a random 7B Q8_0 GGUF with our writer (its
#   tensors are byte-identical to llama.cpp's converter, see the engine tests) plus a
#   placeholder vocabulary; llama.cpp's own `llama-quantize` makes the Q4_K_M from it. Both
#   engines then read exactly the same bytes.
# - Runs alternate llama.cpp / jslm (A B A B ...) under /usr/bin/time -v; the table reports
#   medians, each run's CPU share (compare only rows that got the same share on a shared
#   machine) and peak RSS.
# - Each run starts SETTLE seconds (default 10) after the one before ends. On the 2-vCPU VMs
#   these benchmarks ran on, whatever ran right after llama-bench exited (it frees its 3+ GiB
#   repacked copy) was slow: in stop 26 `jslm bench`'s memory streaming rate gave 10.5
#   tokens/s of roofline right after it and 15.4–15.9 when started ten seconds later, and
#   its decode 9.0 against 9.7–9.8 (the guest idle in between; BENCHMARKS.md). jslm always
#   runs right after llama.cpp; llama.cpp, right after jslm, showed no such effect.
# Needs ~12 GB of disk in $WORK (default target/bench) and ~9 GB of RAM.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WORK="${WORK:-$ROOT/target/bench}"
THREADS="${THREADS:-$(nproc)}"
REPS="${REPS:-3}"
PROMPTS="${PROMPTS:-${PROMPT:-128 512 2048}}"
DECODE="${DECODE:-64}"
FILES="${FILES:-q4 q8}"
ISA="${ISA:-native}"
LLAMA_CPP_PYTHON="${LLAMA_CPP_PYTHON:-0.3.36}"
mkdir -p "$WORK/models" "$WORK/runs"

need_apt=()
command -v cmake >/dev/null || need_apt+=(cmake)
command -v g++ >/dev/null || need_apt+=(g++)
[ -x /usr/bin/time ] || need_apt+=(time)
command -v curl >/dev/null || need_apt+=(curl)
if [ ${#need_apt[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq "${need_apt[@]}"
fi

# 1. llama.cpp from the PyPI source distribution.
LLAMA="$WORK/llama.cpp"
if [ ! -x "$LLAMA/build/bin/llama-bench" ]; then
  echo "building llama.cpp from llama-cpp-python $LLAMA_CPP_PYTHON (sdist)" >&2
  rm -rf "$WORK/sdist" && mkdir -p "$WORK/sdist"
  # The archive from PyPI's simple index, checked against the index's sha256 (pip download
  # would try to build the Python package just to read its metadata).
  href="$(curl -fsSL "https://pypi.org/simple/llama-cpp-python/" |
    grep -o "https://[^\"]*/llama_cpp_python-$LLAMA_CPP_PYTHON.tar.gz#sha256=[0-9a-f]*" | head -1)"
  [ -n "$href" ] || { echo "llama-cpp-python $LLAMA_CPP_PYTHON not found on PyPI" >&2; exit 1; }
  curl -fsSL -o "$WORK/sdist/llama_cpp_python-$LLAMA_CPP_PYTHON.tar.gz" "${href%%#*}"
  echo "${href##*=}  $WORK/sdist/llama_cpp_python-$LLAMA_CPP_PYTHON.tar.gz" | sha256sum -c - >&2
  archive="$(ls "$WORK"/sdist/llama_cpp_python-*.tar.gz)"
  tar -xzf "$archive" -C "$WORK/sdist"
  rm -rf "$LLAMA" && mv "$WORK"/sdist/llama_cpp_python-*/vendor/llama.cpp "$LLAMA"
fi
if [ "$ISA" = avx2 ] || [ "$ISA" = avxvnni ]; then
  BUILD="$LLAMA/build-avx2"
  flags=(-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON)
  if [ "$ISA" = avxvnni ]; then
    if grep -qw avx_vnni /proc/cpuinfo; then
      BUILD="$LLAMA/build-avxvnni"
      flags+=(-DGGML_AVX_VNNI=ON)
    else
      echo "note: this CPU has no AVX-VNNI, so llama.cpp runs its AVX2 build (jslm's" \
        "AVX-VNNI tiles run EVEX-encoded here)" >&2
    fi
  fi
  if [ ! -x "$BUILD/bin/llama-bench" ] || [ ! -f "$BUILD/.jslm-flags" ]; then
    cmake -S "$LLAMA" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF \
      -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF "${flags[@]}" >/dev/null
    cmake --build "$BUILD" -j"$(nproc)" --target llama-bench >/dev/null
    echo "${flags[*]}" >"$BUILD/.jslm-flags"
  fi
  JSLM_ISA_ARGS=(--isa "$ISA")
else
  BUILD="$LLAMA/build"
  JSLM_ISA_ARGS=()
fi
if [ ! -x "$LLAMA/build/bin/llama-bench" ] || [ ! -f "$LLAMA/build/.jslm-flags" ]; then
  # Every x86 SIMD extension this CPU has except AMX: a native build (-march=native) also
  # compiles ggml's AMX kernels, which crash with SIGSEGV in ggml_backend_amx_mul_mat on this
  # VM at this commit. Other CPUs get -march=native.
  flags=(-DGGML_NATIVE=ON)
  if grep -qw amx_int8 /proc/cpuinfo; then
    flags=(-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON
      -DGGML_BMI2=ON)
    for f in avx512f:GGML_AVX512 avx512_vnni:GGML_AVX512_VNNI avx512vbmi:GGML_AVX512_VBMI \
      avx512_bf16:GGML_AVX512_BF16 avx_vnni:GGML_AVX_VNNI; do
      grep -qw "${f%%:*}" /proc/cpuinfo && flags+=("-D${f##*:}=ON")
    done
  fi
  cmake -S "$LLAMA" -B "$LLAMA/build" -DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF "${flags[@]}" >/dev/null
  cmake --build "$LLAMA/build" -j"$(nproc)" --target llama-bench llama-quantize >/dev/null
  echo "${flags[*]}" >"$LLAMA/build/.jslm-flags"
fi

# 2. jslm, and the files.
(cd "$ROOT" && cargo build --release --locked -p jslm-cli >&2)
JSLM="$ROOT/target/release/jslm"
Q8="$WORK/models/random-7b-q8_0.gguf"
Q4="$WORK/models/random-7b-q4_k_m-llama-quantize.gguf"
if [ ! -f "$Q8" ]; then
  "$JSLM" bench --prepare-only --files q8_0 --work-dir "$WORK/models" >&2
fi
# The K-quant mixes from the Q8_0 with llama.cpp's own quantizer, each only when asked for
# (a few minutes each).
Q5="$WORK/models/random-7b-q5_k_m-llama-quantize.gguf"
Q2="$WORK/models/random-7b-q2_k-llama-quantize.gguf"
Q3="$WORK/models/random-7b-q3_k_m-llama-quantize.gguf"
Q40="$WORK/models/random-7b-q4_0-llama-quantize.gguf"
Q50="$WORK/models/random-7b-q5_0-llama-quantize.gguf"
for f in $FILES; do
  case "$f" in
    q2) out="$Q2" type=Q2_K ;; q3) out="$Q3" type=Q3_K_M ;; q4) out="$Q4" type=Q4_K_M ;; q40) out="$Q40" type=Q4_0 ;;
    q5) out="$Q5" type=Q5_K_M ;; q50) out="$Q50" type=Q5_0 ;; *) continue ;;
  esac
  if [ ! -f "$out" ]; then
    "$LLAMA/build/bin/llama-quantize" --allow-requantize "$Q8" "$out.partial" "$type" >/dev/null 2>&1
    mv "$out.partial" "$out"
  fi
done

# 3. Alternating runs. The page cache is warmed once per file so neither engine pays disk reads:
# dropped first and read back (`dd iflag=nocache count=0` drops a file's clean cached pages), so
# both engines map it as a file read from disk is cached, in 2 MiB folios where the kernel and
# filesystem make them, not as whatever wrote it left it (see gguf_cpu/weights_map.rs).
paths=()
for f in $FILES; do
  case "$f" in
    q2) paths+=("$Q2") ;; q3) paths+=("$Q3") ;; q4) paths+=("$Q4") ;; q40) paths+=("$Q40") ;; q5) paths+=("$Q5") ;;
    q50) paths+=("$Q50") ;; q8) paths+=("$Q8") ;;
    *) echo "FILES: q2, q3, q4, q40, q5, q50 or q8" >&2; exit 1 ;;
  esac
done
for f in "${paths[@]}"; do dd if="$f" iflag=nocache count=0 status=none; cat "$f" >/dev/null; done
RUNS="$WORK/runs-$ISA"
mkdir -p "$RUNS" && rm -f "$RUNS"/*
echo "load before: $(uptime)" | tee "$RUNS/load.txt" >&2
SETTLE="${SETTLE:-10}"
for rep in $(seq 1 "$REPS"); do
  for f in "${paths[@]}"; do
    name="$(basename "$f" .gguf)"
    echo "rep $rep: $name llama.cpp" >&2
    sleep "$SETTLE"
    /usr/bin/time -v -o "$RUNS/llama-$name-$rep.time" \
      "$BUILD/bin/llama-bench" -m "$f" -t "$THREADS" -p "$(echo $PROMPTS | tr ' ' ,)" \
      -n "$DECODE" -r 1 -o json >"$RUNS/llama-$name-$rep.json" 2>"$RUNS/llama-$name-$rep.log"
    decode="$DECODE"
    for p in $PROMPTS; do
      echo "rep $rep: $name jslm ${JSLM_ISA_ARGS[*]} prompt $p" >&2
      sleep "$SETTLE"
      /usr/bin/time -v -o "$RUNS/jslm-$name-p$p-$rep.time" \
        "$JSLM" bench --model "$f" --threads "$THREADS" --prompt-tokens "$p" \
        --decode-tokens "$decode" "${JSLM_ISA_ARGS[@]}" --json >"$RUNS/jslm-$name-p$p-$rep.json"
      decode=0
    done
  done
done
echo "load after: $(uptime)" | tee -a "$RUNS/load.txt" >&2

echo "llama.cpp build flags: $(cat "$BUILD/.jslm-flags")"
python3 "$ROOT/bench/summarize.py" "$RUNS" "$THREADS"
