"""The project's extrapolation against pySTEPS Lucas-Kanade on every radar event.

    cd train && /usr/bin/python3 -m impa.compare [--extra "--scheme impa-extrap-3"] \
        [--candidate NAME "ARGS" ...] [--pysteps DIR] [--cache DIR] [--events a,b] \
        [--per-lead] [--json OUT.json] [--threads 2] [--bench]

For every event of impa.data.EVENTS (BoM Brisbane and Melbourne, FMI x2,
MeteoSwiss x3, KNMI: all of ../shared/data/pysteps-data with a time series),
decoded on the project's 10-min clock (impa.data.load_event), the same issue
times are forecast by

- the project's extrapolation: `impa-extrapolate` (batch NetCDF layout), given
  4 input frames (it uses as many as its scheme asks for), the event's grid
  spacing (`--pixel-km`) and step (`--step-min 10`), plus the --extra arguments;
- pySTEPS 1.21.3 LK + semi-Lagrangian extrapolation,
  ../shared/peers/pysteps_nowcast.py (4 inputs, the anchors' settings), run
  with PYTHONPATH=--pysteps (default $PYSTEPS_PATH, else
  /work/pysteps/pysteps-1.21.3). Skipped with a message when it does not import.

Issue times: a start s takes frames s..s+3 as inputs and s+4..s+15 as the 12
observed leads (10..120 min); a start counts when each of those 16 frames has
radar data. Every start is used, except on Brisbane (129 starts) where every
third is (every 30 min from 00:30 UTC, 43 starts: the anchors' protocol).

Scores: the project's offline verification (impa.evaluate conventions):
pixel events `>= thr` at 20/35/45 dBZ; a pixel counts where the observation and
the last input have radar data, a forecast pixel with no value (advected in
from outside) is "no echo"; contingency counts summed over the starts of an
event per lead, then HSS, CSI, POD, FAR and frequency bias per lead and their
mean over leads 10..120 min. The "mean" row averages the per-event means (every
event one sample of weather), at each threshold over the events with echo there
(MIN_ECHO_KM2; the others are marked *). Differences to pySTEPS come with a
paired block bootstrap over starts (bootstrap_diff). Besides impa.data.EVENTS:
knmi-2021 (EXTRA_EVENTS: the winter evenings with rain), and MeteoNet SE
2016-08-28 scored apart at short leads (SHORT_*: 5-min steps, leads 5-30 min).

Per event and method the contingency tables are cached in --cache (default
$IMPA_EXTRAP_CACHE, else /work/extrap-cache, else train/cache/compare), keyed
by the event, its number of starts, the hash of its decoded frames, the hash of the impa-extrapolate binary and
of its --version text (the extrapolation code is linked into the binary, so a
rebuilt scheme is never served old tables) and the arguments (pySTEPS: by the
peer script's hash), so a rerun only computes what changed. The data and the
peers are found at ../shared, or beside $IMPA_SHARED_DATA (a worktree elsewhere).

--candidate NAME "ARGS" (repeatable) scores more argument sets of
impa-extrapolate; with --loeo the candidate is chosen per held-out event by the
best mean of HSS 35 and 45 dBZ over the *other* events (leave-one-event-out),
and the held-out scores of those choices are reported.

--bench: impa-bench-extrap (512x512, 12 leads, 2 threads) and pySTEPS LK +
extrapolation on the same synthetic 512x512 frames, in the same run, and their
ratio.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np

from . import data as D
from .ctools import find_tool, read_nc, write_nc
from .evaluate import score_method

THRESHOLDS = (20.0, 35.0, 45.0)
T_IN, T_OUT = 4, 12
# ../shared/peers, or beside $IMPA_SHARED_DATA (a worktree outside the repo's parent)
PEER_DIR = (Path(os.environ["IMPA_SHARED_DATA"]).parent / "peers"
            if os.environ.get("IMPA_SHARED_DATA") else D.TRAIN_DIR.parent.parent / "shared" / "peers")
# Grid spacing of the products read here but not by impa.data (MeteoNet on its
# native 0.01 deg grid, set when it is read); every other: impa.data.pixel_km.
SHORT_PIXEL_KM: Dict[str, float] = {}
# Events beyond impa.data.EVENTS: name -> loader(shared data dir) (knmi-2021:
# the winter evenings with echo, impa.data.load_knmi2021).
EXTRA_EVENTS = {"knmi-2021": lambda data: D.load_knmi2021(data / "knmi-2021")}
# An event counts at a threshold (its mean, the per-event differences) only when
# its observations hold echo at that threshold: on average at least this area per
# start and lead (a small convective cell). Stratiform knmi-2021 has none at 35
# and 45 dBZ; its HSS there would be the score of a handful of cells.
MIN_ECHO_KM2 = 50.0
# Block bootstrap over starts: consecutive starts share most of their frames, so
# blocks of this span are resampled (circularly), at most half an event's starts.
BOOT_BLOCK_MIN = 60
BOOT_N = 1000
# MeteoNet SE 2016-08 (impa.data.load_meteonet_runs): only runs of 15 and 12
# 5-min frames, too short for 2 h leads; scored apart on its own clock: 4
# inputs 5 min apart, leads 5..30 min, grid spacing of the 0.01 deg grid.
SHORT_NAME = "meteonet-se-20160828"
SHORT_LEADS, SHORT_STEP_MIN = 6, 5
STRIDE = {"bom-brisbane-20201031": 3}


def pixel_km(name: str) -> float:
    """Grid spacing (km): the new scheme's parameters are in km."""
    return SHORT_PIXEL_KM.get(name) or D.pixel_km(name)


