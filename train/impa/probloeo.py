"""Leave-one-event-out comparison of probability methods on the fitted events
(issue 24): which calibration predictor to ship is chosen here, on the
non-test events only, before any test score of the candidates is seen.

    cd train && /usr/bin/python3 -m impa.probloeo --scheme impa-extrap-3 \
        --out ../docs/eval/prob-loeo.json            # the comparison
    cd train && /usr/bin/python3 -m impa.probloeo --scheme impa-extrap-3 --fit rate \
        --table ../models/prob-calibration.txt       # the shipped table + its test scores

Every candidate shares the neighbourhood fraction f (impa.prob: window of
half-width r km per lead, the radius of lowest Brier score of the pooled
isotonic fit) and differs in what else the calibration reads:

  classes     the shipped impa-prob-1: isotonic c(f) per trend class (area
              >= T newest / oldest input frame beyond 1.3), shrunk to the
              base rate (nested leave-one-event-out weight)
  pooled      one isotonic c(f) for every start, shrunk the same way
  rate        pooled c(f), then logit P = logit c(f) + g_k * rate, rate the
              growth of the area >= T over the input frames (ln of the ratio
              of newest to oldest area, each plus A0 km^2, per hour, clipped
              to +-RATE_MAX /h)
  rate+size   rate, + d_k * ln(1 + area newest / A0): small echo dies sooner
  full        a_k + b_k logit c(f) + g_k rate + d_k size (b_k >= 0)

Shrinkage (each candidate also with it): P' = (1 - l) P + l q, the weight l
per threshold and lead by a leave-one-group-out inside the fitted starts, q
the fitted events' base rate, or (scene) the start's own area fraction >= T
in its newest input frame. The scene variants were added after the first
round (and after the first choice's test scores were seen); they were chosen
among by the same LOEO rule, on the fitted events only.

The logistic terms act on the knots of c (P = the piecewise-linear
interpolation of the adjusted knots), so the C code applies them to one row
per start and threshold, as it already reads one. Coefficients per
threshold and lead minimise the Brier score of the fitted starts' binned
cases (the histograms of impa.prob.fit, per start).

Score: each weather group (an event with its time-reversed copy) held out in
turn, the method fitted on the others (shrinkage weights by a leave-one-out
inside those), its Brier score summed over the held-out cases; BSS = 1 -
sum BS / sum n o (1 - o), o each held-out group's own base rate (as the test
scores take the test cases' base rate). Choice rule (written before the
run): the candidate with the highest minimum over leads 10-60 min of the
LOEO BSS at 45 dBZ; within 0.01 of it, the one with fewer parameters; the
35 dBZ mean BSS 10-120 min must not fall more than 0.02 below the shipped
method's.

Third round (written before any of its scores, 2026-12-07 20:36 UTC;
docs/nowcast.md): on impa-extrap-1 (the default daemon's backbone: the
shipped network reads it), each with the base-rate shrinkage:

  rate          the shipped method (reference)
  rate+size     as above: small cores die sooner
  margin        rate, the fraction counting forecast >= T + m dB, m in
                MARGINS_DB per threshold and lead chosen with the radius (an
                extrapolation keeps a core's intensity, real cores weaken)
  lifetime      rate, shrinkage weight l(t) = 1 - exp(-t / tau), one tau
                (minutes) per threshold by the nested leave-one-group-out
                Brier score instead of a free weight per lead
  support       rate, the top fraction bins pooled before the isotonic fit
                until the pooled bin holds cases of MIN_GROUPS weather groups
                (fourth round, written at 20:49 UTC before its scores: the third
                round's LOEO collapses at 100 min at 45 dBZ, the fitted knots
                jump to 0.97-1 at large fractions from one or two storms)

Same rule: highest minimum over 10-60 min of the 45 dBZ LOEO BSS; within
0.01, fewest parameters per threshold (rate 24, rate+size 36, margin 36,
lifetime 13); 35 dBZ mean not more than 0.02 below rate's. The test
events are scored once, for the chosen method, at the end.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from . import data as D
from . import prob as P

A0_KM2 = 25.0    # area added to both sides of the growth ratio and the size term
RATE_MAX = 4.0   # |growth rate| clip, per hour
METHODS = ("classes", "pooled", "rate", "rate+size", "full", "margin", "lifetime", "support")
N_PARAMS = {"classes": 0, "pooled": 0, "rate": 1, "rate+size": 2, "full": 4, "margin": 2,
            "lifetime": 1, "support": 1}
MIN_GROUPS = 3  # support: weather groups the pooled top bin of the fraction must hold
MARGINS_DB = (0.0, 2.0, 4.0, 6.0, 8.0)  # margin: forecast >= T + m counts as echo
TAU_MIN = tuple(float(v) for v in np.geomspace(10.0, 1e5, 161))  # lifetime: tau grid, minutes


# -------------------------------------------------------- per-start data ----

def start_data(events: Dict[str, np.ndarray], extrap, samples: List[Tuple[str, int]],
               log=sys.stderr, margins: Sequence[float] = MARGINS_DB) -> dict:
    """Histograms of every start (cnt, hit, sumf [S, thr, lead, margin, radius,
    NB+1], float32; the fraction of forecast pixels >= T + margin against the
    observed >= T) and its input-frame areas >= T (px_ge [S, thr, T_IN], n_fin
    [S, T_IN]), pixel size (km) and weather group."""
    S, nt, nr, nm = len(samples), len(P.THRESHOLDS), len(P.RADII_KM), len(margins)
    shape = (S, nt, P.T_OUT, nm, nr, P.NB + 1)
    cnt, hit, sumf = (np.zeros(shape, dtype=np.float32) for _ in range(3))
    px_ge = np.zeros((S, nt, P.T_IN))
    n_fin = np.zeros((S, P.T_IN))
    px_km = np.zeros(S)
    groups: List[str] = []
    for i, (ev, s, inp, fc, obs, valid) in enumerate(P.cases(events, extrap, samples)):
        px = P.pixel_km(ev)
        px_km[i] = px
        groups.append(P.weather_group(ev))
        n_fin[i] = np.isfinite(inp).reshape(P.T_IN, -1).sum(1)
        for ti, thr in enumerate(P.THRESHOLDS):
            px_ge[i, ti] = (np.nan_to_num(inp, nan=-1e9) >= thr).reshape(P.T_IN, -1).sum(1)
            for k in range(P.T_OUT):
                v = valid[k] & np.isfinite(fc[k])
                o = (obs[k] >= thr) & v
                nv, no = v.sum(), o.sum()
                for mi, mdb in enumerate(margins):
                    ind = np.nan_to_num(fc[k], nan=-1e9) >= thr + mdb
                    if not ind.any():
                        cnt[i, ti, k, mi, :, 0] = nv
                        hit[i, ti, k, mi, :, 0] = no
                        continue
                    for ri, rk in enumerate(P.RADII_KM):
                        sy, sx, fb = P.echo_fractions(ind, P.radius_px(rk, px))
                        vb = v[sy, sx]
                        f = fb[vb]
                        ob = o[sy, sx][vb]
                        b = P.fraction_bin(f)
                        c_ = cnt[i, ti, k, mi, ri]
                        c_[:] = np.bincount(b, minlength=P.NB + 1)
                        hit[i, ti, k, mi, ri] = np.bincount(b, weights=ob, minlength=P.NB + 1)
                        sumf[i, ti, k, mi, ri] = np.bincount(b, weights=f, minlength=P.NB + 1)
                        # the pixels outside the echo's box: f = 0
                        c_[0] += nv - vb.sum()
                        hit[i, ti, k, mi, ri, 0] += no - ob.sum()
        log.write(f"\rprobloeo: {i + 1}/{S} starts ")
        log.flush()
    log.write("\n")
    return {"cnt": cnt, "hit": hit, "sumf": sumf, "px_ge": px_ge, "n_fin": n_fin,
            "px_km": px_km, "groups": np.array(groups), "margins_db": np.array(margins)}


def predictors(d: dict, ti: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per start at threshold index ti: trend class (impa.prob.trend_class),
    growth rate (/h) and size term (see the module docstring)."""
    n = d["px_ge"][:, ti]
    rate, size = P.growth_from_counts(n[:, 0], n[:, -1], d["px_km"],
                                      (P.T_IN - 1) * P.STEP_MIN / 60.0, A0_KM2, RATE_MAX)
    frac = d["px_ge"][:, ti] / np.maximum(1.0, d["n_fin"])
    g = (frac[:, -1] + P.TREND_EPS) / (frac[:, 0] + P.TREND_EPS)
    cls = np.where(g > P.TREND_RATIO, 1, np.where(g < 1.0 / P.TREND_RATIO, -1, 0))
    return cls, rate, size


