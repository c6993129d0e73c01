"""Probability of severe echo: fitting and verification of the neighbourhood
exceedance probability the daemon computes (src/nowcast/prob.c, impa/prob.h).

    cd train && /usr/bin/python3 -m impa.prob --table ../models/prob-calibration.txt \
        --out ../docs/eval [--forecast extrapolation,impa] [--weights ../models/impa-net.nc]

Method. For a threshold T and lead k, f(x) is the fraction of pixels with
forecast >= T in the square window of half-width r_k km around x (clipped at
the grid's edges, forecast NaN = no echo), and P(x) = c_k(f(x)) with c_k
piecewise linear between knots at f = j / (K - 1), non-decreasing. For every
(T, k) and every radius of RADII_KM, c is fitted on the training events
(impa.data.make_blocks: Brisbane's training blocks and the six training events)
by isotonic regression (pool-adjacent-violators) of the observed exceedance on
f, binned in NB bins; the radius with the lowest training Brier score is kept.
The deterministic forecast fitted on is the C extrapolation (impa.advect's
cache: the same frames every cycle's fallback computes and the network is
calibrated to, cheap for all 118 training starts); the network's forecast on
the test split is scored through the same table (--forecast impa).

Verification on the test split (Brisbane 09:20-14:30 UTC and MeteoSwiss
2016-07-11): per lead, Brier score, Brier skill score against the base rate of
those cases (o(1 - o), the best constant forecast), Brier score of the 0/1
deterministic forecast (forecast >= T), reliability table (10 bins), ROC area.
Pixels count where the observation and the last input frame have radar data,
as impa.evaluate; a forecast pixel with no value has P = 0 there.

The C tool impa-prob, when built, computes the test probabilities too; the
largest difference to the NumPy ones is reported (`c_agreement`).

Writes: the table (--table), OUT/prob.json, OUT/prob.md and
../docs/prob-reliability.png (--png).

The fit here is impa-prob-1's (trend classes). Tables with growth terms
(impa-prob-2, the shipped one) are fitted by impa.probloeo --fit, which then
scores them through this module's --no-fit; both formats are read and
verified here (read_growth, start_rows).
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from . import data as D
from .advect import SCHEMES

THRESHOLDS = (35.0, 45.0)
CLASSES = (-1, 0, 1)  # trend: decaying, steady, growing
TREND_RATIO = 1.3
MIN_EVENTS = 2000     # observed exceedance pixels a class needs at a lead to be fitted alone
RADII_KM = (0.0, 2.0, 4.0, 6.0, 9.0, 12.0, 16.0, 20.0, 25.0, 32.0)
N_KNOTS = 21
NB = 200          # fraction bins for the fit (f = 0 gets one of its own)
REL_BINS = 10     # reliability table
ROC_BINS = 100
T_IN, T_OUT, STEP_MIN = 4, 12, 10
PROB_TOOL = "impa-prob"


def pixel_km(event: str) -> float:
    return D.pixel_km(event)


TREND_EPS = 1e-4  # area fraction added to both areas of the trend ratio


def trend_class(inp: np.ndarray, thr: float, ratio: float) -> int:
    """-1 decaying, 0 steady, 1 growing: the area >= thr in the newest input
    frame against the oldest (impa_prob_trend), with TREND_EPS added to both so
    a few pixels do not make a trend; ratio 0 = one class (0)."""
    if ratio <= 0:
        return 0
    def area(f: np.ndarray) -> float:
        fin = np.isfinite(f)
        return float((np.nan_to_num(f, nan=-1e9) >= thr).sum()) / max(1, int(fin.sum()))
    g = (area(inp[-1]) + TREND_EPS) / (area(inp[0]) + TREND_EPS)
    return 1 if g > ratio else -1 if g < 1.0 / ratio else 0


# Growth terms (impa-prob-2 tables, the `growth` line): the calibration's knots
# c_j become (1 - l) sigmoid(a + b logit(c_j) + g rate + d size) + l q per start
# (l: shrinkage towards the fitted base rate q), with
#   rate = ln((A_new + A0) / (A_old + A0)) / span, clipped to +-rate_max per hour,
#   size = ln(1 + A_new / A0),
# A the area >= T (km^2) of the newest and oldest input frame, span the hours
# between them (impa_prob_growth in C).
LOGIT_EPS = 1e-5


def growth_from_counts(n_old, n_new, px_km, span_h, a0_km2: float, rate_max: float):
    """(rate per hour, size) from pixel counts >= T of the oldest and newest
    input frame (arrays or scalars); span_h <= 0: rate 0."""
    a_old = np.asarray(n_old, dtype=np.float64) * np.asarray(px_km, dtype=np.float64) ** 2
    a_new = np.asarray(n_new, dtype=np.float64) * np.asarray(px_km, dtype=np.float64) ** 2
    if span_h > 0:
        rate = np.clip(np.log((a_new + a0_km2) / (a_old + a0_km2)) / span_h, -rate_max, rate_max)
    else:
        rate = np.zeros_like(a_new)
    return rate, np.log1p(a_new / a0_km2)


def growth_terms(inp: np.ndarray, thr: float, px_km: float, a0_km2: float, rate_max: float,
                 step_min: int = STEP_MIN) -> Tuple[float, float]:
    """(rate, size) of one start's inputs [T_IN, H, W] (oldest first)."""
    n = (np.nan_to_num(inp, nan=-1e9) >= thr).reshape(inp.shape[0], -1).sum(1)
    r, sz = growth_from_counts(n[0], n[-1], px_km, (inp.shape[0] - 1) * step_min / 60.0,
                               a0_km2, rate_max)
    return float(r), float(sz)


def logistic_knots(knots, coef: Sequence[float], rate, size) -> np.ndarray:
    """knots [K] adjusted by coef = (a, b, g, d[, l, q]) for predictors rate,
    size (scalars -> [K]; arrays [S] -> [S, K])."""
    a, b, g, d = coef[:4]
    l, q = (coef[4], coef[5]) if len(coef) > 4 else (0.0, 0.0)
    k = np.clip(np.asarray(knots, dtype=np.float64), LOGIT_EPS, 1 - LOGIT_EPS)
    z0 = a + b * np.log(k / (1 - k))
    t = g * np.asarray(rate, dtype=np.float64) + d * np.asarray(size, dtype=np.float64)
    z = z0 + (t[..., None] if np.ndim(t) else t)
    return np.maximum.accumulate((1 - l) / (1.0 + np.exp(-z)) + l * q, axis=-1)


