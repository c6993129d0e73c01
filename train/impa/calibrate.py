"""Probability matching of a forecast onto a reference distribution: the NumPy
twin of src/nowcast/calibrate.c (include/impa/calibrate.h has the why), used by
the PyTorch path of impa.evaluate when the C engine is not built. Same
histograms, same piecewise-linear distributions, same handling of missing data,
so both agree to within one bin (0.01 dB: float and double can put a value
on a bin edge into neighbouring bins; train/tests/test_calibrate.py)."""
from __future__ import annotations

import numpy as np

BIN_DB = 0.01  # src/nowcast/guided.c GUIDED_CALIB_BIN_DB


def _walk(hf: np.ndarray, hr: np.ndarray, lo: float, w: float, hi: float,
          upper: bool) -> np.ndarray:
    """Reference value at the forecast's cumulative count at the lower or upper
    edge of every forecast bin; on a flat stretch of the reference distribution a
    lower edge takes the start of the next occupied bin, an upper edge the end of
    the previous one (calibrate.c walk())."""
    cf = np.cumsum(hf) - hf + (hf if upper else 0)  # target counts per forecast bin
    cr_end = np.cumsum(hr)
    occupied = np.flatnonzero(hr)
    ends = cr_end[occupied]
    # first occupied j with cr_end > q (lower) or >= q (upper)
    idx = np.searchsorted(ends, cf, side="left" if upper else "right")
    out = np.full(hf.shape, hi, dtype=np.float64)
    ok = idx < occupied.size
    j = occupied[idx[ok]]
    start = cr_end[j] - hr[j]
    out[ok] = lo + (j + (cf[ok] - start) / hr[j]) * w
    return np.minimum(out, hi).astype(np.float32)


def match(field: np.ndarray, ref: np.ndarray, lo: float = 0.0, hi: float = 70.0,
          bin_db: float = BIN_DB) -> np.ndarray:
    """field remapped onto ref's distribution over the pixels finite in both;
    NaN in field stays NaN; a new array."""
    nb = max(1, int(np.ceil((hi - lo) / bin_db)))
    f = np.asarray(field, dtype=np.float32)
    both = np.isfinite(f) & np.isfinite(ref)
    out = f.copy()
    if not both.any():
        return out

    def bins(v: np.ndarray):
        x = (v.astype(np.float64) - lo) / bin_db
        b = np.clip(np.floor(x), 0, nb - 1).astype(np.int64)
        frac = np.clip(x - b, 0.0, 1.0)
        frac[x <= 0] = 0.0
        return b, frac

    hf = np.bincount(bins(f[both])[0], minlength=nb)
    hr = np.bincount(bins(np.asarray(ref)[both])[0], minlength=nb)
    at_lo = _walk(hf, hr, lo, bin_db, hi, upper=False)
    at_hi = _walk(hf, hr, lo, bin_db, hi, upper=True)
    fin = np.isfinite(f)
    b, frac = bins(f[fin])
    out[fin] = at_lo[b] + frac.astype(np.float32) * (at_hi[b] - at_lo[b])
    return out


def match_leads(fc: np.ndarray, extrap: np.ndarray, lo: float = 0.0,
                hi: float = 70.0) -> np.ndarray:
    """Each lead of fc [..., t_out, H, W] matched to the same lead of extrap (the
    daemon's calibration 'extrapolation')."""
    out = np.empty_like(fc)
    for idx in np.ndindex(fc.shape[:-2]):
        out[idx] = match(fc[idx], extrap[idx], lo, hi)
    return out
