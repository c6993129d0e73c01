"""Per-event verification of advection-guided networks against their backbones
(docs/training.md, "Protocol"): every event, per event and the mean over
events, with block-bootstrap intervals of the differences a decision rests on.

    cd train && /usr/bin/python3 -m impa.evalnet --out ../docs/eval/events \\
        --net new=runs/adv3-mad-rev/model.nc --net old=../models/impa-net-2.1.nc \\
        [--set heldout|events|knmi2021] [--pysteps] [--bootstrap 2000 --block 6] \\
        [--diff new:impa-extrap-3 --diff old:impa-extrap-1 --diff new:old ...]
    # one net at two tilings: LABEL=WEIGHTS@TILE/OVERLAP (tile 0 = the whole grid)
    /usr/bin/python3 -m impa.evalnet --out /tmp/ev --net w80=../models/impa-net.nc@80/32 \
        --net whole=../models/impa-net.nc@0/0 --diff whole:w80

Start sets (`--set`, repeatable):
- heldout: every start of the validation and test blocks of impa.data.make_blocks
  (BoM Brisbane 09:20-14:30 UTC, MeteoSwiss 2016-07-11, MeteoSwiss 2015-05-15):
  frames no network of this project was trained on;
- events: impa.compare's starts (every start of every event with >= 35 dBZ echo,
  Brisbane every third) -- the same starts as the pySTEPS tables of impa.compare,
  but most of them lie in *training* blocks: in-sample for the networks;
- knmi2021: the three starts of each KNMI 2021 evening with rain (>= 20 dBZ on
  1 % of the grid in some frame, `wet`): a winter the networks never saw,
  another year and product of the KNMI composite;
- short: one start of the MeteoNet SE convective run (4 leads observed) and of
  each OPERA crop (3 leads), radars no network saw; only the observed leads are
  scored, one start per event: point values, no bootstrap.

Methods: persistence; impa-extrap-1 and impa-extrap-3 (impa-extrapolate with the
event's grid spacing and step, impa.advect.scheme_args); pySTEPS Lucas-Kanade
(../shared/peers/pysteps_nowcast.py, optional); each --net runs as the daemon
runs it: its extrapolation scheme (model attribute `extrapolation`) from
impa-extrapolate, the network through the C engine (impa-infer --normalised,
--tile 80 windows overlapping by --tile-overlap 32, or the net's own @TILE/OVERLAP),
dBZ clamped as the engine
does, no forecast where the last scan has no data, then each lead matched to the
distribution of its extrapolated frame (impa.calibrate, the daemon's
model.calibration auto). impa.tests check that this equals impa-infer's own
guided path (test_evalnet).

Scores: impa.evaluate.score_method per start (20/35/45 dBZ, pixels valid in
the observation and the last input), tables cached per event, method and start
under the cache folder, so reruns and new methods score only what is new.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from . import data as D
from .advect import extrapolate, model_scheme, scheme_args
from .ctools import find_tool, read_nc

THRESHOLDS = (20.0, 35.0, 45.0)
T_IN, T_OUT = 4, 12
MIN_35_SHARE = 1e-3   # an event "has >= 35 dBZ echo": this share of its valid pixels, in its
#                       most intense frame
SCHEMES = ("impa-extrap-1", "impa-extrap-3")
FOLD = "{event}"      # in --net WEIGHTS: the event's name (leave-one-event-out folds)


# ------------------------------------------------------------- forecasts ----

def _write_input(path: str, x: np.ndarray) -> None:
    import netCDF4

    with netCDF4.Dataset(path, "w") as ds:
        for n, k in zip(("frame_in", "field", "y", "x"), x.shape):
            ds.createDimension(n, k)
        v = ds.createVariable("input", "f4", ("frame_in", "field", "y", "x"))
        v[:] = x.astype(np.float32)


def _read_output(path: str) -> np.ndarray:
    import netCDF4

    with netCDF4.Dataset(path) as ds:
        v = ds.variables["output"]
        v.set_auto_mask(False)
        return np.array(v[:], dtype=np.float32)


def net_forecast(weights: str, name: str, inp: np.ndarray, infer: str, extrap_tool: str,
                 threads: int = 1, tile: int = 80, overlap: int = 32,
                 calibrate: bool = True) -> np.ndarray:
    """inp dBZ [N, t_in, H, W] of event `name` -> forecast dBZ [N, t_out, H, W], as the
    daemon computes it (module docstring)."""
    from .calibrate import match_leads
    from .model import denormalise, normalise
    from .weights import read_config

    cfg = read_config(weights)
    if not cfg.advection:
        raise SystemExit(f"evalnet: {weights} is not advection-guided")
    xf = extrapolate(extrap_tool, inp, cfg.t_out, threads,
                     scheme_args(model_scheme(weights), name))
    out = np.empty((inp.shape[0], cfg.t_out) + inp.shape[2:], dtype=np.float32)
    with tempfile.TemporaryDirectory(prefix="impa-evalnet-") as d:
        fin, fout = os.path.join(d, "in.nc"), os.path.join(d, "out.nc")
        for i in range(inp.shape[0]):
            _write_input(fin, normalise(np.concatenate([inp[i], xf[i]]), cfg))
            cmd = [infer, "--weights", weights, "--normalised", "--input", fin, "--output", fout,
                   "--threads", str(threads), "--tile", str(tile), "--tile-overlap", str(overlap)]
            import subprocess

            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode != 0:
                raise SystemExit(f"evalnet: {' '.join(cmd)}: exit {r.returncode}: "
                                 f"{r.stderr.strip()[-400:]}")
            y = denormalise(_read_output(fout), cfg)
            out[i] = np.where(np.isfinite(inp[i, -1]), y, np.nan)
    if calibrate:
        lo = float(cfg.norm_offset[0])
        out = match_leads(out, xf, lo, lo + float(cfg.norm_scale[0]))
    return out


def net_spec(spec: str, tile: int, overlap: int) -> Tuple[str, int, int]:
    """WEIGHTS[@TILE/OVERLAP] -> (weights, tile, overlap); without '@' the defaults
    given (--tile, --tile-overlap), so one net can be scored at several tilings."""
    w, at, t = spec.rpartition("@")
    if not at:
        return spec, tile, overlap
    try:
        tt, oo = (int(v) for v in t.split("/"))
    except ValueError:
        raise SystemExit(f"evalnet: --net ...{spec!r}: expected WEIGHTS@TILE/OVERLAP") from None
    if tt < 0 or oo < 0 or (tt and 2 * oo > tt):
        raise SystemExit(f"evalnet: {spec!r}: need tile >= 0 and 0 <= overlap <= tile/2")
    return w, tt, oo


# ---------------------------------------------------------------- events ----

def has_35(dbz: np.ndarray) -> bool:
    """>= 35 dBZ on at least MIN_35_SHARE of the valid pixels of some frame."""
    for f in dbz:
        n = int(np.isfinite(f).sum())
        if n and float((f >= 35.0).sum()) / n >= MIN_35_SHARE:
            return True
    return False


def wet(dbz: np.ndarray, share: float = 0.01) -> bool:
    """>= 20 dBZ on at least `share` of the valid pixels of some frame (the KNMI 2021
    evenings that have rain to forecast; the README's dry ones do not)."""
    for f in dbz:
        n = int(np.isfinite(f).sum())
        if n and float((f >= 20.0).sum()) / n >= share:
            return True
    return False


def start_sets(which: str, root: Path) -> Dict[str, Tuple[np.ndarray, List[int]]]:
    """event -> (dBZ [T, H, W], starts) of a start set (module docstring)."""
    from .compare import starts_of

    L = T_IN + T_OUT
    out: Dict[str, Tuple[np.ndarray, List[int]]] = {}
    if which == "heldout":
        events = {e.name: D.load_event(e.name, root).dbz for e in D.EVENTS}
        blocks = D.make_blocks({k: v.shape[0] for k, v in events.items()}, T_IN, T_OUT)
        for b in blocks:
            if b.split in ("val", "test"):
                dbz, st = out.setdefault(b.event, (events[b.event], []))
                st += D.block_starts(b, L)
    elif which == "events":
        for e in D.EVENTS:
            dbz = D.load_event(e.name, root).dbz
            if has_35(dbz):
                out[e.name] = (dbz, starts_of(e.name, dbz))
    elif which == "knmi2021":
        for e in D.KNMI_2021_EVENTS:
            dbz = D.load_event(e.name, root).dbz
            st = starts_of(e.name, dbz)
            if st and wet(dbz):
                out[e.name] = (dbz, st)
    elif which == "short":
        # fewer than t_in + t_out frames: the observation is padded with no-data
        # frames, so only the leads that have an observation are scored
        evs = [D.read_meteonet(root=root)] + D.read_opera(root)
        for ev in evs:
            pad = np.full((max(0, L - ev.dbz.shape[0]),) + ev.dbz.shape[1:], np.nan, np.float32)
            dbz = np.concatenate([ev.dbz, pad])
            out[ev.name] = (dbz, [0])
    else:
        raise SystemExit(f"evalnet: unknown start set {which!r}")
    return out


def split_of(name: str, s: int, n_frames: int) -> str:
    """train / val / test / mixed: the blocks sample start s of event `name` lies in
    (knmi-2021 evenings: unseen)."""
    if name not in {e.name for e in D.EVENTS}:
        return "unseen"
    L = T_IN + T_OUT
    for b in D.make_blocks({name: n_frames}, T_IN, T_OUT):
        if b.start <= s and s + L <= b.stop:
            return b.split
    return "mixed"


# ----------------------------------------------------------------- cache ----

def _sha(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]


def method_key(method: str, spec: dict) -> str:
    h = hashlib.sha256(json.dumps([method, spec], sort_keys=True).encode()).hexdigest()[:12]
    return f"{method}-{h}"


def cached_tables(cdir: Path, name: str, dbz: np.ndarray, starts: List[int], key: str,
                  fn) -> np.ndarray:
    """[start, thr, lead, 4] for `starts`, computing (fn(missing starts) -> tables)
    only the starts not yet in cdir/<event>-<data id>-<key>.json."""
    from .compare import data_id

    path = cdir / f"{name}-{data_id(dbz)}-{key}.json"
    have = json.loads(path.read_text()) if path.exists() else {}
    miss = [s for s in starts if str(s) not in have]
    if miss:
        tabs = fn(miss)
        for s, t in zip(miss, tabs):
            have[str(s)] = np.asarray(t).tolist()
        cdir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(have))
        os.replace(tmp, path)
    # [thr, lead, 4] per start; entries written as [1, thr, lead, 4] (the pySTEPS
    # tables before 2026-12-07 16:10 UTC) lose their extra axis
    return np.array([np.reshape(have[str(s)], (len(THRESHOLDS), -1, 4)) for s in starts],
                    dtype=np.int64)