def cache_dir(explicit: Optional[str]) -> Path:
    if explicit:
        return Path(explicit)
    env = os.environ.get("IMPA_EXTRAP_CACHE")
    if env:
        return Path(env)
    if Path("/work").is_dir() and os.access("/work", os.W_OK):
        return Path("/work/extrap-cache")
    return D.CACHE_DIR / "compare"


def _sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]


def starts_of(name: str, dbz: np.ndarray, leads: int = T_OUT) -> List[int]:
    L = T_IN + leads
    has = np.array([np.isfinite(f).any() for f in dbz])
    st = [s for s in range(0, dbz.shape[0] - L + 1) if has[s:s + L].all()]
    return st[::STRIDE.get(name, 1)]


def tables(fc: np.ndarray, inp: np.ndarray, obs: np.ndarray) -> np.ndarray:
    """[thr, lead, 4] contingency counts (impa.evaluate.score_method's rules)."""
    return score_method(fc, inp, obs, THRESHOLDS)


def lead_scores(tab: np.ndarray) -> Dict[str, np.ndarray]:
    """tab [..., lead, 4] -> per-lead HSS, CSI, POD, FAR, bias [..., lead] (NaN undefined)."""
    h, m, f, n = (tab[..., i].astype(np.float64) for i in range(4))
    with np.errstate(invalid="ignore", divide="ignore"):
        den = (h + m) * (m + n) + (h + f) * (f + n)
        return {
            "hss": np.where(den > 0, 2.0 * (h * n - m * f) / den, np.nan),
            "csi": np.where(h + m + f > 0, h / (h + m + f), np.nan),
            "pod": np.where(h + m > 0, h / (h + m), np.nan),
            "far": np.where(h + f > 0, f / (h + f), np.nan),
            "bias": np.where(h + m > 0, (h + f) / (h + m), np.nan),
        }


def mean_scores(tab: np.ndarray) -> Dict[str, List[float]]:
    """Mean over leads (leads where a score is undefined skipped) per threshold."""
    out = {}
    for k, v in lead_scores(tab).items():
        out[k] = [float(np.nanmean(r)) if np.isfinite(r).any() else float("nan") for r in v]
    return out