# ------------------------------------------------------------- the fits ----

def adjusted_knots(knots: np.ndarray, coef: Sequence[float], rate: np.ndarray,
                   size: np.ndarray) -> np.ndarray:
    """knots [K], per-start predictors [S] -> knots [S, K] (impa.prob.logistic_knots)."""
    return P.logistic_knots(knots, coef, rate, size)


def interp_rows(fm: np.ndarray, kn: np.ndarray) -> np.ndarray:
    """P at fractions fm [S, B] on per-start knots kn [S, K] (impa.prob.calibrated)."""
    K = kn.shape[1]
    x = np.clip(fm, 0.0, 1.0) * (K - 1)
    j = np.minimum(K - 2, np.floor(x).astype(np.int64))
    w = x - j
    lo = np.take_along_axis(kn, j, axis=1)
    hi = np.take_along_axis(kn, j + 1, axis=1)
    return lo + w * (hi - lo)


def brier_sum(cnt: np.ndarray, hit: np.ndarray, p: np.ndarray) -> float:
    return float((cnt * p * p - 2 * p * hit + hit).sum())


def _fit_coef(method: str, cnt, hit, fm, knots, rate, size) -> Tuple[float, float, float, float]:
    from scipy.optimize import minimize

    free = {"rate": [2], "rate+size": [2, 3], "full": [0, 1, 2, 3], "margin": [2],
            "lifetime": [2], "support": [2]}[method]
    x0 = np.array([0.0, 1.0, 0.0, 0.0])

    def full_coef(x):
        c = x0.copy()
        c[free] = x
        return c

    def obj(x):
        return brier_sum(cnt, hit, interp_rows(fm, adjusted_knots(knots, full_coef(x), rate,
                                                                   size))) * 1e3 / cnt.sum()

    bounds = [(-10, 10), (0.0, 3.0), (-5.0, 5.0), (-5.0, 5.0)]
    r = minimize(obj, x0[free], method="L-BFGS-B", bounds=[bounds[i] for i in free])
    return tuple(float(v) for v in full_coef(r.x))