def per_start_tables(fc: np.ndarray, inp: np.ndarray, obs: np.ndarray) -> np.ndarray:
    from .evaluate import score_method

    return np.stack([score_method(fc[i:i + 1], inp[i:i + 1], obs[i:i + 1], THRESHOLDS)
                     for i in range(fc.shape[0])])


# ---------------------------------------------------------------- report ----

def _f(x) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.3f}"


def summary(tab: np.ndarray) -> Dict[str, List[float]]:
    """[start, thr, lead, 4] -> mean over leads of HSS/CSI/POD/FAR per threshold
    (impa.compare.mean_scores of the tables summed over starts); the frequency
    bias of the counts summed over leads too (a mean of per-lead ratios would be
    ruled by the late leads with a handful of observed pixels)."""
    from .compare import mean_scores

    t = tab.sum(0)
    out = mean_scores(t)
    h, m, f = (t[..., i].sum(-1).astype(np.float64) for i in range(3))
    with np.errstate(invalid="ignore", divide="ignore"):
        out["bias"] = np.where(h + m > 0, (h + f) / (h + m), np.nan).tolist()
    return out


def per_lead_hss(tab: np.ndarray) -> List[List[float]]:
    from .compare import lead_scores

    return lead_scores(tab.sum(0))["hss"].tolist()