def radius_px(radius_km: float, px_km: float) -> int:
    """The C rounding: floor(r / pixel + 0.5)."""
    return int(np.floor(radius_km / px_km + 0.5))


# ------------------------------------------------------------- the forecasts ----

def scheme_extrapolations(events: Dict[str, np.ndarray], scheme: str, tool: Optional[str],
                          starts: Dict[str, Sequence[int]],
                          chunk: int = 16) -> Dict[str, Dict[int, np.ndarray]]:
    """The deterministic forecasts the table is fitted on and scored with:
    impa-extrapolate of `scheme` (impa.advect.scheme_args) for the given starts
    of each event only (a fit reads every second start of a few blocks: a
    third of the starts impa.advect's whole-event cache would compute), cached
    in D.CACHE_DIR under the event, the starts, the tool and the scheme.
    Returns event -> start -> [T_OUT, H, W] float16."""
    import hashlib
    import tempfile

    from .advect import _tool_sha, extrapolate, find_extrapolate, scheme_args

    if scheme not in SCHEMES:
        raise SystemExit(f"prob: unknown scheme {scheme!r} (one of {', '.join(SCHEMES)})")
    tool = find_extrapolate(tool)
    sha = _tool_sha(tool)
    out: Dict[str, Dict[int, np.ndarray]] = {}
    for name, want in starts.items():
        want = sorted(set(want))
        if not want:
            continue
        dbz = events[name]
        args = scheme_args(scheme, name)
        key = hashlib.sha256(np.ascontiguousarray(dbz[:, ::7, ::7]).tobytes()
                             + repr((want, args)).encode()).hexdigest()[:12]
        path = D.CACHE_DIR / f"{name}-prob-extrap-{T_IN}-{T_OUT}-{sha}-{scheme}-{key}.npy"
        if path.exists():
            a = np.load(path, mmap_mode="r")
        else:
            a = np.empty((len(want), T_OUT) + dbz.shape[1:], dtype=np.float16)
            for i in range(0, len(want), chunk):
                j = min(len(want), i + chunk)
                inp = np.stack([dbz[s:s + T_IN] for s in want[i:j]]).astype(np.float32)
                a[i:j] = extrapolate(tool, inp, T_OUT, 0, args).astype(np.float16)
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=str(path.parent), suffix=".tmp.npy")
            os.close(fd)
            np.save(tmp, a)
            os.replace(tmp, path)
        out[name] = {s: a[i] for i, s in enumerate(want)}
    return out


# ---------------------------------------------------------------- the field ----

def summed_area(ind: np.ndarray) -> np.ndarray:
    """[H, W] bool -> [H+1, W+1] int64 summed-area table (row/column 0 zero)."""
    s = np.zeros((ind.shape[0] + 1, ind.shape[1] + 1), dtype=np.int64)
    np.cumsum(np.cumsum(ind, axis=0, dtype=np.int64), axis=1, out=s[1:, 1:])
    return s


def window_fraction(sat: np.ndarray, r: int) -> np.ndarray:
    """Fraction of the clipped (2r+1)^2 window around each pixel that is set,
    from a summed-area table (as prob.c)."""
    h, w = sat.shape[0] - 1, sat.shape[1] - 1
    y = np.arange(h)
    x = np.arange(w)
    y0, y1 = np.clip(y - r, 0, h), np.clip(y + r + 1, 0, h)
    x0, x1 = np.clip(x - r, 0, w), np.clip(x + r + 1, 0, w)
    n = (sat[y1][:, x1] - sat[y1][:, x0] - sat[y0][:, x1] + sat[y0][:, x0])
    area = np.outer(y1 - y0, x1 - x0)
    return n / area


def echo_fractions(ind: np.ndarray, r: int) -> Tuple[slice, slice, np.ndarray]:
    """window_fraction of ind [H, W] where it can be above 0: (rows, cols, f)
    with f [rows, cols] over the box of the set pixels widened by r (outside
    it f = 0); the same values, at the cost of the echo's box, not the grid's.
    No set pixel: an empty box."""
    h, w = ind.shape
    ry, rx = np.flatnonzero(ind.any(1)), np.flatnonzero(ind.any(0))
    if not len(ry):
        return slice(0, 0), slice(0, 0), np.zeros((0, 0))
    ya, yb, xa, xb = int(ry[0]), int(ry[-1]) + 1, int(rx[0]), int(rx[-1]) + 1
    sat = summed_area(ind[ya:yb, xa:xb])  # ind is 0 outside the box: the sums are exact

    def axis(a: int, b: int, n: int):
        p = np.arange(max(0, a - r), min(n, b + r))
        lo, hi = np.clip(p - r, 0, n), np.clip(p + r + 1, 0, n)
        return slice(int(p[0]), int(p[-1]) + 1), np.clip(lo - a, 0, b - a), \
            np.clip(hi - a, 0, b - a), hi - lo

    sy, y0, y1, ay = axis(ya, yb, h)
    sx, x0, x1, ax = axis(xa, xb, w)
    n = sat[y1][:, x1] - sat[y1][:, x0] - sat[y0][:, x1] + sat[y0][:, x0]
    return sy, sx, n / np.outer(ay, ax)


def calibrated(f: np.ndarray, knots: Sequence[float]) -> np.ndarray:
    """P = c(f), linear between knots at j / (K - 1) (impa_prob_calibrated)."""
    k = np.asarray(knots, dtype=np.float64)
    return np.interp(f, np.linspace(0.0, 1.0, len(k)), k)


def prob_field(fc: np.ndarray, thr: float, rows: Sequence[Tuple],
               px_km: float) -> np.ndarray:
    """fc [L, H, W] dBZ -> P(dBZ >= thr) [L, H, W], rows[k] = (radius km, knots[,
    margin dB]): the window counts forecast pixels >= thr + margin (float32, as
    the C code compares); NaN where fc is NaN (impa_prob_compute)."""
    out = np.empty(fc.shape, dtype=np.float32)
    for k in range(fc.shape[0]):
        t = np.float32(thr) + np.float32(rows[k][2] if len(rows[k]) > 2 else 0.0)
        f = window_fraction(summed_area(np.nan_to_num(fc[k], nan=-1e9) >= t),
                            radius_px(rows[k][0], px_km))
        p = calibrated(f, rows[k][1]).astype(np.float32)
        out[k] = np.where(np.isnan(fc[k]), np.nan, p)
    return out


# ---------------------------------------------------------------- the table ----

Table = Dict[Tuple[float, int, int], Tuple[float, List[float]]]
"""(threshold, lead min, trend class) -> (radius km, knots)"""


