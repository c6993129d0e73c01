"""Latency of the PyTorch reference on CPU, the yardstick for the C engine.

    cd train && /usr/bin/python3 -m impa.bench_torch [--weights ../models/impa-net.nc]
        [--grid 256x256 --grid 512x512] [--threads 2] [--runs 5] [--warmup 1]
        [--variants eager,eager-cl,jit,jit-cl] [--c-bench ../build/src/tools/impa-bench] [--json]

For every grid it times each variant (eager; eager with channels_last; the
model traced and frozen with torch.jit.freeze; the same with channels_last)
after `--warmup` runs, keeps the variant with the lowest median, and prints
median/min latency (each variant's output is checked against the first's),
GFLOP/s from the architecture's FLOP count
(impa.model.count_flops, formula in docs/reference-model.md, the same count as
the C engine's impa_engine_flops), the peak RSS of the process so far (all
variants and grids up to that point) and the 1-minute load average (the machine
is shared: a high load makes the figures meaningless).
With --c-bench it runs the C benchmark on the same weights, grid and threads
(`impa-bench --weights W --grid HxW --threads N --runs N`, reading its
`median_s=` line) and prints the ratio C/PyTorch (below 1: C is faster).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import time
from typing import Dict, List, Optional

import numpy as np
import torch

from .model import count_flops
from .weights import load, read_provenance

VARIANTS = ("eager", "eager-cl", "jit", "jit-cl")
SRC_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def peak_rss_mb() -> float:
    # ru_maxrss is in KiB on Linux: peak of the whole process so far.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def parse_grid(s: str) -> tuple:
    m = re.fullmatch(r"(\d+)x(\d+)", s.strip())
    if not m:
        raise argparse.ArgumentTypeError(f"grid {s!r}: expected HxW, e.g. 256x256")
    return int(m.group(1)), int(m.group(2))


def _prepare(model, variant: str, x: torch.Tensor):
    """Returns (callable, input) for one variant. channels_last applies to the
    5-D input's per-frame 4-D views inside the model, so only the weights are
    converted; the 5-D input stays contiguous."""
    import copy
    m = copy.deepcopy(model).eval()
    if variant.endswith("-cl"):
        m = m.to(memory_format=torch.channels_last)
    if variant.startswith("jit"):
        with torch.no_grad():
            m = torch.jit.freeze(torch.jit.trace(m, (x,), check_trace=False))
    return m, x


def _cpu_s() -> float:
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime


def time_variant(fn, x: torch.Tensor, runs: int, warmup: int):
    """Returns (latencies of the timed runs, CPU seconds (user + system, all
    threads) per timed run, output of the first run). CPU time is less
    sensitive than latency to other jobs on a shared machine."""
    times, first, cpu = [], None, 0.0
    with torch.no_grad():
        for i in range(warmup + runs):
            c0 = _cpu_s()
            t0 = time.perf_counter()
            y = fn(x)
            dt = time.perf_counter() - t0
            if first is None:
                first = y
            if i >= warmup:
                times.append(dt)
                cpu += _cpu_s() - c0
            del y
    return times, cpu / runs, first


def run_c_bench(path: str, weights: str, h: int, w: int, threads: int, runs: int) -> Dict:
    cmd = [path, "--weights", weights, "--grid", f"{h}x{w}", "--threads", str(threads),
           "--runs", str(runs)]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    except (OSError, subprocess.TimeoutExpired) as e:
        return {"error": f"{' '.join(cmd)}: {e}"}
    m = re.search(r"median_s=([0-9.eE+-]+)", p.stdout)
    if p.returncode != 0 or not m:
        tail = (p.stdout + p.stderr).strip().splitlines()[-3:]
        return {"error": f"{' '.join(cmd)}: exit {p.returncode}, no median_s= line: {tail}"}
    r = {"median_s": float(m.group(1)), "cmd": " ".join(cmd)}
    g = re.search(r"gflop=([0-9.eE+-]+)", p.stdout)
    if g:
        r["gflop"] = float(g.group(1))
    return r


def bench(weights: str, grids: List[tuple], threads: int, runs: int, warmup: int,
          variants: List[str], c_bench: Optional[str], log) -> Dict:
    torch.set_num_threads(threads)
    model, cfg = load(weights)
    prov = read_provenance(weights)
    out = {"weights": weights, "model": f"{prov.get('model_name', '?')} "
           f"{prov.get('model_version', '?')}", "threads": threads, "runs": runs,
           "warmup": warmup, "torch": torch.__version__, "grids": []}
    rng = np.random.RandomState(0)
    for h, w in grids:
        cfg.check_grid(h, w)
        flops = count_flops(cfg, h, w)
        x = torch.from_numpy(rng.uniform(0, 1, (1, cfg.n_frames_in, cfg.n_fields, h, w)).astype(np.float32))
        res = {"grid": f"{h}x{w}", "gflop": flops["total"] / 1e9, "variants": {}}
        ref = None
        for v in variants:
            fn, xin = _prepare(model, v, x)
            t, cpu, y = time_variant(fn, xin, runs, warmup)
            if ref is None:
                ref = y.contiguous()
            # every variant must compute the same thing, or its time means nothing
            r = {"median_s": statistics.median(t), "min_s": min(t), "cpu_s_per_run": cpu,
                 "max_abs_diff_vs_first": float((y.contiguous() - ref).abs().max())}
            res["variants"][v] = r
            log(f"  {h}x{w} {v:9s} median_s={r['median_s']:.4f} min_s={r['min_s']:.4f} "
                f"cpu_s={cpu:.3f} "
                f"max_abs_diff={r['max_abs_diff_vs_first']:.2e}")
            del fn, y
            if r["max_abs_diff_vs_first"] > 1e-3:
                raise ValueError(f"variant {v} differs from {variants[0]} by "
                                 f"{r['max_abs_diff_vs_first']:.3g}")
        del ref
        best = min(res["variants"], key=lambda k: res["variants"][k]["median_s"])
        b = res["variants"][best]
        res.update(best=best, median_s=b["median_s"], min_s=b["min_s"],
                   cpu_s_per_run=b["cpu_s_per_run"],
                   gflop_per_s=flops["total"] / 1e9 / b["median_s"], peak_rss_mb=peak_rss_mb(),
                   loadavg_1min=os.getloadavg()[0])
        if c_bench:
            c = run_c_bench(c_bench, weights, h, w, threads, runs)
            res["c_bench"] = c
            if "median_s" in c:
                res["ratio_c_over_torch"] = c["median_s"] / b["median_s"]
            if "gflop" in c and abs(c["gflop"] - res["gflop"]) > 1e-3 * max(1.0, res["gflop"]):
                log(f"  warning: C counts {c['gflop']:.3f} GFLOP, this count "
                    f"{res['gflop']:.3f} (docs/reference-model.md)")
        out["grids"].append(res)
    return out


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m impa.bench_torch",
                                 description="Time the PyTorch reference of IMPA-Net on CPU.")
    ap.add_argument("--weights", default=None,
                    help="weights file (default: <repo>/models/impa-net.nc)")
    ap.add_argument("--grid", type=parse_grid, action="append",
                    help="HxW, repeatable (default: 256x256 and 512x512)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--variants", default=",".join(VARIANTS),
                    help=f"comma-separated subset of {','.join(VARIANTS)}")
    ap.add_argument("--c-bench", metavar="PATH", help="C benchmark binary (impa-bench)")
    ap.add_argument("--json", action="store_true", help="print one JSON object only")
    args = ap.parse_args(argv)
    weights = args.weights or os.path.join(SRC_ROOT, "models", "impa-net.nc")
    grids = args.grid or [(256, 256), (512, 512)]
    variants = [v for v in args.variants.split(",") if v]
    bad = [v for v in variants if v not in VARIANTS]
    if bad or not variants or args.runs < 1 or args.threads < 1:
        ap.error(f"bad --variants {bad} / --runs / --threads")
    log = (lambda s: None) if args.json else (lambda s: print(s, flush=True))
    try:
        r = bench(weights, grids, args.threads, args.runs, args.warmup, variants,
                  args.c_bench, log)
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(r, indent=1))
        return 0
    print(f"model {r['model']} ({weights}), torch {r['torch']}, threads {r['threads']}, "
          f"{r['runs']} runs after {r['warmup']} warm-up")
    for g in r["grids"]:
        line = (f"grid={g['grid']} best={g['best']} median_s={g['median_s']:.4f} "
                f"min_s={g['min_s']:.4f} cpu_s={g['cpu_s_per_run']:.3f} gflop={g['gflop']:.3f} "
                f"gflop_per_s={g['gflop_per_s']:.2f} peak_rss_mb={g['peak_rss_mb']:.0f} "
                f"loadavg={g['loadavg_1min']:.1f}")
        if "ratio_c_over_torch" in g:
            line += (f" c_median_s={g['c_bench']['median_s']:.4f} "
                     f"ratio_c_over_torch={g['ratio_c_over_torch']:.3f}")
        elif "c_bench" in g:
            line += f" c_bench_error=\"{g['c_bench']['error']}\""
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
