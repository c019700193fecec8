#!/usr/bin/env python3
"""How long `jslm serve` stays busy after a client gives up during a long prompt (the same
path as the window's Stop and Esc): a request whose prompt takes tens of seconds on a CPU is
sent and its connection closed `--after` seconds later; a short request sent at that moment
times when the engine is free again. Each rep first runs a long prompt to its end (how long a
server that only looked at the cancel flag between tokens would have stayed busy) and the short
request on the idle server (its own time, to compare with). Every long prompt starts with a
different number, so none reuses another's cache.

    python3 bench/stop_latency.py MODEL.gguf [--tokenizer tokenizer.json] [--repeat 120]
        [--after 5] [--reps 3] [--threads 2]
"""

import argparse
import http.client
import json
import statistics
import subprocess
import sys
import time

from prefix_reuse import free_port, wait_ready

SENTENCE = "日本の首都は東京で、人口はおよそ千四百万人です。"


def post(port, prompt, max_tokens=1):
    """Sends a completion and reads it to its end: (seconds, prompt tokens)."""
    body = json.dumps({"prompt": prompt, "max_tokens": max_tokens, "temperature": 0})
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=900)
    start = time.perf_counter()
    conn.request("POST", "/v1/completions", body, {"Content-Type": "application/json"})
    resp = conn.getresponse()
    answer = json.loads(resp.read())
    conn.close()
    if resp.status != 200:
        raise SystemExit(f"HTTP {resp.status}: {answer}")
    return time.perf_counter() - start, answer["usage"]["prompt_tokens"]


def dropped(port, prompt, after):
    """Sends a streamed completion of `prompt` and closes the connection `after` seconds
    later, before its first token."""
    body = json.dumps({"prompt": prompt, "max_tokens": 1, "temperature": 0, "stream": True})
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=900)
    conn.request("POST", "/v1/completions", body, {"Content-Type": "application/json"})
    time.sleep(after)
    conn.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--tokenizer")
    ap.add_argument("--jslm", default="target/release/jslm")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=120,
                    help="times the sentence is repeated in the long prompt")
    ap.add_argument("--after", type=float, default=5)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    port = free_port()
    cmd = [args.jslm, "serve", "--model", args.model, "--port", str(port),
           "--threads", str(args.threads)]
    if args.tokenizer:
        cmd += ["--tokenizer", args.tokenizer]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rows = {"whole long prompt, s": [], "short request, idle server, s": [],
            "short request after the drop, s": []}
    tokens = 0
    try:
        wait_ready(port, proc)
        post(port, "warm up " * 20)
        n = 0
        for rep in range(args.reps):
            long_prompt = lambda: f"{n}. " + SENTENCE * args.repeat
            n += 1
            seconds, tokens = post(port, long_prompt())
            rows["whole long prompt, s"].append(seconds)
            rows["short request, idle server, s"].append(post(port, f"{n}. こんにちは")[0])
            n += 1
            dropped(port, long_prompt(), args.after)
            rows["short request after the drop, s"].append(post(port, f"{n}. こんにちは")[0])
            n += 1
            print(f"rep {rep + 1}: " + ", ".join(f"{k} {v[-1]:.2f}" for k, v in rows.items()),
                  file=sys.stderr, flush=True)
    finally:
        proc.terminate()
        proc.wait()
    print(f"long prompt: {tokens} tokens, dropped {args.after:g} s after it was sent")
    print("| | median (each rep) |")
    print("|---|---|")
    for k, v in rows.items():
        each = " / ".join(f"{x:.2f}" for x in v)
        print(f"| {k} | {statistics.median(v):.2f} ({each}) |")


if __name__ == "__main__":
    main()