def write_table(path: str | Path, table: Table, name: str, ratio: float,
                header: Sequence[str], scheme: str = "impa-extrap-1",
                growth: Optional[Growth] = None,
                margins: Optional[Dict[Tuple[float, int], float]] = None) -> None:
    knots = len(next(iter(table.values()))[1])
    lines = ["impa-prob-calibration 1"]
    lines += [f"# {h}" for h in header]
    lines += [f"name {name}", f"scheme {scheme}", f"knots {knots}", f"trend {ratio:g}"]
    if growth is not None:
        lines += ["# growth terms: A0 km^2 and the clip of the growth rate (per hour); "
                  "logistic THR LEAD a b g d l q", f"growth {growth[0]:g} {growth[1]:g}",
                  "# shrinkage towards: scene = the newest input's area fraction >= T, "
                  "base = q", f"shrink-target {'scene' if growth[3] else 'base'}"]
    lines += ["# threshold_dbz lead_min trend radius_km  P at f = 0, 1/(K-1), ..., 1"]
    for (thr, lead, cl), (rad, kn) in sorted(table.items()):
        lines.append(f"{thr:g} {lead} {cl} {rad:g} " + " ".join(f"{v:.5f}" for v in kn))
    if growth is not None:
        for (thr, lead), c in sorted(growth[2].items()):
            lines.append(f"logistic {thr:g} {lead} " + " ".join(f"{v:.6g}" for v in c))
    if margins:
        lines.append("# intensity margin: the window counts forecast pixels >= threshold + "
                     "DB; margin THR LEAD DB")
        for (thr, lead), m in sorted(margins.items()):
            lines.append(f"margin {thr:g} {lead} {m:g}")
    tmp = str(path) + ".tmp"
    with open(tmp, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(tmp, path)


def read_table(path: str | Path) -> Tuple[Table, str, float]:
    """(table, name, trend ratio) of a table file (format: impa/prob.h)."""
    table: Table = {}
    name = ""
    ratio = 0.0
    with open(path) as f:
        first = True
        for line in f:
            s = line.split("#", 1)[0].strip()
            if not s:
                continue
            if first:
                if s != "impa-prob-calibration 1":
                    raise ValueError(f"{path}: not a calibration table")
                first = False
            elif s.startswith("name "):
                name = s[5:].strip()
            elif s.startswith("trend "):
                ratio = float(s[6:])
            elif s.split()[0] in ("knots", "scheme", "growth", "logistic", "shrink-target",
                                  "margin"):
                continue
            else:
                v = s.split()
                table[(float(v[0]), int(v[1]), int(v[2]))] = (float(v[3]),
                                                             [float(x) for x in v[4:]])
    return table, name, ratio


def rows_for(table: Table, thr: float, cl: int, n_leads: int = T_OUT,
             step: int = STEP_MIN) -> List[Tuple[float, List[float]]]:
    return [table[(thr, (k + 1) * step, cl)] for k in range(n_leads)]


Growth = Tuple[float, float, Dict[Tuple[float, int], Tuple[float, ...]], bool]
"""(A0 km^2, rate_max per hour, (threshold, lead min) -> (a, b, g, d, l, q),
shrink towards the scene: q = the newest input's area fraction >= T)"""


def read_growth(path: str | Path) -> Optional[Growth]:
    """The growth terms of a table (`growth A0 RATE_MAX` and `logistic THR LEAD
    a b g d l q` lines), None for a table without them."""
    gl = None
    scene = False
    coef: Dict[Tuple[float, int], Tuple[float, ...]] = {}
    with open(path) as f:
        for line in f:
            v = line.split("#", 1)[0].split()
            if v[:1] == ["growth"]:
                gl = (float(v[1]), float(v[2]))
            elif v[:1] == ["shrink-target"]:
                scene = v[1] == "scene"
            elif v[:1] == ["logistic"]:
                coef[(float(v[1]), int(v[2]))] = tuple(float(x) for x in v[3:9])
    return None if gl is None else (gl[0], gl[1], coef, scene)


def read_margins(path: str | Path) -> Dict[Tuple[float, int], float]:
    """The `margin THR LEAD DB` lines of a table ({} without them)."""
    out: Dict[Tuple[float, int], float] = {}
    with open(path) as f:
        for line in f:
            v = line.split("#", 1)[0].split()
            if v[:1] == ["margin"]:
                out[(float(v[1]), int(v[2]))] = float(v[3])
    return out


def start_rows(table: Table, growth: Optional[Growth], thr: float, inp: np.ndarray,
               ratio: float, px_km: float,
               margins: Optional[Dict[Tuple[float, int], float]] = None) -> List[Tuple]:
    """The rows one start uses at thr: its trend class's, and with growth terms
    their knots adjusted by its rate and size (impa_prob_compute); with margins,
    (radius, knots, margin dB)."""
    rows = rows_for(table, thr, trend_class(inp, thr, ratio))
    if margins:
        rows = [(r, kn, margins.get((thr, (k + 1) * STEP_MIN), 0.0))
                for k, (r, kn) in enumerate(rows)]
    if growth is None:
        return rows
    a0, rmax, coef, scene = growth
    rate, size = growth_terms(inp, thr, px_km, a0, rmax)
    if scene:  # the newest input's area fraction >= thr (of its pixels with a value)
        fin = np.isfinite(inp[-1])
        q = float((np.nan_to_num(inp[-1], nan=-1e9) >= thr).sum()) / max(1, int(fin.sum()))
    out = []
    for k, row in enumerate(rows):
        rad, kn = row[0], row[1]
        c = coef.get((thr, (k + 1) * STEP_MIN))
        if c is not None and scene:
            c = tuple(c[:5]) + (q,)
        out.append((rad, kn if c is None else
                    [float(v) for v in logistic_knots(kn, c, rate, size)]) + tuple(row[2:]))
    return out


# ------------------------------------------------------------------ the fit ----

def isotonic(y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted non-decreasing least-squares fit of y (pool adjacent violators)."""
    vals: List[float] = []
    wts: List[float] = []
    lens: List[int] = []
    for yi, wi in zip(y, w):
        vals.append(float(yi))
        wts.append(float(wi))
        lens.append(1)
        while len(vals) > 1 and vals[-2] > vals[-1]:
            wsum = wts[-2] + wts[-1]
            v = (vals[-2] * wts[-2] + vals[-1] * wts[-1]) / wsum if wsum > 0 else vals[-1]
            n = lens[-2] + lens[-1]
            del vals[-1], wts[-1], lens[-1]
            vals[-1], wts[-1], lens[-1] = v, wsum, n
    return np.repeat(vals, lens)


def fraction_bin(f: np.ndarray) -> np.ndarray:
    """0 for f == 0, else 1 + floor(f * NB) capped at NB."""
    b = 1 + np.minimum(NB - 1, np.floor(f * NB).astype(np.int64))
    return np.where(f > 0, b, 0)


def knots_from_hist(cnt: np.ndarray, hit: np.ndarray, sumf: np.ndarray) -> List[float]:
    """Isotonic fit of hit/cnt on the bins' mean fraction, read at the knots
    (linear between the bins' mean fractions, flat beyond the last bin)."""
    use = cnt > 0
    fm = sumf[use] / cnt[use]
    iso = isotonic(hit[use] / cnt[use], cnt[use])
    kx = np.linspace(0.0, 1.0, N_KNOTS)
    kn = np.interp(kx, fm, iso)
    kn = np.maximum.accumulate(np.clip(kn, 0.0, 1.0))
    return [float(v) for v in kn]


def brier_from_hist(cnt: np.ndarray, hit: np.ndarray, sumf: np.ndarray,
                    knots: Sequence[float]) -> float:
    """Brier score of c(f) on the binned cases, c read at each bin's mean f."""
    use = cnt > 0
    p = calibrated(sumf[use] / cnt[use], knots)
    return float((cnt[use] * p * p - 2 * p * hit[use] + hit[use]).sum() / max(1, cnt.sum()))


def split_samples(events: Dict[str, np.ndarray], split: str,
                  stride: int = 1) -> List[Tuple[str, int]]:
    """Starts of one split ("train", "val", "test") or several joined by "+"
    ("train+val": every event but the test split)."""
    L = T_IN + T_OUT
    out = []
    want = split.split("+")
    for b in D.make_blocks({k: v.shape[0] for k, v in events.items()}, T_IN, T_OUT):
        if b.split in want:
            out += [(b.event, s) for s in D.block_starts(b, L)[::stride]]
    return out


def recal_sums(cnt: np.ndarray, hit: np.ndarray, sumf: np.ndarray,
               knots: Sequence[float]) -> np.ndarray:
    """[S_pp, S_p, S_n, S_ph, S_h] of the binned cases with P = c(f) (c read at
    each bin's mean f): what the least-squares line P' = a P + b needs."""
    use = cnt > 0
    p = calibrated(sumf[use] / cnt[use], knots)
    n, h = cnt[use], hit[use]
    return np.array([(n * p * p).sum(), (n * p).sum(), n.sum(), (p * h).sum(), h.sum()])


def linear_recal(S: np.ndarray) -> Tuple[float, float]:
    """(a, b) of least squares of the observed outcome on a P + b over the
    summed held-out cases S (recal_sums), a >= 0 so the calibration stays
    non-decreasing; (1, 0) when undetermined."""
    spp, sp, sn, sph, sh = S
    det = spp * sn - sp * sp
    if sn <= 0 or det <= 0:
        return 1.0, 0.0
    a = (sph * sn - sp * sh) / det
    b = (spp * sh - sp * sph) / det
    if a < 0:
        a, b = 0.0, sh / sn
    return float(a), float(b)


def linear_brier_sum(S: np.ndarray, a: float, b: float) -> float:
    spp, sp, sn, sph, sh = S
    return float(a * a * spp + 2 * a * b * sp + b * b * sn - 2 * a * sph - 2 * b * sh + sh)


def weather_group(event: str) -> str:
    """Leave-one-event-out groups: an event and its time-reversed copy are the
    same weather and are held out together."""
    return event.split(D.REVERSED)[0]


def fit_hist(cnt: np.ndarray, hit: np.ndarray, sumf: np.ndarray, ti: int, ci: int,
             k: int) -> Tuple[float, List[float], float]:
    """(radius km, knots, training Brier score) of one (threshold, class, lead)
    from histograms [thr, class, lead, radius, bin]: the class alone when it
    holds MIN_EVENTS observed exceedances, else all classes pooled; the radius
    of lowest Brier score."""
    c_, h_, f_ = cnt[ti, ci, k], hit[ti, ci, k], sumf[ti, ci, k]
    if h_[0].sum() < MIN_EVENTS:
        c_, h_, f_ = cnt[ti, :, k].sum(0), hit[ti, :, k].sum(0), sumf[ti, :, k].sum(0)
    best = None
    for ri, rk in enumerate(RADII_KM):
        kn = knots_from_hist(c_[ri], h_[ri], f_[ri])
        bs = brier_from_hist(c_[ri], h_[ri], f_[ri], kn)
        if best is None or bs < best[2] - 1e-12:
            best = (rk, kn, bs)
    return best


def shrink_lambda(terms: List[Tuple[float, float, float]]) -> float:
    """The weight l in [0, 1] of P' = (1 - l) P + l b that minimises the summed
    held-out Brier score: each term (sum w p^2 - ..., as a, b2, c) is the
    quadratic sum_i w_i (p'_i - o_i)^2 = A l^2 + B l + C over a held-out group."""
    A = sum(t[0] for t in terms)
    B = sum(t[1] for t in terms)
    if A <= 0:
        return 0.0
    return float(min(1.0, max(0.0, -B / (2 * A))))


def shrink_terms(cnt: np.ndarray, hit: np.ndarray, sumf: np.ndarray,
                 knots: Sequence[float], base: float) -> Tuple[float, float, float]:
    """Quadratic coefficients in l of the Brier sum of P' = (1 - l) c(f) + l base
    on binned cases (c read at each bin's mean f, as brier_from_hist)."""
    use = cnt > 0
    p = calibrated(sumf[use] / cnt[use], knots)
    n, h = cnt[use], hit[use]
    d = base - p  # p' = p + l d
    # sum n p'^2 - 2 p' h + h = sum n (p + l d)^2 - 2 (p + l d) h + h
    A = float((n * d * d).sum())
    B = float((2 * n * p * d - 2 * d * h).sum())
    C = float((n * p * p - 2 * p * h + h).sum())
    return A, B, C


def cases(events: Dict[str, np.ndarray], extrap: Dict[str, np.ndarray],
          samples: List[Tuple[str, int]]) -> Iterator[Tuple[str, int, np.ndarray, np.ndarray,
                                                           np.ndarray, np.ndarray]]:
    """(event, start, inputs [T_IN,H,W], forecast [L,H,W], obs [L,H,W], valid [L,H,W])."""
    for ev, s in samples:
        dbz = events[ev]
        obs = dbz[s + T_IN:s + T_IN + T_OUT].astype(np.float32)
        fc = np.asarray(extrap[ev][s], dtype=np.float32)
        valid = np.isfinite(obs) & np.isfinite(dbz[s + T_IN - 1])[None]
        yield ev, s, dbz[s:s + T_IN].astype(np.float32), fc, obs, valid


def fit(events: Dict[str, np.ndarray], extrap: Dict[str, np.ndarray], stride: int,
        ratio: float, log=sys.stderr, split: str = "train",
        recal: str = "none", hist_path: Optional[str] = None) -> Tuple[Table, dict]:
    """The table from the starts of `split`, recalibrated per threshold and lead
    (recal) on leave-one-event-out predictions: each weather group's cases scored
    with the table fitted on the other groups, which measures what a storm unlike
    the training ones costs on the training events themselves. "shrink": P moved
    towards the fitted events' base rate by the weight of lowest held-out Brier
    score; "linear": P' = a P + b (a >= 0) by least squares on the held-out cases;
    "none": the isotonic fit as it is. The three tables are in info["tables"]."""
    samples = split_samples(events, split, stride)
    groups = sorted({weather_group(ev) for ev, _ in samples})
    nt, nr, nc, ng = len(THRESHOLDS), len(RADII_KM), len(CLASSES), len(groups)
    cnt = np.zeros((ng, nt, nc, T_OUT, nr, NB + 1))
    hit = np.zeros_like(cnt)
    sumf = np.zeros_like(cnt)
    for i, (ev, s, inp, fc, obs, valid) in enumerate(cases(events, extrap, samples)):
        px = pixel_km(ev)
        gi = groups.index(weather_group(ev))
        for ti, thr in enumerate(THRESHOLDS):
            ci = trend_class(inp, thr, ratio) + 1
            for k in range(T_OUT):
                v = valid[k] & np.isfinite(fc[k])
                ind = np.nan_to_num(fc[k], nan=-1e9) >= thr
                o = (obs[k] >= thr) & v
                nv = int(v.sum())
                if not ind.any():  # f = 0 everywhere, whatever the radius
                    cnt[gi, ti, ci, k, :, 0] += nv
                    hit[gi, ti, ci, k, :, 0] += int(o.sum())
                    continue
                no = int(o.sum())
                for ri, rk in enumerate(RADII_KM):
                    # window_fraction where it can be above 0; f = 0 outside the echo's box
                    sy, sx, fb = echo_fractions(ind, radius_px(rk, px))
                    vb = v[sy, sx]
                    f, ob = fb[vb], o[sy, sx][vb]
                    b = fraction_bin(f)
                    cnt[gi, ti, ci, k, ri] += np.bincount(b, minlength=NB + 1)
                    hit[gi, ti, ci, k, ri] += np.bincount(b, weights=ob, minlength=NB + 1)
                    sumf[gi, ti, ci, k, ri] += np.bincount(b, weights=f, minlength=NB + 1)
                    cnt[gi, ti, ci, k, ri, 0] += nv - int(vb.sum())
                    hit[gi, ti, ci, k, ri, 0] += no - int(ob.sum())
        log.write(f"\rprob: fit {i + 1}/{len(samples)} training starts ")
        log.flush()
    log.write("\n")
    tables: Dict[str, Table] = {"none": {}, "shrink": {}, "linear": {}}
    info: dict = {"train_starts": len(samples), "split": split, "stride": stride,
                  "radii_km": list(RADII_KM), "groups": groups, "cases_by_class": {},
                  "recal": recal, "shrink": {}, "linear": {}, "loeo_brier": {}}
    call, hall, fall = cnt.sum(0), hit.sum(0), sumf.sum(0)
    for ti, thr in enumerate(THRESHOLDS):
        for k in range(T_OUT):
            lead = (k + 1) * STEP_MIN
            # a class too thin to fit (fewer than MIN_EVENTS observed exceedances at
            # a lead) takes the fit of all classes pooled (fit_hist)
            fits = {cl: fit_hist(call, hall, fall, ti, ci, k) for ci, cl in enumerate(CLASSES)}
            base = float(hall[ti, :, k, 0].sum() / max(1.0, call[ti, :, k, 0].sum()))
            lam, ab = 0.0, (1.0, 0.0)
            if recal != "none" and ng > 1:
                terms, S = [], np.zeros(5)
                for g in range(ng):
                    rest = [j for j in range(ng) if j != g]
                    c_o, h_o, f_o = cnt[rest].sum(0), hit[rest].sum(0), sumf[rest].sum(0)
                    b_o = float(h_o[ti, :, k, 0].sum() / max(1.0, c_o[ti, :, k, 0].sum()))
                    for ci in range(len(CLASSES)):
                        rk, kn, _ = fit_hist(c_o, h_o, f_o, ti, ci, k)
                        ri = RADII_KM.index(rk)
                        args_g = (cnt[g, ti, ci, k, ri], hit[g, ti, ci, k, ri],
                                  sumf[g, ti, ci, k, ri], kn)
                        terms.append(shrink_terms(*args_g, b_o))
                        S += recal_sums(*args_g)
                lam = shrink_lambda(terms)
                ab = linear_recal(S)
                n_all = float(call[ti, :, k, 0].sum())
                info["loeo_brier"][f"{thr:g}/{lead}"] = {
                    "none": sum(t[2] for t in terms) / n_all,
                    "shrink": sum(t[0] * lam * lam + t[1] * lam + t[2] for t in terms) / n_all,
                    "linear": linear_brier_sum(S, *ab) / n_all}
            info["shrink"][f"{thr:g}/{lead}"] = [lam, base]
            info["linear"][f"{thr:g}/{lead}"] = list(ab)
            for ci, cl in enumerate(CLASSES):
                rk, kn, _ = fits[cl]
                info["cases_by_class"][f"{thr:g}/{cl}/{lead}"] = [
                    int(call[ti, ci, k, 0].sum()), int(hall[ti, ci, k, 0].sum())]
                tables["none"][(thr, lead, cl)] = (rk, kn)
                tables["shrink"][(thr, lead, cl)] = (
                    rk, [float((1 - lam) * v + lam * base) for v in kn])
                tables["linear"][(thr, lead, cl)] = (
                    rk, [float(min(1.0, max(0.0, ab[0] * v + ab[1]))) for v in kn])
    if hist_path:
        np.savez_compressed(hist_path, cnt=cnt, hit=hit, sumf=sumf, groups=np.array(groups))
    info["tables"] = tables  # not JSON: main() pops it
    return tables[recal], info


# -------------------------------------------------------------- verification ----

class Scores:
    """Per-lead accumulators of the probability and the 0/1 forecast."""

    def __init__(self) -> None:
        self.n = np.zeros(T_OUT)
        self.o = np.zeros(T_OUT)
        self.bs = np.zeros(T_OUT)
        self.bs_det = np.zeros(T_OUT)
        self.rel = np.zeros((T_OUT, REL_BINS, 3))  # count, sum p, sum o
        self.roc = np.zeros((T_OUT, ROC_BINS + 1, 2))  # events, non-events by P bin

    def add(self, k: int, p: np.ndarray, d: np.ndarray, o: np.ndarray) -> None:
        """p, d (0/1 forecast), o (0/1 observed), flat over the valid pixels."""
        p = np.nan_to_num(p.astype(np.float64), nan=0.0)
        self.n[k] += p.size
        self.o[k] += o.sum()
        self.bs[k] += ((p - o) ** 2).sum()
        self.bs_det[k] += ((d - o) ** 2).sum()
        rb = np.minimum(REL_BINS - 1, (p * REL_BINS).astype(np.int64))
        self.rel[k, :, 0] += np.bincount(rb, minlength=REL_BINS)
        self.rel[k, :, 1] += np.bincount(rb, weights=p, minlength=REL_BINS)
        self.rel[k, :, 2] += np.bincount(rb, weights=o, minlength=REL_BINS)
        qb = np.minimum(ROC_BINS, np.round(p * ROC_BINS).astype(np.int64))
        self.roc[k, :, 0] += np.bincount(qb, weights=o, minlength=ROC_BINS + 1)
        self.roc[k, :, 1] += np.bincount(qb, weights=1 - o, minlength=ROC_BINS + 1)

    def table(self) -> List[dict]:
        out = []
        for k in range(T_OUT):
            n = max(1.0, self.n[k])
            base = self.o[k] / n
            bs = self.bs[k] / n
            ref = base * (1 - base)
            ev, ne = self.roc[k, ::-1, 0].cumsum(), self.roc[k, ::-1, 1].cumsum()
            hr = np.concatenate([[0.0], ev / max(1.0, ev[-1])])
            far = np.concatenate([[0.0], ne / max(1.0, ne[-1])])
            rel = []
            for b in range(REL_BINS):
                c, sp, so = self.rel[k, b]
                rel.append({"bin": [b / REL_BINS, (b + 1) / REL_BINS], "n": int(c),
                            "share": float(c / n), "mean_p": float(sp / c) if c else None,
                            "obs_freq": float(so / c) if c else None})
            big = [r for r in rel if r["share"] >= 0.01 and r["n"]]
            out.append({"lead_min": (k + 1) * STEP_MIN, "n": int(self.n[k]),
                        "base_rate": float(base), "brier": float(bs),
                        "brier_clim": float(ref),
                        "bss": float(1 - bs / ref) if ref > 0 else None,
                        "brier_det": float(self.bs_det[k] / n),
                        "roc_area": float(np.trapz(hr, far)),
                        "reliability": rel,
                        "max_rel_dev_1pct": max((abs(r["obs_freq"] - r["mean_p"]) for r in big),
                                                default=None)})
        return out


def c_probabilities(tool: str, table_path: str, inp: np.ndarray, fc: np.ndarray,
                    px_km: float) -> np.ndarray:
    """impa-prob on inputs [N, T_IN, H, W] and forecasts [N, L, H, W] -> [N, thr, L, H, W]."""
    import netCDF4

    from .ctools import write_nc

    with tempfile.TemporaryDirectory(prefix="impa-prob-") as d:
        fin, fout = os.path.join(d, "in.nc"), os.path.join(d, "out.nc")
        write_nc(fin, fc, "lead")
        with netCDF4.Dataset(fin, "a") as ds:
            ds.createDimension("t_in", inp.shape[1])
            v = ds.createVariable("inputs", "f4", ("sample", "t_in", "y", "x"))
            v[:] = inp.astype(np.float32)
        cmd = [tool, "--table", table_path, "--input", fin, "--output", fout,
               "--thresholds", ",".join(f"{t:g}" for t in THRESHOLDS),
               "--step-min", str(STEP_MIN), "--pixel-km", repr(px_km)]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)}: exit {r.returncode}: {r.stderr.strip()}")
        with netCDF4.Dataset(fout) as ds:
            v = ds.variables["prob"]
            v.set_auto_mask(False)
            return np.array(v[:], dtype=np.float32)


def verify(events: Dict[str, np.ndarray], forecasts: Dict[str, np.ndarray], table: Table,
           ratio: float, table_path: Optional[str],
           tool: Optional[str],
           growth: Optional[Growth] = None,
           margins: Optional[Dict[Tuple[float, int], float]] = None
           ) -> Tuple[Dict[str, List[dict]], float]:
    """forecasts: event -> [n_starts_of_event, L, H, W] indexed like the test
    samples of that event. Returns scores per threshold and the largest
    |C - NumPy| (NaN when the C tool is not run)."""
    samples = split_samples(events, "test")
    sc = {thr: Scores() for thr in THRESHOLDS}
    dmax = float("nan")
    by_ev: Dict[str, List[int]] = {}
    for ev, s in samples:
        by_ev.setdefault(ev, []).append(s)
    for ev, starts in by_ev.items():
        dbz = events[ev]
        fcs = forecasts[ev]
        inps = np.stack([dbz[s:s + T_IN] for s in starts]).astype(np.float32)
        cp = c_probabilities(tool, table_path, inps, fcs, pixel_km(ev)) if tool else None
        for i, s in enumerate(starts):
            obs = dbz[s + T_IN:s + T_IN + T_OUT].astype(np.float32)
            valid = np.isfinite(obs) & np.isfinite(dbz[s + T_IN - 1])[None]
            for ti, thr in enumerate(THRESHOLDS):
                p = prob_field(fcs[i], thr, start_rows(table, growth, thr, inps[i], ratio,
                                                       pixel_km(ev), margins), pixel_km(ev))
                if cp is not None:
                    diff = np.abs(np.nan_to_num(cp[i, ti], nan=-1.0) - np.nan_to_num(p, nan=-1.0))
                    dmax = float(np.nanmax([dmax, float(diff.max())]))
                det = np.nan_to_num(fcs[i], nan=-1e9) >= thr
                for k in range(T_OUT):
                    v = valid[k]
                    sc[thr].add(k, p[k][v], det[k][v].astype(np.float64),
                                (obs[k][v] >= thr).astype(np.float64))
    return {f"{thr:g}": sc[thr].table() for thr in THRESHOLDS}, dmax


# ---------------------------------------------------------------- reporting ----

def render_md(res: dict) -> str:
    out = ["# Probability of reflectivity >= threshold: scores on the test split", "",
           f"Made by `python3 -m impa.prob` on {res['made']}; method and fit in "
           "docs/nowcast.md (\"Probability of severe echo\"). Table: "
           f"`{res['table']}` ({res['table_name']}). BSS: against the base rate of the "
           "test cases; `BS 0/1`: the deterministic forecast as 0/1; `rel. dev.`: the "
           "largest |observed frequency - mean P| over reliability bins holding >= 1 % "
           "of the cases.", ""]
    for fk, per in res["forecasts"].items():
        for thr, rows in per["scores"].items():
            out += [f"## {fk}, >= {thr} dBZ", "",
                    "| lead | cases | base rate | BS | BSS | BS 0/1 | ROC area | radius km | rel. dev. |",
                    "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
            for r in rows:
                lead = r["lead_min"]
                rad = "/".join(f"{res['radius_km'][f'{thr}/{lead}/{c}']:g}" for c in CLASSES
                               if f"{thr}/{lead}/{c}" in res["radius_km"])
                dev = r["max_rel_dev_1pct"]
                out.append(f"| {r['lead_min']} min | {r['n']} | {r['base_rate']:.5f} | "
                           f"{r['brier']:.5f} | {r['bss']:.3f} | {r['brier_det']:.5f} | "
                           f"{r['roc_area']:.3f} | {rad} | "
                           f"{'-' if dev is None else f'{dev:.3f}'} |")
            out.append("")
    return "\n".join(out) + "\n"


def plot_reliability(res: dict, path: Path, fk: str, thr: str = "45") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = res["forecasts"][fk]["scores"][thr]
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 4.6))
    ax.plot([0, 1], [0, 1], color="0.6", lw=1)
    ax.fill_between([0, 1], [-0.1, 0.9], [0.1, 1.1], color="0.9", label="+-0.1")
    for k in (0, 2, 5, 8, 11):
        r = rows[k]
        pts = [(b["mean_p"], b["obs_freq"], b["share"]) for b in r["reliability"] if b["n"] >= 50]
        if not pts:
            continue
        x, y, s = zip(*pts)
        ax.plot(x, y, marker="o", ms=4, label=f"{r['lead_min']} min")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("forecast probability (bin mean)")
    ax.set_ylabel("observed frequency")
    ax.set_title(f"reliability, P(>= {thr} dBZ), test events")
    ax.legend(fontsize=8, loc="upper left")
    leads = [r["lead_min"] for r in rows]
    ax2.plot(leads, [r["bss"] for r in rows], marker="o", label="BSS vs base rate")
    ax2.plot(leads, [1 - r["brier_det"] / r["brier_clim"] for r in rows], marker="s",
             label="BSS of the 0/1 forecast")
    ax2.plot(leads, [r["roc_area"] for r in rows], marker="^", label="ROC area")
    ax2.axhline(0, color="0.5", lw=0.8)
    ax2.set_xlabel("lead (min)")
    ax2.set_title(f"skill per lead ({fk})")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


