#!/usr/bin/env python3
"""Ctrl-C (SIGINT) to `jslm generate --json` during decode: seconds until the process exits,
its exit code, and whether its last line still says how the run ended.

    python3 bench/sigint_latency.py target/release/jslm [MODEL]

MODEL defaults to the random-weight 7B Q4_K_M of bench/compare_llama_cpp.sh. Three runs, each
interrupted after 20 streamed tokens.
"""
import subprocess, sys, time, signal, json
binary = sys.argv[1]
model = sys.argv[2] if len(sys.argv) > 2 else "target/bench/models/random-7b-q4_k_m-llama-quantize.gguf"
for rep in range(3):
    p = subprocess.Popen([binary, "generate", "--model", model,
        "--tokenizer", "tests/fixtures/tokenizer/tokenizer.json", "--instruction", "日本の四季について説明してください。",
        "--max-new-tokens", "400", "--threads", "2", "--json"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    tokens = 0
    while tokens < 20:
        line = p.stdout.readline()
        if '"token"' in line:
            tokens += 1
    t0 = time.monotonic()
    p.send_signal(signal.SIGINT)
    rest = p.stdout.read()
    p.wait()
    dt = time.monotonic() - t0
    last = rest.strip().splitlines()[-1] if rest.strip() else ""
    reason = json.loads(last).get("stop_reason") if last.startswith("{") and "stop_reason" in last else None
    print(f"{binary}: exit {p.returncode} after {dt:.3f} s; last line stop_reason={reason}")
    time.sleep(3)
