#!/usr/bin/env bash
# The GPU check, in one run on a Linux machine with an NVIDIA GPU and its driver but no
# internet and no Rust: it uses a stripped `jslm-cuda` built elsewhere (scripts/build-cuda.sh)
# and the committed fixtures. Finishes in a few minutes on an H100/H200.
#
#   bash scripts/gpu-check.sh [path/to/jslm-cuda[.xz]]   # results under $OUT (default target/gpu-check)
#   TINY_CASES=5 bash scripts/gpu-check.sh ...            # the first 5 reference cases only
#   STEPS="tiny-st bf16" bash scripts/gpu-check.sh ...    # some steps only (default: all of
#                                                         # tiny-st tiny-gguf bf16 q4_k_m q8_0 split)
#   ENGINE_TESTS=path/to/jslm-engine-tests[.xz]           # also the engine's CUDA unit tests
#                                                         # (cuda_*; the split's against candle on
#                                                         # the GPU), built by `bash
#                                                         # scripts/build-cuda.sh --engine-tests`
#   AB=1                                                  # each benchmark also with JSLM_CUDA_MATVEC=0
#
# 1. what the machine is: nvidia-smi, `jslm doctor` (the plan on this GPU)
# 2. the tiny model on CUDA against transformers' reference: f32 must give identical greedy
#    ids; bf16 and f16 are reported as the length of the agreeing prefix (as the CPU tests do)
# 3. the tiny GGUF on CUDA against the CPU runner: identical greedy ids
# 4. `jslm bench` on random 7B-shaped files written here: bf16 safetensors (needs PyTorch),
#    Q4_K_M and Q8_0 GGUF; prompt 128 and 512 tokens, decode 64; TTFT, peak VRAM (nvidia-smi)
# 5. the split a GPU too small for the whole model gets, measured on this one: the Q4_K_M
#    file's last 16 of 32 blocks on the GPU, the rest on the CPU (`jslm bench --gpu-layers 16`)
# Steps run in that order and each is time-boxed, so a slow step never hides the ones before.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN="$(realpath "${1:-target/cuda/release/jslm-cuda.xz}")"
OUT="${OUT:-$PWD/target/gpu-check}"
WORK="${GPU_CHECK_WORK:-/tmp/jslm-gpu-check}"
mkdir -p "$OUT" "$WORK"
if [ "${BIN%.xz}" != "$BIN" ]; then  # carried compressed (73 MB → 11 MB)
  xz -dc "$BIN" > "$WORK/jslm-cuda" && chmod +x "$WORK/jslm-cuda" && BIN="$WORK/jslm-cuda"
fi
STEPS="${STEPS:-tiny-st tiny-gguf bf16 q4_k_m q8_0 split}"
step() { case " $STEPS " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
SUMMARY="$OUT/summary.txt"
: > "$SUMMARY"
say() { echo "[+${SECONDS}s] $*" | tee -a "$SUMMARY"; }
fail=0

# The CUDA 13 libraries the build links against: from the system toolkit or from PyPI wheels
# (PyTorch's or `pip install cuda-toolkit[...]`), whichever has them; each library's folder is
# searched on its own, since the wheels may spread them over several.
find_cuda_libs() {
  local lib dir dirs=""
  for lib in libcublas.so.13 libcublasLt.so.13 libcudart.so.13 libcurand.so.10; do
    dir=""
    for cand in /usr/local/cuda/lib64 /usr/local/cuda-13*/lib64 \
      $(python3 -c 'import site; print(" ".join(site.getsitepackages()))' 2>/dev/null | tr ' ' '\n' | sed 's|$|/nvidia/cu13/lib|'); do
      if [ -e "$cand/$lib" ]; then dir="$cand"; break; fi
    done
    [ -n "$dir" ] || dir="$(dirname "$(find /usr /opt -name "$lib" 2>/dev/null | head -1)" 2>/dev/null)"
    [ -n "$dir" ] && [ "$dir" != "." ] && case ":$dirs:" in *":$dir:"*) ;; *) dirs="${dirs:+$dirs:}$dir" ;; esac
  done
  echo "$dirs"
}
CUDA_LIBS="$(find_cuda_libs)"
[ -n "$CUDA_LIBS" ] && export LD_LIBRARY_PATH="$CUDA_LIBS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
say "# GPU check $(date -u +%FT%TZ) on $(hostname)"
say "binary: $BIN ($(stat -c %s "$BIN") bytes); CUDA libraries: ${CUDA_LIBS:-not found, the system loader path is used}"
nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1
say "$(nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used --format=csv,noheader 2>&1)"
missing="$(ldd "$BIN" | grep 'not found')"
if [ -n "$missing" ]; then say "MISSING LIBRARIES: $missing"; exit 1; fi