# ---------------------------------------------------------------------- main ----

def network_forecasts(events: Dict[str, np.ndarray], weights: str, threads: int,
                      tile: int, overlap: int) -> Dict[str, np.ndarray]:
    from .ctools import find_tool
    from .evaluate import model_forecast

    infer = find_tool("impa-infer", None, "engine")
    out: Dict[str, np.ndarray] = {}
    by_ev: Dict[str, List[int]] = {}
    for ev, s in split_samples(events, "test"):
        by_ev.setdefault(ev, []).append(s)
    for ev, starts in by_ev.items():
        inp = np.stack([events[ev][s:s + T_IN] for s in starts]).astype(np.float32)
        out[ev], _ = model_forecast(weights, inp, infer, threads, T_OUT, tile=tile,
                                    tile_overlap=overlap)
    return out


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="impa.prob", description=__doc__.split("\n\n")[0])
    ap.add_argument("--table", default=str(D.TRAIN_DIR.parent / "models" / "prob-calibration.txt"))
    ap.add_argument("--no-fit", action="store_true", help="verify the existing --table only")
    ap.add_argument("--out", default=str(D.TRAIN_DIR.parent / "docs" / "eval"))
    ap.add_argument("--png", default=str(D.TRAIN_DIR.parent / "docs" / "prob-reliability.png"))
    ap.add_argument("--forecast", default="extrapolation",
                    help="comma list: extrapolation, impa (the network through the C engine)")
    ap.add_argument("--weights", default=str(D.TRAIN_DIR.parent / "models" / "impa-net.nc"))
    ap.add_argument("--extrapolate", default=None, help="impa-extrapolate to use (default: the build's)")
    ap.add_argument("--stride", type=int, default=1, help="every n-th training start")
    ap.add_argument("--trend", type=float, default=TREND_RATIO,
                    help="area ratio newest/oldest input frame beyond which a start is growing "
                    "(below its inverse: decaying); 0 = no trend classes")
    ap.add_argument("--no-reverse", action="store_true",
                    help="fit on the training events as recorded only (default: also played "
                    "backwards, impa.data.reversed_events)")
    ap.add_argument("--no-c", action="store_true", help="skip the impa-prob agreement check")
    ap.add_argument("--scheme", default="impa-extrap-1", choices=SCHEMES,
                    help="extrapolation scheme of the forecasts fitted on and scored (recorded "
                    "in the table's `scheme` line; the daemon warns when its forecasts come "
                    "from another)")
    ap.add_argument("--fit-on", default="train", choices=("train", "train+val"),
                    help="starts fitted on: the training split, or every event but the test "
                    "split (the validation event MeteoSwiss 2015-05-15 too)")
    ap.add_argument("--recal", default="none", choices=("none", "shrink", "linear"),
                    help="per threshold and lead, recalibrate on leave-one-event-out "
                    "predictions of the fitted events: shrink towards the base rate, or a "
                    "least-squares line a P + b (impa.prob.fit)")
    ap.add_argument("--compare-recal", action="store_true",
                    help="also write the other recalibrations of the same fit "
                    "(OUT/prob-calibration-<recal>.txt) and score them (the ablation)")
    ap.add_argument("--hist", default=None, help="save the fit's histograms (.npz)")
    ap.add_argument("--events", default="",
                    help="comma list of events to load (default all; the test events are "
                    "always loaded)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--tile", type=int, default=80)
    ap.add_argument("--tile-overlap", type=int, default=32)
    args = ap.parse_args(argv)
    root = D.shared_data_root()
    if root is None:
        raise SystemExit("prob: radar sample data not found (IMPA_SHARED_DATA)")
    from .ctools import find_tool

    want = set(args.events.split(",")) if args.events else None
    full = {e.name: D.load_event(e.name, root).dbz for e in D.EVENTS
            if want is None or e.name in want or e.name in ("bom-brisbane-20201031",)
            or e.name in D.HELDOUT_TEST}
    if not args.no_reverse:
        full.update(D.reversed_events(full, T_IN, T_OUT))
    need: Dict[str, List[int]] = {}
    for ev, s in (split_samples(full, "test") if args.no_fit else
                  split_samples(full, args.fit_on, args.stride) + split_samples(full, "test")):
        need.setdefault(ev, []).append(s)
    ex_full = scheme_extrapolations(full, args.scheme, args.extrapolate, need)
    # the grid cut to a multiple of 4, as impa.evaluate (the network's stride)
    events = {k: v[:, :v.shape[1] // 4 * 4, :v.shape[2] // 4 * 4] for k, v in full.items()}
    extrap = {k: {s: a[:, :events[k].shape[1], :events[k].shape[2]] for s, a in v.items()}
              for k, v in ex_full.items()}
    if not args.no_fit:
        table, info = fit(events, extrap, args.stride, args.trend, split=args.fit_on,
                          recal=args.recal, hist_path=args.hist)
        rel = os.path.relpath(args.table, D.TRAIN_DIR.parent)
        opts = f" --stride {args.stride} --scheme {args.scheme} --fit-on {args.fit_on}" + (
            f" --recal {args.recal}") + (f" --events {args.events}" if args.events else "")
        what = "training" if args.fit_on == "train" else "training and validation"
        write_table(args.table, table, f"impa-prob-1 neighbourhood, fitted on "
                    f"{info['train_starts']} {what} starts"
                    + ("" if args.recal == "none" else
                       f", {args.recal} leave-one-event-out recalibration"),
                    args.trend, ["Exceedance-probability calibration of impa-nowcast (impa/prob.h).",
                     "Written by: cd train && /usr/bin/python3 -m impa.prob "
                     f"--table ../{rel}{opts} (docs/nowcast.md).",
                     "Rows: the window half-width (km) and the calibration c(f) of the",
                     "fraction f of window pixels >= threshold, at K knots f = j/(K-1),",
                     "per trend class of the start (-1 decaying, 0 steady, 1 growing)."],
                    scheme=args.scheme)
        Path(args.out).mkdir(parents=True, exist_ok=True)
        tables = info.pop("tables")
        if args.compare_recal:
            for rc, t in tables.items():
                if rc != args.recal:
                    write_table(Path(args.out) / f"prob-calibration-{rc}.txt", t,
                                f"the same fit, recalibration {rc} (ablation)", args.trend,
                                [f"Ablation of impa.prob --recal {args.recal}: not shipped."],
                                scheme=args.scheme)
        (Path(args.out) / "prob-fit.json").write_text(json.dumps(info) + "\n")
    table, name, ratio = read_table(args.table)
    growth = read_growth(args.table)
    tool = None if args.no_c else find_tool(PROB_TOOL, None, "nowcast")
    res: dict = {"made": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                 "table": os.path.relpath(args.table, D.TRAIN_DIR.parent), "table_name": name,
                 "trend_ratio": ratio,
                 "radius_km": {f"{t:g}/{lead}/{c}": r for (t, lead, c), (r, _) in table.items()},
                 "forecasts": {}}
    for fk in args.forecast.split(","):
        if fk == "extrapolation":
            fcs = {ev: np.stack([np.asarray(extrap[ev][s], dtype=np.float32) for s in starts])
                   for ev, starts in _test_starts(events).items()}
        elif fk == "impa":
            fcs = network_forecasts(events, args.weights, args.threads, args.tile,
                                    args.tile_overlap)
        else:
            raise SystemExit(f"prob: unknown forecast {fk!r}")
        scores, dmax = verify(events, fcs, table, ratio, args.table, tool, growth,
                              read_margins(args.table))
        res["forecasts"][fk] = {"scores": scores, "c_agreement_max_abs": dmax,
                                "c_tool": os.path.relpath(tool, D.TRAIN_DIR.parent) if tool
                                else None}
        for rc in ("none", "shrink", "linear"):
            abl = Path(args.out) / f"prob-calibration-{rc}.txt"
            if not args.compare_recal or rc == args.recal or not abl.exists():
                continue
            t2, _, r2 = read_table(abl)
            s2, _ = verify(events, fcs, t2, r2, None, None, read_growth(abl))
            res["forecasts"][f"{fk} (recal {rc})"] = {"scores": s2, "c_agreement_max_abs": None,
                                                      "c_tool": None}
            for r in s2["45"]:
                print(f"  recal {rc} 45 dBZ {r['lead_min']:3d} min: BS {r['brier']:.5f} "
                      f"BSS {r['bss']:.3f}")
        print(f"{fk}: C vs NumPy max |dP| = {dmax:.2e}")
        for r in scores["45"]:
            print(f"  45 dBZ {r['lead_min']:3d} min: BS {r['brier']:.5f} BSS {r['bss']:.3f} "
                  f"BS0/1 {r['brier_det']:.5f} ROC {r['roc_area']:.3f} "
                  f"rel.dev {r['max_rel_dev_1pct']}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    old = {}
    if (out / "prob.json").exists():
        old = json.loads((out / "prob.json").read_text()).get("forecasts", {})
    if args.no_fit:
        res["forecasts"] = {**old, **res["forecasts"]}
    (out / "prob.json").write_text(json.dumps(res, indent=1) + "\n")
    (out / "prob.md").write_text(render_md(res))
    fk0 = "extrapolation" if "extrapolation" in res["forecasts"] else next(iter(res["forecasts"]))
    plot_reliability(res, Path(args.png), fk0)
    return 0


def _test_starts(events: Dict[str, np.ndarray]) -> Dict[str, List[int]]:
    by_ev: Dict[str, List[int]] = {}
    for ev, s in split_samples(events, "test"):
        by_ev.setdefault(ev, []).append(s)
    return by_ev


if __name__ == "__main__":
    sys.exit(main())