def loeo(events: Dict[str, Dict[str, dict]], methods: List[str], names: List[str]) -> dict:
    """Leave-one-event-out: for each event, the method with the best mean of HSS
    35 and 45 dBZ over the *other* events (ties: the first in `methods`); its
    scores on the held-out event, and their mean over events.
    events[name][method]["hss"] = [hss20, hss35, hss45]."""
    chosen, held = {}, []
    for name in names:
        others = [n for n in names if n != name]
        crit = {m: float(np.nanmean([events[n][m]["hss"][1] + events[n][m]["hss"][2]
                                     for n in others])) for m in methods}
        best = max(methods, key=lambda m: crit[m])  # max keeps the first of equals
        chosen[name] = best
        held.append(events[name][best]["hss"])
    return {"chosen": chosen,
            "mean": [float(np.nanmean([h[i] for h in held])) for i in range(len(THRESHOLDS))]}


def echo_km2(tab: np.ndarray, name: str) -> List[float]:
    """Observed area >= each threshold, km2 per start and lead: tab [start, thr, lead, 4]."""
    obs = (tab[..., 0] + tab[..., 1]).astype(np.float64)  # hits + misses
    return [float(obs[:, i].mean()) * pixel_km(name) ** 2 for i in range(tab.shape[1])]


def counts_at(per: np.ndarray, name: str) -> List[bool]:
    """Whether the event counts at each threshold (MIN_ECHO_KM2)."""
    return [a >= MIN_ECHO_KM2 for a in echo_km2(per, name)]