def pool_top(cnt: np.ndarray, hit: np.ndarray, sumf: np.ndarray, groups: np.ndarray,
             min_groups: int = MIN_GROUPS) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-start histograms [S, B] -> pooled [B] with the top bins of f > 0
    summed into the lowest of them, b*, the largest bin such that the cases in
    bins >= b* come from min_groups weather groups or more (bin 0, f = 0, kept
    apart; fewer groups in every bin above 0: all of them pooled)."""
    c, h, f = cnt.sum(0), hit.sum(0), sumf.sum(0)
    B = c.shape[-1]
    seen: set = set()
    bstar = 1
    for b in range(B - 1, 0, -1):
        seen.update(groups[cnt[:, b] > 0].tolist())
        if len(seen) >= min_groups:
            bstar = b
            break
    if bstar >= B - 1:
        return c, h, f
    c, h, f = c.copy(), h.copy(), f.copy()
    for a in (c, h, f):
        a[bstar] = a[bstar:].sum()
        a[bstar + 1:] = 0
    return c, h, f


def fit_method(d: dict, idx: np.ndarray, method: str, ti: int, k: int,
               shrink: Optional[float] = None, scene: bool = False) -> dict:
    """The fit of one (threshold, lead) on the starts idx: margin (margin
    method; else 0 dB) and radius, knots per class, logistic coefficients,
    shrinkage weight and base rate."""
    cls, rate, size = predictors(d, ti)
    mis = range(d["cnt"].shape[3]) if method == "margin" else (0,)
    best = None
    for mi in mis:
        cnt, hit, sumf = (d[n][idx, ti, k, mi].astype(np.float64)
                          for n in ("cnt", "hit", "sumf"))
        c_all, h_all, f_all = cnt.sum(0), hit.sum(0), sumf.sum(0)
        for ri, rk in enumerate(P.RADII_KM):
            if method == "support":
                kn = P.knots_from_hist(*pool_top(cnt[:, ri], hit[:, ri], sumf[:, ri],
                                                 d["groups"][idx]))
            else:
                kn = P.knots_from_hist(c_all[ri], h_all[ri], f_all[ri])
            bs = P.brier_from_hist(c_all[ri], h_all[ri], f_all[ri], kn)
            if best is None or bs < best[3] - 1e-12:
                best = (mi, ri, kn, bs)
    mi, ri, kn_pool, _ = best
    cnt, hit, sumf = (d[n][idx, ti, k, mi].astype(np.float64) for n in ("cnt", "hit", "sumf"))
    base = float(hit[:, 0, :].sum() / max(1.0, cnt[:, 0, :].sum()))
    out = {"mi": mi, "ri": ri, "base": base, "lam": 0.0, "coef": (0.0, 1.0, 0.0, 0.0),
           "scene": scene, "knots": {c: np.array(kn_pool) for c in P.CLASSES}}
    if method == "classes":
        # the class alone when it holds MIN_EVENTS observed exceedances (impa.prob.fit_hist)
        for c in P.CLASSES:
            m = cls[idx] == c
            if hit[m][:, 0].sum() < P.MIN_EVENTS:
                continue
            cc, hh, ff = cnt[m].sum(0), hit[m].sum(0), sumf[m].sum(0)
            bc = None
            for rj in range(len(P.RADII_KM)):
                kn = P.knots_from_hist(cc[rj], hh[rj], ff[rj])
                bs = P.brier_from_hist(cc[rj], hh[rj], ff[rj], kn)
                if bc is None or bs < bc[2] - 1e-12:
                    bc = (rj, kn, bs)
            out.setdefault("ri_class", {})[c] = bc[0]
            out["knots"][c] = np.array(bc[1])
    elif method != "pooled":
        use = cnt[:, ri].sum(1) > 0
        fm = np.where(cnt[:, ri] > 0, sumf[:, ri] / np.maximum(cnt[:, ri], 1), 0.0)
        out["coef"] = _fit_coef(method, cnt[use, ri], hit[use, ri], fm[use], kn_pool,
                                rate[idx][use], size[idx][use])
    if shrink is not None:
        out["lam"] = shrink
    return out


def predict(d: dict, idx: np.ndarray, m: dict, ti: int, k: int) -> Tuple[float, float, float]:
    """(Brier sum, cases, exceedances) of fit m on starts idx."""
    cls, rate, size = predictors(d, ti)
    tot = 0.0
    n = 0.0
    h = 0.0
    for c in P.CLASSES:
        sel = idx[cls[idx] == c]
        if not len(sel):
            continue
        ri = m.get("ri_class", {}).get(c, m["ri"])
        cnt, hit, sumf = (d[nm][sel, ti, k, m.get("mi", 0), ri].astype(np.float64)
                          for nm in ("cnt", "hit", "sumf"))
        fm = np.where(cnt > 0, sumf / np.maximum(cnt, 1), 0.0)
        kn = adjusted_knots(m["knots"][c], m["coef"], rate[sel], size[sel])
        p = interp_rows(fm, kn)
        q = m["base"]
        if m.get("scene"):  # shrink towards the start's own area fraction >= T
            q = (d["px_ge"][sel, ti, -1] / np.maximum(1.0, d["n_fin"][sel, -1]))[:, None]
        p = (1 - m["lam"]) * p + m["lam"] * q
        tot += brier_sum(cnt, hit, p)
        n += cnt.sum()
        h += hit.sum()
    return tot, n, h


def shrink_weight(d: dict, idx: np.ndarray, method: str, ti: int, k: int,
                  scene: bool = False) -> float:
    """Weight towards the base rate of lowest leave-one-group-out Brier score
    inside idx (impa.prob.shrink_lambda on the held-out quadratic terms)."""
    A, B = shrink_quad(d, idx, method, ti, k, scene)
    if A <= 0:
        return 0.0
    return float(min(1.0, max(0.0, -B / (2 * A))))


def lifetime_weights(d: dict, idx: np.ndarray, method: str, ti: int,
                     scene: bool = False) -> Tuple[float, List[float]]:
    """(tau minutes, weights per lead): the lifetime of lowest summed
    leave-one-group-out Brier score inside idx over every lead, the weight at
    lead t l(t) = 1 - exp(-t / tau) (tau the largest of TAU_MIN: l about 0)."""
    q = [shrink_quad(d, idx, method, ti, k, scene) for k in range(P.T_OUT)]
    t = np.arange(1, P.T_OUT + 1) * P.STEP_MIN
    best = None
    for tau in TAU_MIN:
        lam = 1.0 - np.exp(-t / tau)
        v = float(sum(A * l * l + B * l for (A, B), l in zip(q, lam)))
        if best is None or v < best[0]:
            best = (v, tau, lam)
    return best[1], [float(v) for v in best[2]]


def shrink_quad(d: dict, idx: np.ndarray, method: str, ti: int, k: int,
                scene: bool = False) -> Tuple[float, float]:
    """(A, B) of the leave-one-group-out Brier sum inside idx of P' = (1 - l) P
    + l q as A l^2 + B l + C."""
    gs = d["groups"][idx]
    A = B = 0.0
    for g in np.unique(gs):
        fit_i, out_i = idx[gs != g], idx[gs == g]
        if not len(fit_i):
            continue
        m = fit_method(d, fit_i, method, ti, k, scene=scene)
        # Brier sum of (1 - l) p + l base = A l^2 + B l + C
        m0 = dict(m, lam=0.0)
        m1 = dict(m, lam=1.0)
        mh = dict(m, lam=0.5)
        b0, b1, bh = (predict(d, out_i, x, ti, k)[0] for x in (m0, m1, mh))
        # quadratic through l = 0, 0.5, 1
        a2 = 2 * (b1 - 2 * bh + b0)
        A += a2
        B += (b1 - b0) - a2
    return A, B


def loeo(d: dict, method: str, shrink: bool, log=sys.stderr,
         scene: bool = False) -> Dict[str, List[float]]:
    """Per threshold, the LOEO BSS per lead (module docstring)."""
    groups = d["groups"]
    res: Dict[str, List[float]] = {}
    for ti, thr in enumerate(P.THRESHOLDS):
        bs = np.zeros(P.T_OUT)
        ref = np.zeros(P.T_OUT)
        for g in np.unique(groups):
            fit_i = np.flatnonzero(groups != g)
            out_i = np.flatnonzero(groups == g)
            if method == "lifetime":
                tau, lams = lifetime_weights(d, fit_i, method, ti, scene) if shrink else \
                    (None, [None] * P.T_OUT)
                res.setdefault(f"tau_min_{thr:g}", {})[str(g)] = tau
            for k in range(P.T_OUT):
                if method == "lifetime":
                    lam = lams[k]
                else:
                    lam = shrink_weight(d, fit_i, method, ti, k, scene) if shrink else None
                m = fit_method(d, fit_i, method, ti, k, lam, scene)
                b, n, h = predict(d, out_i, m, ti, k)
                o = h / max(1.0, n)
                bs[k] += b
                ref[k] += n * o * (1 - o)
            log.write(f"\rprobloeo: {method}{' +shrink' if shrink else ''}"
                      f"{' (scene)' if scene else ''} {thr:g} dBZ held out {g} ")
            log.flush()
        res[f"{thr:g}"] = [float(1 - b / r) if r > 0 else float("nan")
                           for b, r in zip(bs, ref)]
    log.write("\n")
    return res


def fit_table(d: dict, method: str, shrink: bool, log=sys.stderr,
              scene: bool = False) -> Tuple[P.Table, P.Growth, dict]:
    """The table of a growth method (rate, rate+size, full) fitted on every
    start of d: per threshold and lead the pooled c(f) at its radius (class 0
    rows, `trend 0`) and a logistic line (a, b, g, d, shrinkage weight, base
    rate); the weight by leave-one-group-out inside d (shrink_weight)."""
    if method not in ("rate", "rate+size", "full", "margin", "lifetime", "support"):
        raise ValueError(f"probloeo: {method!r} is not a growth method")
    idx = np.arange(len(d["groups"]))
    table: P.Table = {}
    coef: Dict[Tuple[float, int], Tuple[float, ...]] = {}
    margins: Dict[Tuple[float, int], float] = {}
    info: dict = {"method": method, "shrink": shrink, "shrink_target": "scene" if scene
                  else "base", "starts": int(len(idx)), "rows": {}}
    for ti, thr in enumerate(P.THRESHOLDS):
        lams = None
        if method == "lifetime" and shrink:
            tau, lams = lifetime_weights(d, idx, method, ti, scene)
            info[f"tau_min_{thr:g}"] = tau
        for k in range(P.T_OUT):
            lead = (k + 1) * P.STEP_MIN
            if lams is not None:
                lam = lams[k]
            else:
                lam = shrink_weight(d, idx, method, ti, k, scene) if shrink else 0.0
            m = fit_method(d, idx, method, ti, k, lam, scene)
            table[(thr, lead, 0)] = (P.RADII_KM[m["ri"]], [float(v) for v in m["knots"][0]])
            coef[(thr, lead)] = tuple(m["coef"]) + (lam, m["base"])
            mdb = float(d["margins_db"][m["mi"]])
            if method == "margin":
                margins[(thr, lead)] = mdb
            info["rows"][f"{thr:g}/{lead}"] = {"radius_km": P.RADII_KM[m["ri"]],
                                               "margin_db": mdb,
                                               "coef_abgd": list(m["coef"]), "shrink": lam,
                                               "base_rate": m["base"]}
            log.write(f"\rprobloeo: fit {thr:g} dBZ {lead} min ")
            log.flush()
    log.write("\n")
    info["margins"] = margins
    return table, (A0_KM2, RATE_MAX, coef, scene), info


def write_fit(d: dict, args) -> int:
    """--fit: the table of args.fit on every start of d, written to args.table,
    then its scores on the test split by impa.prob (the same verification as
    every other table)."""
    shrink = not args.no_shrink
    table, growth, info = fit_table(d, args.fit, shrink, scene=args.shrink_to == "scene")
    rel = os.path.relpath(args.table, D.TRAIN_DIR.parent)
    opts = f" --fit {args.fit} --scheme {args.scheme} --stride {args.stride}" + (
        " --no-shrink" if args.no_shrink else f" --shrink-to {args.shrink_to}")
    P.write_table(args.table, table, f"impa-prob-2 neighbourhood + growth ({args.fit}), fitted "
                  f"on {info['starts']} training and validation starts"
                  + (f", leave-one-event-out shrinkage to the "
                     f"{'scene' if args.shrink_to == 'scene' else 'base rate'}"
                     if shrink else ""), 0.0,
                  ["Exceedance-probability calibration of impa-nowcast (impa/prob.h).",
                   f"Written by: cd train && /usr/bin/python3 -m impa.probloeo --table ../{rel}{opts}",
                   "(docs/nowcast.md). Rows: the window half-width (km) and the calibration",
                   "c(f) of the fraction f of window pixels >= threshold at K knots",
                   "f = j/(K-1); logistic lines: how the growth rate of the area >=",
                   "threshold in the inputs moves those knots (impa_prob_logistic_t)."],
                  scheme=args.scheme, growth=growth, margins=info["margins"] or None)
    info["margins"] = {f"{t:g}/{lead}": v for (t, lead), v in info["margins"].items()}
    Path(args.eval_out).mkdir(parents=True, exist_ok=True)
    (Path(args.eval_out) / "prob-fit.json").write_text(json.dumps(info) + "\n")
    return P.main(["--no-fit", "--table", args.table, "--scheme", args.scheme,
                   "--out", args.eval_out, "--png", args.png, "--forecast", args.forecast])


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="impa.probloeo", description=__doc__.split("\n\n")[0])
    ap.add_argument("--scheme", default="impa-extrap-3", choices=P.SCHEMES)
    ap.add_argument("--stride", type=int, default=2)
    ap.add_argument("--data", default=None, help="the per-start histograms (.npz): read when "
                    "present, else computed and written there")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--out", default=str(D.TRAIN_DIR.parent / "docs" / "eval" / "prob-loeo.json"))
    ap.add_argument("--variants", default="none,base,scene",
                    help="comma list of the shrinkage variants compared: none, base (towards "
                    "the fitted base rate), scene")
    ap.add_argument("--fit", default=None,
                    choices=("rate", "rate+size", "full", "margin", "lifetime", "support"),
                    help="instead of the comparison: fit this method on every start and write "
                    "--table, then score it on the test split (impa.prob --no-fit)")
    ap.add_argument("--no-shrink", action="store_true", help="--fit without the shrinkage")
    ap.add_argument("--shrink-to", default="scene", choices=("scene", "base"),
                    help="--fit: shrink towards the newest input's area fraction >= T (scene) "
                    "or the fitted events' base rate (base)")
    ap.add_argument("--table", default=str(D.TRAIN_DIR.parent / "models" / "prob-calibration.txt"))
    ap.add_argument("--eval-out", default=str(D.TRAIN_DIR.parent / "docs" / "eval"),
                    help="--fit: impa.prob's --out (prob.json, prob.md, prob-fit.json)")
    ap.add_argument("--png", default=str(D.TRAIN_DIR.parent / "docs" / "prob-reliability.png"))
    ap.add_argument("--forecast", default="extrapolation", help="--fit: impa.prob's --forecast")
    args = ap.parse_args(argv)
    if args.data and Path(args.data).exists():
        z = np.load(args.data)
        d = {k: z[k] for k in z.files}
    else:
        root = D.shared_data_root()
        if root is None:
            raise SystemExit("probloeo: radar sample data not found (IMPA_SHARED_DATA)")
        full = {e.name: D.load_event(e.name, root).dbz for e in D.EVENTS}
        full.update(D.reversed_events(full, P.T_IN, P.T_OUT))
        samples = P.split_samples(full, "train+val", args.stride)
        need: Dict[str, List[int]] = {}
        for ev, s in samples + P.split_samples(full, "test"):
            need.setdefault(ev, []).append(s)  # the same cache entry as impa.prob's fit
        ex = P.scheme_extrapolations(full, args.scheme, None, need)
        events = {k: v[:, :v.shape[1] // 4 * 4, :v.shape[2] // 4 * 4] for k, v in full.items()}
        extrap = {k: {s: a[:, :events[k].shape[1], :events[k].shape[2]] for s, a in v.items()}
                  for k, v in ex.items()}
        d = start_data(events, extrap, samples)
        if args.data:
            np.savez(args.data, **d)
    if args.fit:
        return write_fit(d, args)
    res = {"scheme": args.scheme, "stride": args.stride, "starts": int(len(d["groups"])),
           "groups": sorted(set(d["groups"].tolist())), "a0_km2": A0_KM2,
           "rate_max_per_h": RATE_MAX, "margins_db": [float(v) for v in d["margins_db"]],
           "bss": {}}
    for meth in args.methods.split(","):
        variants = {"none": (False, False), "base": (True, False), "scene": (True, True)}
        for shrink, scene in (variants[v] for v in args.variants.split(",")):
            t0 = time.time()
            key = meth + (" +shrink" if shrink else "") + (" (scene)" if scene else "")
            res["bss"][key] = loeo(d, meth, shrink, scene=scene)
            b45 = res["bss"][key]["45"]
            print(f"{key:20s} 45 dBZ 10-60 min: " + " ".join(f"{v:6.3f}" for v in b45[:6])
                  + f"  min {min(b45[:6]):.3f}  35 dBZ mean {np.mean(res['bss'][key]['35']):.3f}"
                  f"  ({time.time() - t0:.0f} s)", flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(res, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
