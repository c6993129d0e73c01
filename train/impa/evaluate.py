"""Verification of IMPA-Net against persistence and extrapolation on the test split.

    cd train && /usr/bin/python3 -m impa.evaluate --out ../docs/eval \
        --weights ../models/impa-net.nc --ablation ../models/impa-net-mse.nc \
        [--plain ../models/impa-net-plain.nc] [--plain-mse ../models/impa-net-plain-mse.nc] \
        [--infer PATH] [--extrapolate PATH] \
        [--methods persistence,extrapolation,impa,mse,plain,plainmse] \
        [--candidate KEY WEIGHTS LABEL ...] [--split test|val] \
        [--stride 1] [--threads 1] [--tile 80] [--tile-overlap 0]

Test samples: every start of the test blocks of impa.data.make_blocks
(Brisbane 2020-10-31 09:20-14:30 UTC and MeteoSwiss 2016-07-11), 4 frames in,
12 leads (10..120 min) out, on the full product grid cut to a multiple of 4
(bottom rows / right columns dropped).

Scores: pixel events `>= threshold` at 20/30/35/45 dBZ; contingency counts
summed over start times per lead, then CSI/POD/FAR/HSS per lead and their mean
over leads (the anchors.md convention). A pixel counts only where the
observation and the last input frame have radar data; a forecast pixel with no
value there (advected in from outside the domain) is "no echo".

Methods (each entry of results.json says how it was run):
- impa / mse / plain / plainmse: the shipped weights, the MSE ablation and the
  plain (not advection-guided) network with both losses, through the C engine
  (`impa-infer --weights W --input IN.nc --output OUT.nc`, IN dbz(sample, t_in,
  y, x), OUT dbz(sample, t_out, y, x)) when the tool is found, else the PyTorch
  reference (impa.weights.load);
  Size-dependent models run on --tile windows (the daemon's model.tile),
  size-independent ones (norm_local and se_window) on the whole grid;
- --candidate KEY WEIGHTS LABEL: any other weights file, scored the same way
  (models tried and not shipped);
- persistence: the last observed frame for every lead;
- extrapolation: `impa-extrapolate --input IN.nc --output OUT.nc --leads N` when
  found, else a simple Python stand-in: one global motion vector from phase
  correlation of consecutive input frames (median of the 3 pairs, sub-pixel),
  semi-Lagrangian shift of the last frame by lead * vector (bilinear).

`--split val` scores the validation split instead: what models are chosen on,
so that the test split stays held out.

Runs merge into OUT/results.json (a method evaluated again replaces its entry),
then OUT/results.md, OUT/spectra.png are rewritten from the merged file.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from . import data as D
from . import spectra as S
from .config import ImpaConfig
from .ctools import find_tool, run_tool
from .train import build_splits, contingency, scores

THRESHOLDS = (20.0, 30.0, 35.0, 45.0)
SPECTRA_LEADS = (6, 12)  # lead index + 1: 60 and 120 min
BANDS = ((1.0, 4.0), (4.0, 16.0), (16.0, 64.0), (64.0, 1e9))
LABEL = {"impa": "IMPA-Net advection-guided, MAD-Loss (shipped)",
         "mse": "IMPA-Net advection-guided, MSE (ablation)",
         "plain": "plain IMPA-Net, MAD-Loss", "plainmse": "plain IMPA-Net, MSE",
         "persistence": "persistence", "extrapolation": "extrapolation",
         "nomixer": "IMPA-Net advection-guided, MAD-Loss, no Spatial Mixer (ablation e)"}
# method -> command-line option holding its weights file
WEIGHT_OPTS = {"impa": "weights", "mse": "ablation", "plain": "plain", "plainmse": "plain_mse",
               "nomixer": "nomixer"}
ORDER = ("impa", "mse", "plain", "plainmse", "nomixer", "extrapolation", "persistence")


# ------------------------------------------------------------ forecasters ----

def persistence(inp: np.ndarray, t_out: int) -> np.ndarray:
    return np.repeat(inp[:, -1:], t_out, axis=1)


def _phase_shift(a: np.ndarray, b: np.ndarray) -> Tuple[float, float]:
    """Displacement (dy, dx) that moves a onto b, by phase correlation, sub-pixel."""
    fa = np.fft.fft2(np.nan_to_num(a) - np.nanmean(a))
    fb = np.fft.fft2(np.nan_to_num(b) - np.nanmean(b))
    r = fb * np.conj(fa)
    r /= np.maximum(np.abs(r), 1e-9)
    c = np.real(np.fft.ifft2(r))
    h, w = c.shape
    iy, ix = np.unravel_index(int(np.argmax(c)), c.shape)

    def sub(cm, c0, cp):
        den = cm - 2 * c0 + cp
        return 0.5 * (cm - cp) / den if abs(den) > 1e-12 else 0.0

    dy = iy + sub(c[(iy - 1) % h, ix], c[iy, ix], c[(iy + 1) % h, ix])
    dx = ix + sub(c[iy, (ix - 1) % w], c[iy, ix], c[iy, (ix + 1) % w])
    if dy > h / 2:
        dy -= h
    if dx > w / 2:
        dx -= w
    return float(dy), float(dx)


def extrapolation_py(inp: np.ndarray, t_out: int) -> np.ndarray:
    """Global-translation semi-Lagrangian extrapolation (the labelled stand-in)."""
    from scipy import ndimage

    n, tin = inp.shape[:2]
    out = np.empty((n, t_out) + inp.shape[2:], dtype=np.float32)
    for i in range(n):
        # Echo-only fields for the correlation: the floor and the coverage edge
        # would otherwise dominate and pin the shift at 0.
        fr = [np.where(np.nan_to_num(inp[i, t]) >= 15.0, inp[i, t], 0.0) for t in range(tin)]
        v = np.array([_phase_shift(fr[t], fr[t + 1]) for t in range(tin - 1)])
        vy, vx = np.median(v, axis=0)
        last = np.nan_to_num(inp[i, -1], nan=0.0)
        for k in range(t_out):
            out[i, k] = ndimage.shift(last, ((k + 1) * vy, (k + 1) * vx), order=1,
                                      mode="constant", cval=0.0)
    return out


def size_independent(weights: str) -> bool:
    """True for a model none of whose statistics depend on the grid size
    (norm_local = 1 and a local SE window, docs/model.md)."""
    from .weights import load

    _, cfg = load(weights)
    return bool(cfg.norm_local and cfg.se_window)


def model_forecast(weights: str, inp: np.ndarray, infer: Optional[str], threads: int,
                   t_out: int, tile: int = 0,
                   extrap: Optional[str] = None,
                   tile_overlap: int = 0,
                   calibration: str = "auto", name: str = "") -> Tuple[np.ndarray, str]:
    """Forecasts of a weights file for inp [N, Tin, H, W]. The C tool computes the
    extrapolated frames of an advection-guided model itself (impa_guided); the
    PyTorch path takes them from impa-extrapolate, as training did (the scheme
    the model records, with the grid spacing of event `name`).

    `tile` applies to size-dependent models only: windows are the workaround
    for norms whose statistics see the whole input; a size-independent model
    runs on the whole grid, where windows would only cut its context.
    `tile_overlap`: pixels shared by neighbouring windows, blended by the C
    engine (impa-infer --tile-overlap). `calibration`: as impa-infer
    --calibration and the daemon's model.calibration (auto: each lead of an
    advection model matched to the distribution of its extrapolated frame)."""
    from .weights import load

    if calibration not in ("auto", "none", "extrapolation"):
        raise SystemExit(f"evaluate: calibration {calibration!r} unknown")
    model, cfg = load(weights)
    if calibration == "extrapolation" and not cfg.advection:
        raise SystemExit(f"evaluate: {weights}: calibration 'extrapolation' needs an "
                         "advection-guided model")
    calibrated = bool(cfg.advection) and calibration != "none"
    cal = ", calibrated to the extrapolation" if calibrated else ""
    if size_independent(weights):
        tile = 0
    if infer:
        tiling = f", {tile} x {tile} windows" if tile else ", whole grid"
        if tile and tile_overlap:
            tiling += f", overlap {tile_overlap}"
        return (run_tool([infer, "--weights", weights, "--threads", str(threads),
                          "--tile", str(tile), "--tile-overlap", str(tile_overlap),
                          "--calibration", calibration],
                         inp, t_out),
                f"C engine ({os.path.relpath(infer, D.TRAIN_DIR.parent)}, {threads} "
                f"thread{tiling}{cal})")
    import torch
    from .model import denormalise, normalise

    torch.set_num_threads(threads)
    frames = inp
    xf = None
    if cfg.advection:
        if not extrap:
            raise SystemExit(f"evaluate: {weights} is advection-guided and needs "
                             "impa-extrapolate for its input frames (not found)")
        from .advect import model_scheme, scheme_args

        xf = run_tool([extrap, "--leads", str(cfg.t_out)]
                      + scheme_args(model_scheme(weights), name), inp, cfg.t_out)
        frames = np.concatenate([inp, xf], axis=1)
    out = np.empty((inp.shape[0], cfg.t_out) + inp.shape[2:], dtype=np.float32)
    with torch.no_grad():
        for i in range(inp.shape[0]):
            x = torch.from_numpy(normalise(frames[i:i + 1], cfg))
            y = denormalise(model(x), cfg).numpy()[0]
            # as the C engine: no forecast where the last frame had no radar data
            out[i] = np.where(np.isfinite(inp[i, -1]), y, np.nan)
    if calibrated:
        from .calibrate import match_leads

        lo = float(cfg.norm_offset[0])
        out = match_leads(out, xf, lo, lo + float(cfg.norm_scale[0]))
    return out, f"PyTorch reference (impa.weights.load; impa-infer not found){cal}"


# --------------------------------------------------------------- samples ----

def test_groups(cfg: ImpaConfig, stride: int,
                split: str = "test") -> Dict[str, Tuple[List[int], np.ndarray, np.ndarray]]:
    """event -> (starts, inp [N, Tin, H, W], obs [N, Tout, H, W]), H, W multiples of 4,
    of the test split (or of `split`: "val" to choose between models without
    looking at the test split)."""
    root = D.shared_data_root()
    if root is None:
        raise SystemExit("evaluate: radar sample data not found (IMPA_SHARED_DATA)")
    events = {e.name: D.load_event(e.name, root).dbz for e in D.EVENTS}
    ss = build_splits(events, cfg.t_in, cfg.t_out)[split]
    L = cfg.t_in + cfg.t_out
    groups: Dict[str, List[int]] = {}
    for name, s in ss.starts:
        groups.setdefault(name, []).append(s)
    out = {}
    for name, starts in groups.items():
        starts = starts[::stride]
        ev = events[name]
        h, w = ev.shape[1] // 4 * 4, ev.shape[2] // 4 * 4
        seq = np.stack([ev[s:s + L, :h, :w] for s in starts])
        out[name] = (starts, seq[:, :cfg.t_in].copy(), seq[:, cfg.t_in:].copy())
    return out


def score_method(fc: np.ndarray, inp: np.ndarray, obs: np.ndarray,
                 thresholds=None) -> np.ndarray:
    """[thr, lead, 4] contingency counts over the samples of a group (thresholds
    in dBZ, default THRESHOLDS)."""
    thresholds = THRESHOLDS if thresholds is None else thresholds
    valid = np.isfinite(obs) & np.isfinite(inp[:, -1:])
    fc = np.where(np.isfinite(fc), fc, 0.0)
    fc = np.where(valid, fc, np.nan)
    o = np.where(valid, obs, np.nan)
    tab = np.zeros((len(thresholds), obs.shape[1], 4), dtype=np.int64)
    for ti, t in enumerate(thresholds):
        for k in range(obs.shape[1]):
            tab[ti, k] = contingency(fc[:, k], o[:, k], t)
    return tab


def spectra_of(fc: np.ndarray, pixel_km: float) -> Dict[str, List[float]]:
    out = {}
    for lead in SPECTRA_LEADS:
        wl, p = S.mean_rapsd([fc[i, lead - 1] for i in range(fc.shape[0])], pixel_km)
        out[str(lead * 10)] = p.tolist()
        out["wavelength_km"] = wl.tolist()
    return out


# ---------------------------------------------------------------- report ----

def lead_scores(tab: np.ndarray) -> List[Dict[str, float]]:
    return [scores(tab[k]) for k in range(tab.shape[0])]


def hss_mean_over_leads(tab: np.ndarray) -> np.ndarray:
    """HSS averaged over leads (leads without events skipped, as mean_over_leads)
    of contingency tables [..., lead, 4] (hits, misses, false alarms, correct
    negatives), vectorised for the bootstrap: [...]."""
    h, m, f, n = (tab[..., i].astype(np.float64) for i in range(4))
    den = (h + m) * (m + n) + (h + f) * (f + n)
    with np.errstate(invalid="ignore", divide="ignore"):
        hss = np.where(den > 0, 2.0 * (h * n - m * f) / den, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all leads without events: NaN
        return np.nanmean(hss, axis=-1)


def bootstrap_difference(per_a: Dict[str, np.ndarray], per_b: Dict[str, np.ndarray],
                         n: int, block: int, seed: int = 0) -> Dict[str, List[float]]:
    """Circular block bootstrap over start times of HSS(a) - HSS(b), mean over
    leads, per threshold. per_x: group -> [start, thr, lead, 4]. Starts of one
    group are resampled in blocks of consecutive starts (neighbouring starts
    share 11 of their 12 observed frames, so single starts are not
    independent): `block` long, but at most half the group so that a small
    group is resampled too; circular, so every start is drawn as often as the
    others. The same draw for a and b (a paired comparison). Returns the point
    difference, the 5 % and 95 % quantiles and the share of draws > 0."""
    rng = np.random.default_rng(seed)
    ta = sum(v.sum(0) for v in per_a.values())
    tb = sum(v.sum(0) for v in per_b.values())
    point = hss_mean_over_leads(ta) - hss_mean_over_leads(tb)
    diffs = np.empty((n, ta.shape[0]))
    for r in range(n):
        sa = 0
        sb = 0
        for g, a in per_a.items():
            idx = _block_draw(rng, a.shape[0], block)
            sa = sa + a[idx].sum(0)
            sb = sb + per_b[g][idx].sum(0)
        diffs[r] = hss_mean_over_leads(sa) - hss_mean_over_leads(sb)
    return {"point": point.tolist(), "lo": np.nanquantile(diffs, 0.05, axis=0).tolist(),
            "hi": np.nanquantile(diffs, 0.95, axis=0).tolist(),
            "p_gt0": np.mean(diffs > 0, axis=0).tolist()}


def _block_draw(rng: np.random.Generator, L: int, block: int) -> np.ndarray:
    """Indices of one circular block-bootstrap draw of L consecutive starts, blocks
    `block` long but at most L // 2 (bootstrap_difference's rule)."""
    bl = max(1, min(block, L // 2))
    starts = rng.integers(0, L, int(math.ceil(L / bl)))
    return np.concatenate([(s0 + np.arange(bl)) % L for s0 in starts])[:L]


def bootstrap_events(per_a: Dict[str, np.ndarray], per_b: Dict[str, np.ndarray],
                     n: int, block: int, seed: int = 0) -> Dict[str, dict]:
    """HSS(a) - HSS(b) (mean over leads, per threshold) per event and for the
    mean over events, by a circular block bootstrap over the start times of each
    event (the same draw for a and b; events resampled independently of each
    other, blocks as bootstrap_difference). per_x: event -> [start, thr, lead, 4].
    The mean over events weighs every event alike (an event is one sample of
    weather), unlike bootstrap_difference, which pools the tables.
    Returns {"events": {event: stats}, "mean": stats}, stats = point difference,
    "lo"/"hi" the 5 % / 95 % quantiles and "p_gt0" the share of draws > 0, each a
    list over thresholds."""
    names = [g for g in per_a if per_a[g].shape[0] > 0]
    for g in names:
        if per_b[g].shape != per_a[g].shape:
            raise ValueError(f"bootstrap_events: {g}: {per_a[g].shape} vs {per_b[g].shape}")
    rng = np.random.default_rng(seed)
    point = {g: hss_mean_over_leads(per_a[g].sum(0)) - hss_mean_over_leads(per_b[g].sum(0))
             for g in names}
    draws = {g: np.empty((n, per_a[g].shape[1])) for g in names}
    for r in range(n):
        for g in names:
            idx = _block_draw(rng, per_a[g].shape[0], block)
            draws[g][r] = (hss_mean_over_leads(per_a[g][idx].sum(0))
                           - hss_mean_over_leads(per_b[g][idx].sum(0)))

    def stats(pt: np.ndarray, d: np.ndarray) -> dict:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return {"point": np.asarray(pt, float).tolist(),
                    "lo": np.nanquantile(d, 0.05, axis=0).tolist(),
                    "hi": np.nanquantile(d, 0.95, axis=0).tolist(),
                    "p_gt0": np.mean(d > 0, axis=0).tolist()}

    out = {"events": {g: stats(point[g], draws[g]) for g in names}}
    if names:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            mp = np.nanmean(np.stack([point[g] for g in names]), axis=0)
            md = np.nanmean(np.stack([draws[g] for g in names]), axis=0)
        out["mean"] = stats(mp, md)
    return out


def mean_over_leads(tab: np.ndarray, key: str) -> float:
    v = [s[key] for s in lead_scores(tab) if not math.isnan(s[key])]
    return float(np.mean(v)) if v else float("nan")


def _f(x: float) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.3f}"


def method_order(res: dict) -> List[str]:
    """The fixed methods in ORDER, the --candidate ones before extrapolation."""
    cand = [m for m in res.get("labels", {}) if m in res["methods"] and m not in ORDER]
    i = ORDER.index("extrapolation")
    return [m for m in ORDER[:i] + tuple(cand) + ORDER[i:] if m in res["methods"]]


def render(res: dict, out: Path) -> None:
    LABEL.update(res.get("labels", {}))
    meth = method_order(res)
    L = []
    if res.get("split", "test") == "test":
        L.append("# Verification of IMPA-Net on the held-out test split\n")
    else:
        L.append(f"# Verification of IMPA-Net on the {res['split']} split "
                 "(for choosing between models; the scores to quote are the test split's)\n")
    L.append(f"Generated by `impa.evaluate` ({res.get('updated', '')}). Command:\n")
    L.append("```\n" + res.get("command", "") + "\n```\n")
    L.append(f"{res.get('split', 'test').capitalize()} samples (4 frames in, 12 leads of 10 min out, full product grid): "
             + "; ".join(f"{g}: {n} start times" for g, n in res["n_samples"].items())
             + ". Split in docs/training.md. Pixel events `>=` threshold; contingency "
               "counts summed over start times per lead, scores per lead, then the mean "
               "over leads 10-120 min. Pixels without radar data in the observation or "
               "the last input frame are excluded.\n")
    L.append("How each method was run:\n")
    for m in meth:
        L.append(f"- **{LABEL.get(m, m)}**: {res['methods'][m]['how']}")
    L.append("")
    groups = ["all"] + [g for g in res["n_samples"]]
    for g in groups:
        title = f"all {res.get('split', 'test')} samples" if g == "all" else g
        L.append(f"## Mean over leads, {title}\n")
        L.append("| method | " + " | ".join(f"CSI {t:g} | POD {t:g} | FAR {t:g} | HSS {t:g}"
                                         for t in THRESHOLDS) + " |")
        L.append("| --- |" + " --- |" * (4 * len(THRESHOLDS)))
        for m in meth:
            tab = np.array(res["methods"][m]["tables"][g])
            cells = []
            for ti in range(len(THRESHOLDS)):
                for key in ("csi", "pod", "far", "hss"):
                    cells.append(_f(mean_over_leads(tab[ti], key)))
            L.append(f"| {LABEL.get(m, m)} | " + " | ".join(cells) + " |")
        L.append("")
    L.append(f"## HSS by lead, all {res.get('split', 'test')} samples\n")
    for ti, t in enumerate(THRESHOLDS):
        L.append(f"HSS at {t:g} dBZ:\n")
        nl = len(res["methods"][meth[0]]["tables"]["all"][ti])
        L.append("| method | " + " | ".join(f"{10 * (k + 1)}" for k in range(nl)) + " | mean |")
        L.append("| --- |" + " --- |" * (nl + 1))
        for m in meth:
            tab = np.array(res["methods"][m]["tables"]["all"][ti])
            ls = lead_scores(tab)
            L.append(f"| {LABEL.get(m, m)} | " + " | ".join(_f(s["hss"]) for s in ls)
                     + f" | {_f(mean_over_leads(tab, 'hss'))} |")
        L.append("")
    L.append("## Anchors-style summary: HSS 20 | 35 | 45 dBZ, mean over leads\n")
    L.append("| group | " + " | ".join(LABEL.get(m, m) for m in meth) + " |")
    L.append("| --- |" + " --- |" * len(meth))
    for g in groups:
        cells = []
        for m in meth:
            tab = np.array(res["methods"][m]["tables"][g])
            cells.append(" \\| ".join(_f(mean_over_leads(tab[ti], "hss"))
                                      for ti in (0, 2, 3)))
        L.append(f"| {g} | " + " | ".join(cells) + " |")
    L.append("")
    bs = res.get("bootstrap")
    if bs and bs.get("methods"):
        L.append("## How sure: HSS difference to the extrapolation, mean over leads\n")
        L.append(f"Point difference, then the 90 % interval [5 %, 95 %] and the share of "
                 f"draws above 0, from a moving-block bootstrap over start times "
                 f"({bs['n']} draws, circular blocks of {bs['block']} consecutive starts per "
                 "event, at most half an event's starts, "
                 "the same draws for both methods). An interval that contains 0 means "
                 "these samples cannot tell the two apart.\n")
        L.append("| method | " + " | ".join(f"{t:g} dBZ" for t in THRESHOLDS) + " |")
        L.append("| --- |" + " --- |" * len(THRESHOLDS))
        for m in meth:
            b = bs["methods"].get(m)
            if not b:
                continue
            cells = [f"{b['point'][ti]:+.3f} [{b['lo'][ti]:+.3f}, {b['hi'][ti]:+.3f}] "
                     f"{b['p_gt0'][ti]:.2f}" for ti in range(len(THRESHOLDS))]
            L.append(f"| {LABEL.get(m, m)} | " + " | ".join(cells) + " |")
        L.append("")
        b = bs.get("impa_vs_mse")
        if b:
            L.append(f"The same for {LABEL['impa']} minus {LABEL['mse']} (MAD-Loss against "
                     "MSE):\n")
            L.append("| " + " | ".join(f"{t:g} dBZ" for t in THRESHOLDS) + " |")
            L.append("|" + " --- |" * len(THRESHOLDS))
            L.append("| " + " | ".join(f"{b['point'][ti]:+.3f} [{b['lo'][ti]:+.3f}, "
                                       f"{b['hi'][ti]:+.3f}] {b['p_gt0'][ti]:.2f}"
                                       for ti in range(len(THRESHOLDS))) + " |")
            L.append("")
    if "spectra" in res:
        sp = res["spectra"]
        L.append(f"## Radially averaged power spectra ({sp['group']}, mean over start times)\n")
        L.append("Forecast power / observed power at the same valid time, summed over "
                 "wavelength bands (1 = the scale keeps its energy, < 1 = smoothed). "
                 "Picture: `spectra.png`.\n")
        bands = [f"{lo:g}-{hi:g} km" for lo, hi in BANDS]
        bands[-1] = f">= {BANDS[-1][0]:g} km"
        for lead in SPECTRA_LEADS:
            key = str(lead * 10)
            L.append(f"Lead {key} min:\n")
            L.append("| method | " + " | ".join(bands) + " |")
            L.append("| --- |" + " --- |" * len(bands))
            wl = np.array(sp["obs"]["wavelength_km"])
            po = np.array(sp["obs"][key])
            for m in meth:
                if m not in sp["methods"]:
                    continue
                pf = np.array(sp["methods"][m][key])
                r = S.band_ratio(wl, pf, po, BANDS)
                L.append(f"| {LABEL.get(m, m)} | " + " | ".join(_f(v) for v in r.values()) + " |")
            L.append("")
    (out / "results.md").write_text("\n".join(L) + "\n")


def plot_spectra(res: dict, out: Path) -> None:
    if "spectra" not in res:
        return
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sp = res["spectra"]
    fig, axes = plt.subplots(1, len(SPECTRA_LEADS), figsize=(11, 4.2), sharey=True)
    wl = np.array(sp["obs"]["wavelength_km"])
    for ax, lead in zip(axes, SPECTRA_LEADS):
        key = str(lead * 10)
        ax.loglog(wl, sp["obs"][key], "k-", lw=2, label="observed")
        for m in method_order(res):
            if m in sp["methods"]:
                ax.loglog(wl, sp["methods"][m][key], lw=1.2, label=LABEL.get(m, m))
        ax.invert_xaxis()
        ax.set_xlabel("wavelength (km)")
        ax.set_title(f"lead {key} min")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("power (dBZ$^2$)")
    axes[-1].legend(fontsize=8)
    fig.suptitle(f"RAPSD, {sp['group']} test samples")
    fig.tight_layout()
    fig.savefig(out / "spectra.png", dpi=100)
    plt.close(fig)


# ------------------------------------------------------------------ main ----

def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="impa.evaluate", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=str(D.TRAIN_DIR.parent / "docs" / "eval"))
    p.add_argument("--weights", default=str(D.TRAIN_DIR.parent / "models" / "impa-net.nc"))
    p.add_argument("--ablation", default=str(D.TRAIN_DIR.parent / "models" / "impa-net-mse.nc"))
    p.add_argument("--plain", default="", help="weights of the plain IMPA-Net (advection = 0), MAD-Loss")
    p.add_argument("--plain-mse", default="", help="weights of the plain IMPA-Net trained with MSE")
    p.add_argument("--nomixer", default="", help="weights of the no-mixer ablation (optional)")
    p.add_argument("--candidate", nargs=3, action="append", default=[],
                   metavar=("KEY", "WEIGHTS", "LABEL"),
                   help="also score the model WEIGHTS as method KEY, labelled LABEL "
                        "(repeatable; for models tried but not shipped)")
    p.add_argument("--infer", default=None, help="impa-infer executable (default: build*/src/engine)")
    p.add_argument("--extrapolate", default=None, help="impa-extrapolate (default: build*/src/nowcast)")
    p.add_argument("--no-c", action="store_true", help="use the Python paths even if the C tools exist")
    p.add_argument("--methods", default="persistence,extrapolation,impa,mse")
    p.add_argument("--stride", type=int, default=1, help="use every n-th test start")
    p.add_argument("--split", choices=("test", "val"), default="test",
                   help="samples to score: the held-out test split (default) or the "
                        "validation split, to choose between models without the test split")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--tile", type=int, default=80,
                   help="C engine window side for size-dependent models (impa-infer --tile; "
                        "the daemon's model.tile); 0 = whole grid. Size-independent models "
                        "(norm_local and se_window) always run on the whole grid")
    p.add_argument("--bootstrap", type=int, default=0,
                   help="draws of a moving-block bootstrap over start times of each "
                        "method's HSS difference to the extrapolation (0 = off)")
    p.add_argument("--block", type=int, default=6,
                   help="consecutive start times per bootstrap block (6 = 1 h; at most half "
                        "of an event's starts)")
    p.add_argument("--calibration", choices=("auto", "none", "extrapolation"), default="auto",
                   help="probability matching of the networks' forecasts (impa-infer "
                        "--calibration, the daemon's model.calibration): auto = each lead "
                        "of an advection model matched to its extrapolated frame")
    p.add_argument("--tile-overlap", type=int, default=0,
                   help="pixels shared by neighbouring --tile windows, blended with linear "
                        "ramps (impa-infer --tile-overlap; the daemon's model.tile_overlap, "
                        "32 there); 0 = abutting windows, as before the option")
    args = p.parse_args(argv)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cfg = ImpaConfig()
    infer = None if args.no_c else find_tool("impa-infer", args.infer, "engine")
    extrap = None if args.no_c else find_tool("impa-extrapolate", args.extrapolate, "nowcast")
    groups = test_groups(cfg, args.stride, args.split)
    resf = out / "results.json"
    res = json.loads(resf.read_text()) if resf.exists() else {"methods": {}}
    if res.get("stride") not in (None, args.stride) or res.get("split", "test") != args.split:
        res = {"methods": {}}  # other sample set: start over
    res["stride"] = args.stride
    res["split"] = args.split
    res["n_samples"] = {g: len(v[0]) for g, v in groups.items()}
    res["command"] = "cd train && /usr/bin/python3 -m impa.evaluate " + " ".join(
        sys.argv[1:] if argv is None else list(argv))
    res["updated"] = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")

    spec_group = "bom-brisbane-20201031"
    if spec_group in groups and "spectra" not in res:
        obs = groups[spec_group][2]
        res["spectra"] = {"group": spec_group, "obs": spectra_of(obs, D.pixel_km(spec_group)), "methods": {}}

    methods = [s.strip() for s in args.methods.split(",") if s.strip()]
    cand = {}
    for key, w, label in args.candidate:
        if key in WEIGHT_OPTS or key in ("persistence", "extrapolation") or key in cand:
            raise SystemExit(f"evaluate: --candidate {key}: the name is taken")
        cand[key] = w
        res.setdefault("labels", {})[key] = label
        methods.append(key)
    for m in methods:
        t0 = time.time()
        tabs: Dict[str, np.ndarray] = {}
        per: Dict[str, np.ndarray] = {}  # group -> [start, thr, lead, 4]
        how = ""
        spec = None
        for g, (starts, inp, obs) in groups.items():
            if m == "persistence":
                fc, how = persistence(inp, cfg.t_out), "last observed frame for every lead"
            elif m == "extrapolation":
                if extrap:
                    fc = run_tool([extrap, "--leads", str(cfg.t_out)], inp, cfg.t_out)
                    how = f"C optical-flow extrapolation ({os.path.relpath(extrap, D.TRAIN_DIR.parent)})"
                else:
                    fc = extrapolation_py(inp, cfg.t_out)
                    how = ("Python stand-in: global motion vector by phase correlation + "
                           "semi-Lagrangian shift (impa-extrapolate not found); NOT optical flow")
            elif m in WEIGHT_OPTS or m in cand:
                w = cand[m] if m in cand else getattr(args, WEIGHT_OPTS[m])
                if not w or not Path(w).exists():
                    print(f"evaluate: {m}: weights {w!r} not found, skipped", file=sys.stderr)
                    break
                # the input frames of an advection-guided model come from the C
                # extrapolator even with --no-c: training took them from it
                fc, how = model_forecast(w, inp, infer, args.threads, cfg.t_out, args.tile,
                                         extrap or find_tool("impa-extrapolate", args.extrapolate,
                                                             "nowcast"),
                                         args.tile_overlap, args.calibration, g)
                how += f", weights {os.path.relpath(w, D.TRAIN_DIR.parent)}"
            else:
                raise SystemExit(f"evaluate: unknown method {m!r}")
            per[g] = np.stack([score_method(fc[i:i + 1], inp[i:i + 1], obs[i:i + 1])
                               for i in range(fc.shape[0])])
            tabs[g] = per[g].sum(0)
            if g == spec_group:
                spec = spectra_of(fc, D.pixel_km(g))
            print(f"evaluate: {m} on {g}: {len(starts)} samples", file=sys.stderr)
        if len(tabs) != len(groups):
            continue
        tabs["all"] = sum(tabs.values())
        res["methods"][m] = {"how": how, "seconds": time.time() - t0,
                             "tables": {g: t.tolist() for g, t in tabs.items()},
                             "per_start": {g: t.tolist() for g, t in per.items()}}
        if spec is not None:
            res["spectra"]["methods"][m] = spec
        resf.write_text(json.dumps(res, separators=(",", ":")))
        print(f"evaluate: {m} done in {time.time() - t0:.0f} s", file=sys.stderr)
    if args.bootstrap:
        base = res["methods"].get("extrapolation", {}).get("per_start")
        if not base:
            raise SystemExit("evaluate: --bootstrap needs the extrapolation's per-start "
                             "tables: include extrapolation in --methods")
        pb = {g: np.array(v) for g, v in base.items()}
        res["bootstrap"] = {"n": args.bootstrap, "block": args.block, "methods": {}}
        for m, r in res["methods"].items():
            if m == "extrapolation" or not r.get("per_start"):
                continue
            pa = {g: np.array(v) for g, v in r["per_start"].items()}
            res["bootstrap"]["methods"][m] = bootstrap_difference(pa, pb, args.bootstrap,
                                                                  args.block)
        # the ablation question of the model card: MAD-Loss against MSE, paired
        if all(res["methods"].get(m, {}).get("per_start") for m in ("impa", "mse")):
            pi, pm = ({g: np.array(v) for g, v in res["methods"][m]["per_start"].items()}
                      for m in ("impa", "mse"))
            res["bootstrap"]["impa_vs_mse"] = bootstrap_difference(pi, pm, args.bootstrap,
                                                                   args.block)
        resf.write_text(json.dumps(res, separators=(",", ":")))
    render(res, out)
    plot_spectra(res, out)
    print(f"evaluate: wrote {out / 'results.md'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