timeout 60 "$BIN" doctor > "$OUT/doctor.txt" 2>&1; say "doctor: exit $?"
grep -E "NVIDIA GPU|Driver|Backends|Build" "$OUT/doctor.txt" | tee -a "$SUMMARY"

# --- 2 and 3: the tiny models against their references ----------------------------------------
# compare.py prints one line per case and exits 1 when a case that must match does not.
cat > "$WORK/compare.py" <<'PY'
import json, os, subprocess, sys
binary, model, reference, device, precision, mode = sys.argv[1:7]
cases = json.load(open(reference))["cases"]
# TINY_CASES=N: the first N cases only (each case is one to two processes that start CUDA).
limit = int(os.environ.get("TINY_CASES", "0") or 0)
cases = cases[:limit] if limit > 0 else cases
worst, bad = None, 0
for case in cases:
    want = case.get("greedy_ids")
    n = len(want) if want else 16
    def generate(dev, prec):
        cmd = [binary, "generate", "--model", model, "--greedy", "--json", "--device", dev,
               "--instruction", case["instruction"], "--input", case.get("input", ""),
               "--max-new-tokens", str(n)]
        if prec != "-":
            cmd += ["--precision", prec]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if out.returncode != 0:
            return None, out.stderr.strip().splitlines()[-1:]
        last = json.loads(out.stdout.strip().splitlines()[-1])
        return last["generated_token_ids"], last.get("run", {})
    got, run = generate(device, precision)
    if got is None:
        print(f"{case['name']}: FAILED {run}"); bad += 1; continue
    if mode == "cpu":  # the CPU runner on the same file is the reference
        want, _ = generate("cpu", precision)
    agree = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
    worst = agree if worst is None else min(worst, agree)
    exact = got == want
    print(f"{case['name']}: {'identical' if exact else f'first {agree} of {len(want)} ids agree'}"
          f" (device {run.get('device', '?')}, precision {run.get('precision', '?')})")
    if mode in ("exact", "cpu") and not exact:
        bad += 1
print(f"SUMMARY {device} {precision} {mode}: {len(cases) - bad}/{len(cases)} ok, shortest agreeing prefix {worst}")
sys.exit(1 if bad else 0)
PY
tiny() {  # name model reference device precision mode
  local name="$1"; shift
  timeout 300 python3 "$WORK/compare.py" "$BIN" "$@" > "$OUT/tiny-$name.txt" 2>&1
  local rc=$?
  say "tiny $name: $(tail -1 "$OUT/tiny-$name.txt") (exit $rc)"
  [ $rc -eq 0 ] || [ "${*: -1}" = "prefix" ] || fail=1
}
if [ -n "${ENGINE_TESTS:-}" ]; then
  tests="$(realpath "$ENGINE_TESTS")"
  if [ "${tests%.xz}" != "$tests" ]; then
    xz -dc "$tests" > "$WORK/jslm-engine-tests" && chmod +x "$WORK/jslm-engine-tests" && tests="$WORK/jslm-engine-tests"
  fi
  timeout 120 "$tests" cuda_ --nocapture > "$OUT/engine-tests.txt" 2>&1
  rc=$?; say "engine CUDA unit tests: $(grep 'test result' "$OUT/engine-tests.txt" | tail -1) (exit $rc)"
  [ $rc -eq 0 ] || fail=1
fi
if step tiny-st; then
  tiny f32 tests/fixtures/tiny-mistral tests/fixtures/tiny-mistral/reference.json cuda f32 exact
  tiny bf16 tests/fixtures/tiny-mistral tests/fixtures/tiny-mistral/reference.json cuda bf16 prefix
  tiny f16 tests/fixtures/tiny-mistral tests/fixtures/tiny-mistral/reference.json cuda f16 prefix
