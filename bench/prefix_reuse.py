#!/usr/bin/env python3
"""Time to first token of the model card's example prompt through `jslm serve`, as a user of
the app or the local server meets it: first with an empty cache, then after another
instruction (the card's system sentence and first heading are reused), then regenerated (all
but the last 8 prompt tokens are reused). Alternates `REPS` rounds; each round restarts the
server so its first request meets an empty cache.

    python3 bench/prefix_reuse.py MODEL.gguf [--tokenizer tokenizer.json] [--reps 3]

TTFT is measured by the client: from sending the request to the first streamed text.
"""

import argparse
import http.client
import json
import socket
import statistics
import subprocess
import sys
import time

SYSTEM = "以下は、タスクを説明する指示と、文脈のある入力の組み合わせです。要求を適切に満たす応答を書きなさい。"


def card_prompt(instruction, input_text=""):
    """The model card's `build_prompt`, byte for byte."""
    p = SYSTEM + "\n\n### 指示: \n" + instruction
    if input_text:
        p += "\n\n### 入力: \n" + input_text
    return p + "\n\n### 応答: \n"


EXAMPLE = card_prompt(
    "与えられたことわざの意味を小学生でも分かるように教えてください。", "情けは人のためならず"
)
OTHER = card_prompt("日本の首都はどこですか？")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ttft_ms(port, prompt):
    """Client-side time to the first streamed text of a completion of `prompt`."""
    body = json.dumps(
        {"prompt": prompt, "max_tokens": 4, "temperature": 0, "stream": True}
    )
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    start = time.perf_counter()
    conn.request("POST", "/v1/completions", body, {"Content-Type": "application/json"})
    resp = conn.getresponse()
    if resp.status != 200:
        raise SystemExit(f"HTTP {resp.status}: {resp.read()[:300]!r}")
    first = None
    for line in resp:
        line = line.strip()
        if not line.startswith(b"data: ") or line == b"data: [DONE]":
            continue
        chunk = json.loads(line[6:])
        if first is None and any(c.get("text") for c in chunk.get("choices", [])):
            first = (time.perf_counter() - start) * 1e3
    conn.close()
    return first


def wait_ready(port, proc):
    for _ in range(600):
        if proc.poll() is not None:
            raise SystemExit("jslm serve exited")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/v1/models")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit("jslm serve did not start")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--tokenizer")
    ap.add_argument("--jslm", default="target/release/jslm")
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    rows = {"empty cache": [], "after another instruction": [], "regenerated": []}
    for rep in range(args.reps):
        port = free_port()
        cmd = [args.jslm, "serve", "--model", args.model, "--port", str(port)]
        if args.tokenizer:
            cmd += ["--tokenizer", args.tokenizer]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_ready(port, proc)
            # The first request of a fresh process also warms the pages and pools: time a
            # warm empty-cache run by asking for a prompt that shares nothing first.
            ttft_ms(port, "warm up " * 20)
            rows["empty cache"].append(ttft_ms(port, EXAMPLE))
            ttft_ms(port, OTHER)
            rows["after another instruction"].append(ttft_ms(port, EXAMPLE))
            rows["regenerated"].append(ttft_ms(port, EXAMPLE))
        finally:
            proc.terminate()
            proc.wait()
        print(f"rep {rep + 1}: " + ", ".join(f"{k} {v[-1]:.0f} ms" for k, v in rows.items()),
              file=sys.stderr)
    print("| card's example prompt (130 tokens) | TTFT ms, median | each rep |")
    print("|---|---|---|")
    for k, v in rows.items():
        print(f"| {k} | {statistics.median(v):.0f} | {' / '.join(f'{x:.0f}' for x in v)} |")


if __name__ == "__main__":
    main()
