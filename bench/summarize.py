#!/usr/bin/env python3
"""Summarizes bench/compare_llama_cpp.sh runs into two Markdown tables (medians over reps):
prompt processing per prompt length, then decode, peak memory and CPU share per file.

usage: summarize.py RUNS_DIR THREADS
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


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def main():
    runs, threads = pathlib.Path(sys.argv[1]), sys.argv[2]
    # (file, engine) -> {"pp": {prompt: [tok/s]}, "ttft": {prompt: [ms]}, "tg": [], "roof": [],
    #                    "rss": [], "cpu": []}
    data = {}
    isa = ""
    for f in sorted(runs.glob("*.json")):
        m = re.match(r"(llama|jslm)-(.+?)(?:-p(\d+))?-(\d+)$", f.stem)
        engine, name = m.group(1), m.group(2)
        d = data.setdefault((name, engine),
                            {"pp": {}, "ttft": {}, "tg": [], "roof": [], "rss": [], "cpu": []})
        rss, cpu = time_v(f.with_suffix(".time"))
        d["rss"].append(rss)
        d["cpu"].append(cpu)
        if engine == "llama":
            for entry in json.loads(f.read_text()):
                if entry["n_prompt"] > 0 and entry["n_gen"] == 0:
                    p = entry["n_prompt"]
                    d["pp"].setdefault(p, []).append(entry["avg_ts"])
                    # llama-bench has no TTFT; its prompt time is the equivalent (no sampling).
                    d["ttft"].setdefault(p, []).append(1000.0 * p / entry["avg_ts"])
                elif entry["n_gen"] > 0 and entry["n_prompt"] == 0:
                    d["tg"].append(entry["avg_ts"])
        else:
            r = json.loads(f.read_text().strip().splitlines()[-1])
            p = r["prompt_tokens"]
            d["pp"].setdefault(p, []).append(r["prompt_tokens_per_s"])
            d["ttft"].setdefault(p, []).append(r["ttft_ms"])
            if r["decode_tokens"] > 0:
                d["tg"].append(r["decode_tokens_per_s"])
                # Decode's bound from memory, measured in the same run (`jslm bench`).
                if r.get("decode_roofline_tokens_per_s", 0) > 0:
                    d["roof"].append(r["decode_roofline_tokens_per_s"])
            isa = r.get("isa", "") or isa

    names = sorted({n for n, _ in data})
    print(f"jslm kernels: {isa or 'default'}; {threads} threads; medians of each run's rate\n")
    print("| file | prompt tokens | llama.cpp tok/s | jslm tok/s | jslm × llama.cpp "
          "| llama.cpp TTFT ms | jslm TTFT ms |")
    print("|---|---|---|---|---|---|---|")
    for name in names:
        ref, ours = data.get((name, "llama")), data.get((name, "jslm"))
        for p in sorted(set((ref or {}).get("pp", {})) | set((ours or {}).get("pp", {}))):
            a = med(ref["pp"].get(p, [])) if ref else None
            b = med(ours["pp"].get(p, [])) if ours else None
            ta = med(ref["ttft"].get(p, [])) if ref else None
            tb = med(ours["ttft"].get(p, [])) if ours else None
            fmt = lambda x, f: f.format(x) if x is not None else "–"
            ratio = f"{b / a:.2f}×" if a and b else "–"
            print(f"| {name} | {p} | {fmt(a, '{:.1f}')} | {fmt(b, '{:.1f}')} | {ratio} "
                  f"| {fmt(ta, '{:.0f}')} | {fmt(tb, '{:.0f}')} |")
    print()
    print("| file | llama.cpp decode tok/s | jslm decode tok/s | jslm × llama.cpp "
          "| memory roofline tok/s (llama.cpp / jslm share) "
          "| llama.cpp peak RSS GiB | jslm peak RSS GiB | CPU % llama.cpp | CPU % jslm |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in names:
        ref, ours = data.get((name, "llama")), data.get((name, "jslm"))
        a = med(ref["tg"]) if ref else None
        b = med(ours["tg"]) if ours else None
        ratio = f"{b / a:.2f}×" if a and b else "–"
        roof = med(ours["roof"]) if ours and ours["roof"] else None
        share = lambda x: f"{100 * x / roof:.0f} %" if x else "–"
        roofline = f"{roof:.2f} ({share(a)} / {share(b)})" if roof else "–"
        rss = lambda d: f"{max(d['rss']):.2f}" if d else "–"
        cpu = lambda d: "/".join(str(c) for c in d["cpu"]) if d else "–"
        print(f"| {name} | {a or 0:.2f} | {b or 0:.2f} | {ratio} | {roofline} | {rss(ref)} "
              f"| {rss(ours)} | {cpu(ref)} | {cpu(ours)} |")


if __name__ == "__main__":
    main()