fi
if step tiny-gguf; then
  tiny gguf-f16 tests/fixtures/tiny-mistral-gguf/model-f16.gguf tests/fixtures/tiny-mistral/reference.json cuda - cpu
  tiny gguf-q8_0 tests/fixtures/tiny-mistral-llamacpp/model-q8_0.gguf tests/fixtures/tiny-mistral/reference.json cuda - cpu
fi

# --- 4: 7B-shaped benchmarks ------------------------------------------------------------------
# Peak VRAM: nvidia-smi sampled every 100 ms while each benchmark runs, minus what was in use
# before.
bench() {  # label model-or-empty args...
  local label="$1" model="$2"; shift 2
  local base; base="$(nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits | head -1)"
  nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 100 > "$WORK/vram-$label.txt" 2>/dev/null &
  local sampler=$!
  for tokens in 128 512; do
    for matvec in 1 ${AB:+0}; do
      JSLM_CUDA_MATVEC=$matvec timeout 240 "$BIN" bench ${model:+--model "$model"} --device cuda \
        --prompt-tokens "$tokens" --decode-tokens 64 --json "$@" 2>> "$OUT/bench-$label.err" \
        | sed "s/^{/{\"cuda_matvec\":$matvec,/" >> "$OUT/bench-$label.jsonl"
      say "bench $label prompt $tokens (JSLM_CUDA_MATVEC=$matvec): exit $?"
    done
  done
  kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null
  local peak; peak="$(sort -n "$WORK/vram-$label.txt" | tail -1)"
  say "bench $label: peak VRAM $(( ${peak:-0} - ${base:-0} )) MiB above the $base MiB in use before"
}
if ! step bf16; then
  :
elif python3 -c "import torch" 2>/dev/null; then
  timeout 300 python3 scripts/gpu/make_random_safetensors.py "$WORK/random-7b-bf16" > "$OUT/make-bf16.txt" 2>&1 \
    && bench bf16 "$WORK/random-7b-bf16" --precision bf16 \
    || say "bf16: could not write the random model ($(tail -1 "$OUT/make-bf16.txt"))"
else
  say "bf16: skipped (no PyTorch here to write the random safetensors)"
fi
for q in q4_k_m q8_0; do
  step "$q" || continue
  # `jslm bench` writes the random GGUF itself (into --work-dir) the first time.
  timeout 400 "$BIN" bench --files "$q" --work-dir "$WORK" --prepare-only >> "$OUT/prepare.txt" 2>&1
  bench "$q" "$WORK/random-7b-$q.gguf"
done
if step split; then
  [ -f "$WORK/random-7b-q4_k_m.gguf" ] \
    || timeout 400 "$BIN" bench --files q4_k_m --work-dir "$WORK" --prepare-only >> "$OUT/prepare.txt" 2>&1
  bench split-16 "$WORK/random-7b-q4_k_m.gguf" --gpu-layers 16
fi
python3 - "$OUT" <<'PY' | tee -a "$SUMMARY"
import glob, json, os, sys
print("| model | device | runner (GPU layers) | precision | matvec | prompt tokens | prompt tok/s | decode tok/s | TTFT ms |")
print("|---|---|---|---|---|---|---|---|---|")
for path in sorted(glob.glob(os.path.join(sys.argv[1], "bench-*.jsonl"))):
    for line in open(path):
        try:
            r = json.loads(line)
        except ValueError:
            continue
        layers = f" ({r['gpu_layers']})" if r.get("gpu_layers") else ""
        print(f"| {os.path.basename(str(r.get('model')))} | {r.get('device')} | {r.get('runner', '-')}{layers} | {r.get('precision', r.get('format'))} | {r.get('cuda_matvec', '-')} "
              f"| {r.get('prompt_tokens')} | {r.get('prompt_tokens_per_s', 0):.0f} | {r.get('decode_tokens_per_s', 0):.1f} "
              f"| {r.get('ttft_ms', 0):.0f} |")
PY
say "gpu-check: $([ $fail = 0 ] && echo PASSED || echo FAILED)"
exit $fail
