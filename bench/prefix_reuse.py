#!/usr/bin/env python3
"""Time to first token of the model card's example prompt through `jslm serve`, as a user of
the app or the local server meets it: as the first request after the load, sent at once and
sent `--pause` seconds later (jslm runs the card's system sentence and first heading into its
cache right after a load, and a request that comes sooner waits for that pass); then with an
empty cache (after a prompt that shares nothing with the card's, which also warms the pages),
then after another instruction (the card's system sentence and first heading are reused), then
regenerated. Each round restarts the server. With `--llama-server PATH`, llama.cpp's server (whose
`cache_prompt` reuses a slot's common prefix the same way) runs the same rounds on the same
file, alternated with jslm's. It is sent the token ids jslm's tokenizer makes of the same
prompts (from `jslm generate --json`): the random bench files carry a stand-in vocabulary, with
which llama.cpp would tokenize the card's prompt into 333 tokens instead of 130.

    python3 bench/prefix_reuse.py MODEL.gguf [--tokenizer tokenizer.json] [--reps 3]
        [--threads 2] [--pause 10] [--llama-server target/bench/llama.cpp/build/bin/llama-server]

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


EXAMPLE_ARGS = ("与えられたことわざの意味を小学生でも分かるように教えてください。", "情けは人のためならず")
OTHER_ARGS = ("日本の首都はどこですか？",)
EXAMPLE = card_prompt(*EXAMPLE_ARGS)
OTHER = card_prompt(*OTHER_ARGS)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ttft_ms(port, prompt):
    """Client-side time to the first streamed text of a completion of `prompt` (a string, or
    token ids)."""
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
        if first is None and any("text" in c for c in chunk.get("choices", [])):
            first = (time.perf_counter() - start) * 1e3
    conn.close()
    return first


def wait_ready(port, proc):
    for _ in range(1200):
        if proc.poll() is not None:
            raise SystemExit("the server exited")
        for path in ("/health", "/v1/models"):
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", path)
                if conn.getresponse().status == 200:
                    return
            except OSError:
                pass
        time.sleep(0.5)
    raise SystemExit("the server did not start")


def prompt_ids(args, instruction, input_text=""):
    """The token ids jslm makes of the card's prompt (the last line of `generate --json`)."""
    cmd = [args.jslm, "generate", "--model", args.model, "--instruction", instruction,
           "--max-new-tokens", "1", "--greedy", "--json", "--threads", str(args.threads)]
    if input_text:
        cmd += ["--input", input_text]
    if args.tokenizer:
        cmd += ["--tokenizer", args.tokenizer]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])["prompt_token_ids"]


def round_of(cmd, port, rows, prompts, pause):
    """One round on a freshly started server, TTFTs into `rows`: with a `pause` (seconds, 0
    included), its first request that long after it is ready; else the other cases. (They
    need a server of their own: llama-server keeps earlier prompts' states in RAM and would
    restore the first request's.)"""
    warm, example, other = prompts
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ready(port, proc)
        if pause is not None:
            time.sleep(pause)
            rows[first_case(pause)].append(ttft_ms(port, example))
            return
        # A fresh process's first request also warms its pages and pools: a prompt that
        # shares nothing with the card's goes first.
        ttft_ms(port, warm)
        rows["empty cache"].append(ttft_ms(port, example))
        ttft_ms(port, other)
        rows["after another instruction"].append(ttft_ms(port, example))
        rows["regenerated"].append(ttft_ms(port, example))
    finally:
        proc.terminate()
        proc.wait()


def first_case(pause):
    return f"first request, {pause:g} s after the load"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--tokenizer")
    ap.add_argument("--jslm", default="target/release/jslm")
    ap.add_argument("--llama-server")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--pause", type=float, default=10,
                    help="seconds between the server being ready and the first request, as a "
                         "user writes the first instruction (the second round of each rep)")
    args = ap.parse_args()
    cases = [first_case(0), first_case(args.pause), "empty cache",
             "after another instruction", "regenerated"]
    engines = {"jslm": {k: [] for k in cases}}
    if args.llama_server:
        engines["llama.cpp"] = {k: [] for k in cases}
    texts = ("warm up " * 20, EXAMPLE, OTHER)
    if args.llama_server:
        # The warm-up needs no particular ids: 40 that start no card prompt.
        ids = (list(range(1000, 1040)), prompt_ids(args, *EXAMPLE_ARGS),
               prompt_ids(args, *OTHER_ARGS))
        print(f"prompt tokens: {', '.join(str(len(i)) for i in ids)}", file=sys.stderr)
    for rep in range(args.reps):
        for name, rows in engines.items():
            port = free_port()
            if name == "jslm":
                cmd = [args.jslm, "serve", "--model", args.model, "--port", str(port),
                       "--threads", str(args.threads)]
                if args.tokenizer:
                    cmd += ["--tokenizer", args.tokenizer]
            else:
                cmd = [args.llama_server, "-m", args.model, "--port", str(port),
                       "-t", str(args.threads), "-c", "4096", "-np", "1"]
            for pause in (0, args.pause, None):
                round_of(cmd, port, rows, texts if name == "jslm" else ids, pause)
            print(f"rep {rep + 1} {name}: "
                  + ", ".join(f"{k} {v[-1]:.0f} ms" for k, v in rows.items()),
                  file=sys.stderr, flush=True)
    names = list(engines)
    head = " | ".join(f"{n} TTFT ms (each rep)" for n in names)
    ratio = " | jslm × llama.cpp" if len(names) == 2 else ""
    print(f"| card's example prompt (130 tokens) | {head}{ratio} |")
    print("|---" * (1 + len(names) + (1 if ratio else 0)) + "|")
    for k in cases:
        cells = []
        for n in names:
            v = engines[n][k]
            cells.append(f"{statistics.median(v):.0f} ({' / '.join(f'{x:.0f}' for x in v)})")
        if ratio:
            j, l = (statistics.median(engines[n][k]) for n in names)
            cells.append(f"{j / l:.2f}×")
        print(f"| {k} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