def boot_block(name: str, n: int) -> int:
    step = (SHORT_STEP_MIN if name == SHORT_NAME else D.STEP_MIN) * STRIDE.get(name, 1)
    return max(1, min(int(round(BOOT_BLOCK_MIN / step)), n // 2))


def boot_index(n: int, block: int, rng: np.random.Generator) -> np.ndarray:
    """Circular block bootstrap: n start indices from blocks of `block` consecutive starts."""
    k = -(-n // block)
    first = rng.integers(0, n, size=k)
    return ((first[:, None] + np.arange(block)[None]) % n).ravel()[:n]


def bootstrap_diff(per: Dict[str, Dict[str, np.ndarray]], a: str, b: str, names: List[str],
                   n_boot: int = BOOT_N, seed: int = 1) -> dict:
    """Paired block bootstrap over starts of HSS(a) - HSS(b) (mean over leads) per
    event and of its mean over the events counting at each threshold:
    5-95 % intervals, [thr][lo, hi]. per[name][method] = [start, thr, lead, 4]."""
    rng = np.random.default_rng(seed)
    nt = len(THRESHOLDS)
    ev = {n: np.full((n_boot, nt), np.nan) for n in names}
    for r in range(n_boot):
        for n in names:
            pa, pb = per[n][a], per[n][b]
            idx = boot_index(pa.shape[0], boot_block(n, pa.shape[0]), rng)
            ha = mean_scores(pa[idx].sum(0))["hss"]
            hb = mean_scores(pb[idx].sum(0))["hss"]
            ev[n][r] = np.array(ha) - np.array(hb)
    use = {n: counts_at(per[n][b], n) for n in names}
    mean = np.full((n_boot, nt), np.nan)
    for i in range(nt):
        cols = [ev[n][:, i] for n in names if use[n][i]]
        if cols:
            mean[:, i] = np.nanmean(np.stack(cols, 1), 1)

    def iv(x):
        return [[float(np.nanpercentile(x[:, i], 5)), float(np.nanpercentile(x[:, i], 95))]
                for i in range(nt)]
    return {"events": {n: iv(ev[n]) for n in names}, "mean": iv(mean)}


def data_id(dbz: np.ndarray) -> str:
    """Hash of an event's decoded frames: a changed decoding is never served old tables."""
    return hashlib.sha256(np.ascontiguousarray(dbz, np.float32).tobytes()).hexdigest()[:8]


def impa_key(name: str, n_starts: int, tool_id: str, args: List[str]) -> str:
    """Cache key of an impa-extrapolate column: event, its starts, the tool's
    identity (hash of the binary: the extrapolation code is linked in) and the
    arguments, so a rebuilt tool or another scheme is never served old tables."""
    ah = hashlib.sha256(" ".join(args).encode()).hexdigest()[:8]
    return f"{name}-impa-{tool_id}-{ah}-{n_starts}"


def tool_id(tool: str) -> str:
    """Hash of the binary and of its --version text."""
    r = subprocess.run([tool, "--version"], capture_output=True, text=True)
    h = hashlib.sha256(Path(tool).read_bytes())
    h.update(r.stdout.encode())
    return h.hexdigest()[:12]


# ------------------------------------------------------------- forecasts ----

def _chunks(starts: Sequence[int], n: int):
    for a in range(0, len(starts), n):
        yield starts[a:a + n]


def start_tables(fc: np.ndarray, inp: np.ndarray, obs: np.ndarray) -> np.ndarray:
    """[start, thr, lead, 4] contingency counts, one table per start (their sum
    over starts is `tables`; kept apart for the bootstrap over starts)."""
    return np.stack([tables(fc[i:i + 1], inp[i:i + 1], obs[i:i + 1]) for i in range(fc.shape[0])])


def run_impa(tool: str, args: List[str], name: str, dbz: np.ndarray, starts: List[int],
             threads: int, leads: int = T_OUT, step_min: int = D.STEP_MIN) -> tuple:
    tab = []
    secs = 0.0
    for ch in _chunks(starts, 4):
        seq = np.stack([dbz[s:s + T_IN + leads] for s in ch])
        inp, obs = seq[:, :T_IN], seq[:, T_IN:]
        with tempfile.TemporaryDirectory(prefix="impa-cmp-") as d:
            fin, fout = os.path.join(d, "in.nc"), os.path.join(d, "out.nc")
            write_nc(fin, inp, "t_in")
            cmd = [tool, "--input", fin, "--output", fout, "--leads", str(leads),
                   "--threads", str(threads), "--pixel-km", str(pixel_km(name)),
                   "--step-min", str(step_min)] + args
            t0 = time.perf_counter()
            r = subprocess.run(cmd, capture_output=True, text=True)
            secs += time.perf_counter() - t0
            if r.returncode != 0:
                raise SystemExit(f"compare: {' '.join(cmd)}: exit {r.returncode}: "
                                 f"{r.stderr.strip()[-400:]}")
            fc = read_nc(fout)
        tab.append(start_tables(fc, inp, obs))
    return np.concatenate(tab), secs / max(1, len(starts))


def pysteps_env(path: Optional[str]) -> Optional[dict]:
    p = path or os.environ.get("PYSTEPS_PATH") or "/work/pysteps/pysteps-1.21.3"
    env = dict(os.environ, PYTHONPATH=p, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "2"))
    r = subprocess.run(["/usr/bin/python3", "-c", "import pysteps.motion, pysteps.nowcasts"],
                       env=env, capture_output=True, text=True)
    return env if r.returncode == 0 else None


def run_pysteps(env: dict, name: str, dbz: np.ndarray, starts: List[int],
                leads: int = T_OUT) -> tuple:
    script = PEER_DIR / "pysteps_nowcast.py"
    tab = []
    secs = []
    for ch in _chunks(starts, 4):
        seq = np.stack([dbz[s:s + T_IN + leads] for s in ch])
        inp, obs = seq[:, :T_IN], seq[:, T_IN:]
        with tempfile.TemporaryDirectory(prefix="impa-cmp-") as d:
            fin, fout = os.path.join(d, "in.nc"), os.path.join(d, "out.nc")
            write_nc(fin, inp, "t_in")
            cmd = ["/usr/bin/python3", str(script), "--input", fin, "--output", fout,
                   "--leads", str(leads), "--frames", str(T_IN)]
            r = subprocess.run(cmd, env=env, capture_output=True, text=True)
            if r.returncode != 0:
                raise SystemExit(f"compare: pySTEPS: exit {r.returncode}: {r.stderr.strip()[-400:]}")
            fc = read_nc(fout)
            import netCDF4
            with netCDF4.Dataset(fout) as ds:
                secs += [float(x) for x in ds["seconds"][:]]
        tab.append(start_tables(fc, inp, obs))
    return np.concatenate(tab), float(np.median(secs)) if secs else float("nan")


def cached(cdir: Path, key: str, fn):
    path = cdir / f"{key}.json"
    if path.exists():
        d = json.loads(path.read_text())
        return np.array(d["tab"], np.int64), d["seconds"]
    tab, secs = fn()
    cdir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"tab": tab.tolist(), "seconds": secs}))
    os.replace(tmp, path)
    return tab, secs