def render(res: dict) -> str:
    L: List[str] = [f"# Per-event verification ({res['set']})\n",
                    f"Generated by `{res['command']}` ({res['date']}).",
                    "HSS / CSI / POD / FAR, mean over leads 10-120 min (frequency bias: counts "
                    "summed over leads), "
                    "contingency counts summed over the starts of an event; the mean over "
                    "events weighs each event alike. Splits: which blocks of "
                    "impa.data.make_blocks the starts lie in (train = in-sample for the "
                    "networks).\n"]
    methods = res["methods"]
    L.append("## HSS 20 | 35 | 45 dBZ per event\n")
    L.append("| event | starts (split) | " + " | ".join(methods) + " |")
    L.append("| --- | --- | " + " | ".join("---" for _ in methods) + " |")
    for ev, r in res["events"].items():
        cells = [" \\| ".join(_f(v) for v in r["scores"][m]["hss"]) if m in r["scores"] else ""
                 for m in methods]
        L.append(f"| {ev} | {r['n_starts']} ({r['splits']}) | " + " | ".join(cells) + " |")
    mean = res["mean"]
    L.append("| **mean over events** | | " + " | ".join(
        " \\| ".join(_f(v) for v in mean[m]) if m in mean else "" for m in methods) + " |")
    L.append("")
    for thr_i, thr in enumerate(THRESHOLDS):
        L.append(f"## {thr:g} dBZ: CSI / POD / FAR / bias per event\n")
        L.append("| event | " + " | ".join(methods) + " |")
        L.append("| --- | " + " | ".join("---" for _ in methods) + " |")
        for ev, r in res["events"].items():
            cells = []
            for m in methods:
                s = r["scores"].get(m)
                cells.append(" / ".join(_f(s[k][thr_i]) for k in ("csi", "pod", "far", "bias"))
                             if s else "")
            L.append(f"| {ev} | " + " | ".join(cells) + " |")
        L.append("")
    L.append("## HSS per lead (10, 20, 30, 60, 90, 120 min) per event\n")
    L.append("| event | method | " + " | ".join(f"{t:g} dBZ" for t in THRESHOLDS) + " |")
    L.append("| --- | --- | " + " | ".join("---" for _ in THRESHOLDS) + " |")
    for ev, r in res["events"].items():
        for m in methods:
            pl = r.get("per_lead", {}).get(m)
            if pl:
                L.append(f"| {ev} | {m} | " + " | ".join(
                    " / ".join(_f(pl[ti][k]) for k in (0, 1, 2, 5, 8, 11))
                    for ti in range(len(THRESHOLDS))) + " |")
    L.append("")
    L.append("## HSS per lead (10, 20, 30, 60, 90, 120 min), all events' starts pooled\n")
    L.append("| method | " + " | ".join(f"{t:g} dBZ" for t in THRESHOLDS) + " |")
    L.append("| --- | " + " | ".join("---" for _ in THRESHOLDS) + " |")
    for m in methods:
        pl = res["per_lead"].get(m)
        if pl:
            L.append(f"| {m} | " + " | ".join(
                " / ".join(_f(pl[ti][k]) for k in (0, 1, 2, 5, 8, 11))
                for ti in range(len(THRESHOLDS))) + " |")
    L.append("")
    if res.get("bootstrap"):
        L.append(f"## How sure: HSS differences, block bootstrap over starts "
                 f"({res['bootstrap_n']} draws, blocks of {res['block']} starts)\n")
        L.append("point [5 %, 95 %] share of draws > 0, mean over leads; per event, then "
                 "the mean over events (events resampled independently).\n")
        L.append("| difference | event | " + " | ".join(f"{t:g} dBZ" for t in THRESHOLDS) + " |")
        L.append("| --- | --- | " + " | ".join("---" for _ in THRESHOLDS) + " |")
        for pair, b in res["bootstrap"].items():
            rows = list(b["events"].items()) + [("**mean over events**", b["mean"])]
            for ev, st in rows:
                L.append(f"| {pair} | {ev} | " + " | ".join(
                    f"{st['point'][i]:+.3f} [{st['lo'][i]:+.3f}, {st['hi'][i]:+.3f}] "
                    f"{st['p_gt0'][i]:.2f}" for i in range(len(THRESHOLDS))) + " |")
        L.append("")
    L.append("Methods: " + "; ".join(f"{m}: {d}" for m, d in res["how"].items()) + "\n")
    return "\n".join(L)


