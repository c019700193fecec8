#!/usr/bin/env python3
"""Summarizes bench/compare_llama_cpp.sh runs into one Markdown table (medians over reps).

usage: summarize.py RUNS_DIR THREADS PROMPT DECODE
"""
import json
import pathlib
import re
import statistics
import sys


def time_v(path):
    """Peak RSS (GiB) and CPU share (%) from a /usr/bin/time -v report."""
    text = path.read_text()
    rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", text).group(1))
    cpu = int(re.search(r"Percent of CPU this job got: (\d+)%", text).group(1))
    return rss_kb / 2**20, cpu


def llama_run(json_path):
    """llama-bench -o json: one entry for the prompt test, one for generation."""
    pp = tg = None
    for entry in json.loads(json_path.read_text()):
        if entry["n_prompt"] > 0 and entry["n_gen"] == 0:
            pp = entry["avg_ts"]
        elif entry["n_gen"] > 0 and entry["n_prompt"] == 0:
            tg = entry["avg_ts"]
    return pp, tg


def main():
    runs, threads, prompt = pathlib.Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    rows = {}
    for f in sorted(runs.glob("*.json")):
        engine, rest = f.stem.split("-", 1)
        name, _rep = rest.rsplit("-", 1)
        rss, cpu = time_v(f.with_suffix(".time"))
        if engine == "llama":
            pp, tg = llama_run(f)
            # llama-bench has no TTFT; its prompt time is the equivalent (no sampling).
            ttft = 1000.0 * prompt / pp
            load = None
        else:
            r = json.loads(f.read_text().strip().splitlines()[-1])
            pp, tg, ttft, load = (
                r["prompt_tokens_per_s"],
                r["decode_tokens_per_s"],
                r["ttft_ms"],
                r["load_ms"] / 1000.0,
            )
        rows.setdefault((name, engine), []).append((pp, tg, ttft, rss, cpu, load))

    med = lambda xs: statistics.median(xs) if xs and xs[0] is not None else None
    print(
        "| file | engine | threads | prompt tok/s | decode tok/s | TTFT ms | load s "
        "| peak RSS GiB | CPU % (each run) | prompt × llama.cpp | decode × llama.cpp |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name in sorted({n for n, _ in rows}):
        ref = rows.get((name, "llama"))
        ref_pp = med([r[0] for r in ref]) if ref else None
        ref_tg = med([r[1] for r in ref]) if ref else None
        for engine, label in (("llama", "llama.cpp 0c1e570"), ("jslm", "jslm (mapped)")):
            rs = rows.get((name, engine))
            if not rs:
                continue
            pp, tg, ttft = med([r[0] for r in rs]), med([r[1] for r in rs]), med([r[2] for r in rs])
            rss, load = max(r[3] for r in rs), med([r[5] for r in rs])
            cpus = "/".join(str(r[4]) for r in rs)
            ratio_pp = f"{pp / ref_pp:.2f}×" if ref_pp else ""
            ratio_tg = f"{tg / ref_tg:.2f}×" if ref_tg else ""
            load_s = f"{load:.2f}" if load is not None else "–"
            print(
                f"| {name} | {label} | {threads} | {pp:.1f} | {tg:.2f} | {ttft:.0f} | {load_s} "
                f"| {rss:.2f} | {cpus} | {ratio_pp} | {ratio_tg} |"
            )


if __name__ == "__main__":
    main()