# ----------------------------------------------------------------- report ----

def _f(x: float) -> str:
    return "  n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.3f}"


def summary_line(ms: Dict[str, List[float]]) -> str:
    h = ms["hss"]
    return (f"HSS {_f(h[0])} | {_f(h[1])} | {_f(h[2])}   CSI35 {_f(ms['csi'][1])} "
            f"POD35 {_f(ms['pod'][1])} FAR35 {_f(ms['far'][1])} bias35 {_f(ms['bias'][1])}   "
            f"CSI45 {_f(ms['csi'][2])} POD45 {_f(ms['pod'][2])} FAR45 {_f(ms['far'][2])} "
            f"bias45 {_f(ms['bias'][2])}")


def bench(tool_bench: Optional[str], env: Optional[dict], threads: int) -> None:
    """Same-run speed: impa-bench-extrap vs pySTEPS LK on the same synthetic 512x512 frames."""
    if tool_bench is None:
        print("bench: impa-bench-extrap not found: build the project first")
        return
    r = subprocess.run([tool_bench, "--grid", "512x512", "--leads", "12", "--threads", str(threads),
                        "--runs", "9"], capture_output=True, text=True)
    line = [ln for ln in r.stdout.splitlines() if ln.startswith("extrap ")]
    print(r.stdout.strip())
    if r.returncode != 0 or not line:
        print(f"bench: impa-bench-extrap failed: {r.stderr.strip()[-300:]}")
        return
    ours = float(dict(kv.split("=") for kv in line[-1].split()[1:])["total_s"])
    if env is None:
        print("bench: pySTEPS not importable: no ratio")
        return
    # the bench's own field (src/tools/bench_extrap.c synth): 7 Gaussian cells
    # translating by (3, -2) cells per step; pySTEPS gets 4 frames of it
    yy, xx = np.mgrid[0:512, 0:512].astype(np.float64)
    cx = (0.2, 0.45, 0.7, 0.3, 0.6, 0.8, 0.5)
    cy = (0.3, 0.5, 0.25, 0.7, 0.75, 0.55, 0.15)
    rad = (0.06, 0.09, 0.05, 0.08, 0.04, 0.07, 0.05)
    fr = []
    for t in range(4):
        z = np.zeros((512, 512))
        for k in range(7):
            dx, dy = (xx - 3.0 * t) - cx[k] * 512, (yy + 2.0 * t) - cy[k] * 512
            z += 1e5 * np.exp(-(dx * dx + dy * dy) / (2 * (rad[k] * 512) ** 2))
        fr.append(np.where(z > 1, 10 * np.log10(np.maximum(z, 1e-30)), -32.0))
    ours_cpu = float(dict(kv.split("=") for kv in line[-1].split()[1:])["cpu_s"])
    import netCDF4
    import resource

    def peer(n: int) -> tuple:
        """pySTEPS on n copies of the frames: (median per-forecast seconds, the
        process's CPU seconds: user + system)."""
        inp = np.stack(fr)[None].repeat(n, 0).astype(np.float32)
        with tempfile.TemporaryDirectory(prefix="impa-cmp-") as d:
            fin, fout = os.path.join(d, "in.nc"), os.path.join(d, "out.nc")
            write_nc(fin, inp, "t_in")
            r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            r = subprocess.run(["/usr/bin/python3", str(PEER_DIR / "pysteps_nowcast.py"), "--input",
                                fin, "--output", fout, "--leads", "12", "--frames", "4"],
                               env=env, capture_output=True, text=True)
            r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            if n > 1:
                print("pySTEPS:", r.stdout.strip())
            with netCDF4.Dataset(fout) as ds:
                sec = float(np.median(ds["seconds"][:]))
        return sec, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)

    ps, cpu5 = peer(5)
    _, cpu1 = peer(1)
    # per-forecast CPU: the 4 extra forecasts' share (start-up and I/O cancel out)
    ps_cpu = (cpu5 - cpu1) / 4
    print(f"bench 512x512 12 leads: impa-extrapolate motion+leads {ours:.3f} s ({threads} threads), "
          f"pySTEPS LK+extrapolation {ps:.3f} s: ratio {ps / ours:.1f}x; CPU time per forecast "
          f"{ours_cpu:.3f} s vs {ps_cpu:.3f} s: ratio {ps_cpu / ours_cpu:.1f}x")