# ------------------------------------------------------------------ main ----

def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="impa.evalnet", description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="folder for <set>.json and <set>.md")
    ap.add_argument("--net", action="append", default=[], metavar="LABEL=WEIGHTS[@TILE/OV]",
                    help="a weights file; {event} in WEIGHTS stands for the event's name "
                         "(a leave-one-event-out fold per event, train/loeo.sh); @TILE/OV: "
                         "this net's windows instead of --tile/--tile-overlap")
    ap.add_argument("--set", action="append", default=[], dest="sets",
                    help="heldout, events, knmi2021, short (default heldout)")
    ap.add_argument("--pysteps", action="store_true", help="also pySTEPS LK (../shared/peers)")
    ap.add_argument("--diff", action="append", default=[], metavar="A:B",
                    help="bootstrap HSS(A) - HSS(B) (method labels)")
    ap.add_argument("--bootstrap", type=int, default=2000)
    ap.add_argument("--block", type=int, default=6)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--tile", type=int, default=80)
    ap.add_argument("--tile-overlap", type=int, default=32)
    ap.add_argument("--cache", default=None, help="table cache (default train/cache/evalnet)")
    ap.add_argument("--infer", default=None)
    ap.add_argument("--extrapolate", default=None)
    ap.add_argument("--events", default="", help="comma-separated subset of event names")
    args = ap.parse_args(argv)

    root = D.shared_data_root()
    if root is None:
        raise SystemExit("evalnet: radar sample data not found (IMPA_SHARED_DATA)")
    infer = find_tool("impa-infer", args.infer, "engine")
    tool = find_tool("impa-extrapolate", args.extrapolate, "nowcast")
    if tool is None or (args.net and infer is None):
        raise SystemExit("evalnet: impa-extrapolate / impa-infer not built")
    cdir = Path(args.cache) if args.cache else D.CACHE_DIR / "evalnet"
    nets = {lab: net_spec(spec, args.tile, args.tile_overlap)
            for lab, spec in (n.split("=", 1) for n in args.net)}
    tool_id = _sha(tool)
    infer_id = _sha(infer) if infer else ""
    how: Dict[str, str] = {"persistence": "the last scan for every lead"}
    for s in SCHEMES:
        how[s] = f"impa-extrapolate --scheme {s} (grid spacing of the event, 10 min)"
    for lab, (w, tile, ov) in nets.items():
        win = (f"{tile} px windows overlapping by {ov}" if tile else "whole grid")
        if FOLD in w:
            how[lab] = (f"{w}: per event the leave-one-event-out fold trained without that "
                        f"event (train/loeo.sh; the split column is the shipped split's), "
                        f"impa-infer --normalised, {win}, calibrated")
            continue
        how[lab] = f"{w} (extrapolation {model_scheme(w)}): impa-infer --normalised, {win}, calibrated"
    pyenv = None
    if args.pysteps:
        from .compare import pysteps_env

        pyenv = pysteps_env(None)
        if pyenv is None:
            raise SystemExit("evalnet: pySTEPS not importable (PYSTEPS_PATH)")
        how["pysteps-lk"] = "pySTEPS 1.21.3 Lucas-Kanade + semi-Lagrangian (../shared/peers)"
    methods = ["persistence"] + list(SCHEMES) + (["pysteps-lk"] if pyenv else []) + list(nets)
    subset = set(filter(None, args.events.split(",")))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for which in args.sets or ["heldout"]:
        sets = start_sets(which, root)
        per: Dict[str, Dict[str, np.ndarray]] = {m: {} for m in methods}
        res = {"set": which, "methods": methods, "how": how, "events": {},
               "command": "python3 -m impa.evalnet " + " ".join(argv or sys.argv[1:]),
               "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
        for name, (dbz, starts) in sets.items():
            if subset and name not in subset:
                continue
            h, w = dbz.shape[1] // 4 * 4, dbz.shape[2] // 4 * 4
            dbz = dbz[:, :h, :w]
            L = T_IN + T_OUT

            def io(st):
                seq = np.stack([dbz[s:s + L] for s in st])
                return seq[:, :T_IN].copy(), seq[:, T_IN:].copy()

            def run(fn):
                def go(st):
                    tabs = []
                    for a in range(0, len(st), 4):
                        inp, obs = io(st[a:a + 4])
                        tabs.append(per_start_tables(fn(inp), inp, obs))
                        sys.stderr.write(f"\revalnet: {which} {name} {m}: "
                                         f"{min(len(st), a + 4)}/{len(st)} ")
                    sys.stderr.write("\n")
                    return np.concatenate(tabs)
                return go

            for m in methods:
                if m == "persistence":
                    key, fn = method_key(m, {}), lambda inp: np.repeat(inp[:, -1:], T_OUT, 1)
                elif m in SCHEMES:
                    a = scheme_args(m, name) or ["--scheme", m]
                    key = method_key(m, {"tool": tool_id, "args": a})
                    fn = (lambda a_: lambda inp: extrapolate(tool, inp, T_OUT, args.threads,
                                                             a_))(a)
                elif m == "pysteps-lk":
                    from .compare import PEER_DIR, run_pysteps

                    key = method_key(m, {"script": _sha(str(PEER_DIR / "pysteps_nowcast.py"))})
                    per[m][name] = cached_tables(
                        cdir, name, dbz, starts, key,
                        lambda st: run_pysteps(pyenv, name, dbz, st)[0])
                    continue
                else:
                    wts, tile, ov = nets[m]
                    wts = wts.replace(FOLD, name)
                    if not os.path.isfile(wts):
                        raise SystemExit(f"evalnet: {m}: {wts} missing (a fold not trained "
                                         f"yet? --events lists the folds to score)")
                    key = method_key("net", {"w": _sha(wts), "infer": infer_id, "tool": tool_id,
                                             "tile": tile, "ov": ov})
                    fn = (lambda w_, t_, o_: lambda inp: net_forecast(
                        w_, name, inp, infer, tool, args.threads, t_, o_))(wts, tile, ov)
                per[m][name] = cached_tables(cdir, name, dbz, starts, key, run(fn))
            splits: Dict[str, int] = {}
            for s in starts:
                sp = split_of(name, s, dbz.shape[0])
                splits[sp] = splits.get(sp, 0) + 1
            res["events"][name] = {
                "n_starts": len(starts),
                "splits": ", ".join(f"{k} {v}" for k, v in sorted(splits.items())),
                "scores": {m: summary(per[m][name]) for m in methods},
                "per_lead": {m: per_lead_hss(per[m][name]) for m in methods}}
        names = list(res["events"])
        res["mean"] = {m: [float(np.nanmean([res["events"][n]["scores"][m]["hss"][i]
                                             for n in names])) for i in range(len(THRESHOLDS))]
                       for m in methods} if names else {}
        res["per_lead"] = {m: per_lead_hss(np.concatenate([per[m][n] for n in names]))
                           for m in methods} if names else {}
        if args.diff and args.bootstrap:
            from .evaluate import bootstrap_events

            res["bootstrap_n"], res["block"] = args.bootstrap, args.block
            res["bootstrap"] = {}
            for d in args.diff:
                a, b = d.split(":")
                res["bootstrap"][f"{a} - {b}"] = bootstrap_events(
                    {n: per[a][n] for n in names}, {n: per[b][n] for n in names},
                    args.bootstrap, args.block)
        (out / f"{which}.json").write_text(json.dumps(res, indent=1))
        (out / f"{which}.md").write_text(render(res))
        print(render(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