def short_leads(tool: str, tsha: str, env: Optional[dict], methods: Dict[str, List[str]],
                cdir: Path, threads: int, data: Path) -> Optional[dict]:
    """MeteoNet SE 2016-08-28 at short leads (SHORT_*): every method and pySTEPS
    on the same starts; per-start tables, cached like the events'."""
    try:
        runs, km = D.load_meteonet_runs(data / "meteonet")
    except FileNotFoundError as e:
        print(f"compare: {SHORT_NAME} skipped: {e}")
        return None
    gap = np.full((1,) + runs[0].shape[1:], np.nan, np.float32)
    dbz = np.concatenate([x for r in runs for x in (r, gap)][:-1])
    SHORT_PIXEL_KM[SHORT_NAME] = km
    st = starts_of(SHORT_NAME, dbz, SHORT_LEADS)
    did = data_id(dbz)
    res: Dict[str, np.ndarray] = {}
    for m, args in methods.items():
        key = impa_key(SHORT_NAME, len(st), tsha, args) + f"-{did}-l{SHORT_LEADS}-ps"
        res[m], _ = cached(cdir, key, lambda: run_impa(tool, args, SHORT_NAME, dbz, st, threads,
                                                       SHORT_LEADS, SHORT_STEP_MIN))
    if env is not None:
        key = (f"{SHORT_NAME}-pysteps-lk-{_sha(PEER_DIR / 'pysteps_nowcast.py')}-{len(st)}-"
               f"{did}-l{SHORT_LEADS}-ps")
        res["pysteps-lk"], _ = cached(cdir, key, lambda: run_pysteps(env, SHORT_NAME, dbz, st,
                                                                     SHORT_LEADS))
    counts = counts_at(next(iter(res.values())), SHORT_NAME)
    km2 = echo_km2(next(iter(res.values())), SHORT_NAME)
    print(f"\n{SHORT_NAME}: short leads only ({len(runs)} runs of 5-min frames, {len(st)} "
          f"starts, 4 inputs, leads {SHORT_STEP_MIN}..{SHORT_LEADS * SHORT_STEP_MIN} min, "
          f"{km:.2f} km cells; not in the means above). Observed echo km2/lead >= 20|35|45: "
          + " | ".join(f"{x:.1f}" for x in km2))
    out = {"starts": len(st), "counts": counts, "echo_km2": km2, "hss": {}}
    for m, per in res.items():
        h = mean_scores(per.sum(0))["hss"]
        out["hss"][m] = h
        print(f"  {m:12s} HSS " + " | ".join(_f(x) if c else "    *" for x, c in zip(h, counts)))
    if "pysteps-lk" in res:
        for m in methods:
            b = bootstrap_diff({SHORT_NAME: res}, m, "pysteps-lk", [SHORT_NAME])
            iv = b["events"][SHORT_NAME]
            d = [out["hss"][m][i] - out["hss"]["pysteps-lk"][i] for i in range(3)]
            print(f"  {m:12s} - pySTEPS " + " | ".join(
                f"{d[i]:+.3f} [{iv[i][0]:+.3f},{iv[i][1]:+.3f}]" if counts[i] else "*"
                for i in range(3)))
    return out


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="impa.compare", description=__doc__.split("\n")[0])
    ap.add_argument("--extra", default="", help="arguments for impa-extrapolate (one string)")
    ap.add_argument("--candidate", nargs=2, action="append", default=[],
                    metavar=("NAME", "ARGS"))
    ap.add_argument("--loeo", action="store_true")
    ap.add_argument("--tool", default=None, help="path of impa-extrapolate")
    ap.add_argument("--pysteps", default=None, help="pySTEPS build (PYTHONPATH)")
    ap.add_argument("--cache", default=None)
    ap.add_argument("--events", default="")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--per-lead", action="store_true")
    ap.add_argument("--json", default=None)
    ap.add_argument("--bench", action="store_true")
    a = ap.parse_args(argv)
    tool = find_tool("impa-extrapolate", a.tool, "extrap")
    if tool is None:
        raise SystemExit("compare: impa-extrapolate not found: build the project first")
    env = pysteps_env(a.pysteps)
    if env is None:
        print("compare: pySTEPS does not import (build it with ../shared/peers/build-pysteps.sh "
              "DIR and pass --pysteps DIR/pysteps-1.21.3): pySTEPS columns skipped")
    if a.bench:
        bench(find_tool("impa-bench-extrap", None, "extrap"), env, a.threads)
    root = D.shared_data_root()
    if root is None:
        print("compare: ../shared/data not found: nothing to compare (skipped)")
        return 0
    cdir = cache_dir(a.cache)
    tsha = tool_id(tool)
    methods = {"impa": shlex.split(a.extra)}
    for nm, args in a.candidate:
        methods[nm] = shlex.split(args)
    names = [e.name for e in D.EVENTS] + list(EXTRA_EVENTS)
    if a.events:
        names = [n for n in names if n in a.events.split(",")]
    want_short = not a.events or SHORT_NAME in a.events.split(",")
    if not names:
        if want_short:
            short_leads(tool, tsha, env, methods, cdir, a.threads, root.parent.parent)
            return 0
        print("compare: no event selected (--events)")
        return 0
    res: Dict[str, Dict[str, dict]] = {}
    for name in list(names):
        if name in EXTRA_EVENTS:
            try:
                ev = EXTRA_EVENTS[name](root.parent.parent)
            except FileNotFoundError as e:
                print(f"compare: {name} skipped: {e}")
                names.remove(name)
                continue
        else:
            ev = D.load_event(name, root)
        st = starts_of(name, ev.dbz)
        did = data_id(ev.dbz)
        res[name] = {"_starts": len(st)}
        # "-ps": tables per start ([start, thr, lead, 4]), for the bootstrap
        for m, args in methods.items():
            key = impa_key(name, len(st), tsha, args) + "-" + did + "-ps"
            per, secs = cached(cdir, key, lambda: run_impa(tool, args, name, ev.dbz, st, a.threads))
            res[name][m] = {"tab": per.sum(0), "per": per, "seconds": secs}
        if env is not None:
            key = f"{name}-pysteps-lk-{_sha(PEER_DIR / 'pysteps_nowcast.py')}-{len(st)}-{did}-ps"
            per, secs = cached(cdir, key, lambda: run_pysteps(env, name, ev.dbz, st))
            res[name]["pysteps-lk"] = {"tab": per.sum(0), "per": per, "seconds": secs}
        res[name]["_counts"] = counts_at(res[name][next(iter(methods))]["per"], name)
        res[name]["_echo_km2"] = echo_km2(res[name][next(iter(methods))]["per"], name)
        sys.stderr.write(f"compare: {name} done ({len(st)} starts)\n")
    cols = list(methods) + (["pysteps-lk"] if env is not None else [])
    out = {"events": {}, "mean": {}, "counts": {n: res[n]["_counts"] for n in names},
           "echo_km2": {n: res[n]["_echo_km2"] for n in names}}
    print(f"\nHSS mean over leads 10-120 min at 20 | 35 | 45 dBZ; CSI/POD/FAR/bias at 35 and 45 "
          f"(impa-extrapolate {tsha}, args: {a.extra or '(defaults)'})")
    print("an event counts at a threshold when its observations average >= "
          f"{MIN_ECHO_KM2:g} km2 of echo above it per start and lead; '*' marks the scores "
          "left out of the mean (no such echo)")
    for name in names:
        km = res[name]["_echo_km2"]
        print(f"  {name:24s} observed echo km2/lead >= 20|35|45: "
              + " | ".join(f"{x:9.1f}" for x in km))
    for m in cols:
        print(f"\n## {m}")
        per = []
        for name in names:
            ms = mean_scores(res[name][m]["tab"])
            per.append((ms, res[name]["_counts"]))
            out["events"].setdefault(name, {})[m] = ms
            flag = "".join(" " if c else "*" for c in res[name]["_counts"])
            print(f"{name:24s} n={res[name]['_starts']:3d} {flag} {summary_line(ms)}  "
                  f"{res[name][m]['seconds']:.3f} s/fc")
        mean = {k: [float(np.nanmean([p[k][i] if c[i] else np.nan for p, c in per]))
                    for i in range(len(THRESHOLDS))] for k in per[0][0]}
        out["mean"][m] = mean
        print(f"{'mean of events':24s}        {summary_line(mean)}")
    if "pysteps-lk" in cols:
        print("\nHSS difference to pySTEPS LK (20 | 35 | 45 dBZ), per event, with the 5-95 % "
              f"interval of a paired block bootstrap over starts ({BOOT_N} draws, blocks of "
              f"{BOOT_BLOCK_MIN} min of starts); '*' = left out (no echo at that threshold):")
        boot = {}
        perstart = {n: {m: res[n][m]["per"] for m in cols} for n in names}
        for m in methods:
            boot[m] = bootstrap_diff(perstart, m, "pysteps-lk", names)
            worse45 = 0
            for name in names:
                c = res[name]["_counts"]
                d = [out["events"][name][m]["hss"][i] - out["events"][name]["pysteps-lk"]["hss"][i]
                     for i in range(3)]
                worse45 += c[2] and d[2] < 0
                iv = boot[m]["events"][name]
                print(f"  {m:10s} {name:24s} " + " | ".join(
                    (f"{d[i]:+.3f} [{iv[i][0]:+.3f},{iv[i][1]:+.3f}]" if c[i] else
                     f"{'*':>22s}") for i in range(3)))
            dm = [out["mean"][m]["hss"][i] - out["mean"]["pysteps-lk"]["hss"][i] for i in range(3)]
            ivm = boot[m]["mean"]
            n45 = sum(res[n]["_counts"][2] for n in names)
            print(f"  {m:10s} {'mean':24s} " + " | ".join(
                f"{dm[i]:+.3f} [{ivm[i][0]:+.3f},{ivm[i][1]:+.3f}]" for i in range(3)) +
                f"   worse than pySTEPS at 45 dBZ on {worse45} of {n45} events")
        out["bootstrap"] = boot
    if want_short:
        sh = short_leads(tool, tsha, env, methods, cdir, a.threads, root.parent.parent)
        if sh is not None:
            out["short"] = sh
    if a.per_lead:
        for m in cols:
            print(f"\nper-lead HSS {m} (sum of all events' tables would mix grids; event by event):")
            for name in names:
                h = lead_scores(res[name][m]["tab"])["hss"]
                print(f"  {name:24s} 35: " + " ".join(_f(x) for x in h[1]) +
                      "\n  " + " " * 24 + " 45: " + " ".join(_f(x) for x in h[2]))
    if a.loeo and len(methods) > 1:
        print("\nleave-one-event-out choice among", ", ".join(methods), "(criterion: mean HSS "
              "35+45 over the other events)")
        # scores of thresholds an event does not count at stay out of the choice
        masked = {n: {m: {"hss": [h if c else float("nan") for h, c in
                                  zip(out["events"][n][m]["hss"], res[n]["_counts"])]}
                      for m in methods} for n in names}
        lo = loeo(masked, list(methods), names)
        for name in names:
            h = out["events"][name][lo["chosen"][name]]["hss"]
            print(f"  {name:24s} chosen {lo['chosen'][name]:12s} held-out HSS {_f(h[0])} | "
                  f"{_f(h[1])} | {_f(h[2])}")
        hm = lo["mean"]
        print(f"  {'mean held-out':24s} {'':19s} HSS {_f(hm[0])} | {_f(hm[1])} | {_f(hm[2])}")
        if "pysteps-lk" in cols:
            w = sum(res[n]["_counts"][2] and out["events"][n][lo["chosen"][n]]["hss"][2] <
                    out["events"][n]["pysteps-lk"]["hss"][2] for n in names)
            print(f"  held-out choices worse than pySTEPS at 45 dBZ on {w} of {len(names)} events")
        out["loeo"] = lo
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
