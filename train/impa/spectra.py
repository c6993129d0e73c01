"""Radially averaged power spectra (RAPSD) of reflectivity fields.

Used by impa.evaluate to show whether a forecast keeps the small-scale energy
of the observations (the paper's argument against smooth, regressed-to-the-mean
nowcasts). Fields are in dBZ; missing pixels (NaN) are set to 0 dBZ (no echo)
and the mean is removed before the FFT, as pySTEPS' rapsd does.
"""
from __future__ import annotations

from typing import Dict, Sequence, Tuple

import numpy as np


def rapsd(field: np.ndarray, pixel_km: float = 1.0) -> Tuple[np.ndarray, np.ndarray]:
    """RAPSD of a 2-D field -> (wavelength km [K], power [K]).

    Bin k holds integer radial wavenumbers in [k - 0.5, k + 0.5) (cycles per
    domain of the shorter side), k = 1 .. min(h, w) // 2; wavelength =
    min(h, w) * pixel_km / k. Power is |FFT|^2 / (h w) averaged in the bin."""
    f = np.nan_to_num(np.asarray(field, dtype=np.float64), nan=0.0)
    h, w = f.shape
    f = f - f.mean()
    p = np.abs(np.fft.fft2(f)) ** 2 / (h * w)
    n = min(h, w)
    ky = np.fft.fftfreq(h) * n
    kx = np.fft.fftfreq(w) * n
    r = np.sqrt(ky[:, None] ** 2 + kx[None, :] ** 2)
    kbin = np.rint(r).astype(np.int64)
    kmax = n // 2
    sums = np.bincount(kbin.ravel(), weights=p.ravel(), minlength=kmax + 1)[:kmax + 1]
    cnt = np.bincount(kbin.ravel(), minlength=kmax + 1)[:kmax + 1]
    k = np.arange(1, kmax + 1)
    power = sums[1:] / np.maximum(cnt[1:], 1)
    return n * pixel_km / k, power


def mean_rapsd(fields: Sequence[np.ndarray], pixel_km: float = 1.0) -> Tuple[np.ndarray, np.ndarray]:
    """RAPSD averaged over fields of one shape."""
    acc = None
    wl = None
    for f in fields:
        wl, p = rapsd(f, pixel_km)
        acc = p if acc is None else acc + p
    if acc is None:
        raise ValueError("mean_rapsd: no fields")
    return wl, acc / len(fields)


def band_ratio(wl: np.ndarray, p_fc: np.ndarray, p_obs: np.ndarray,
               bands: Sequence[Tuple[float, float]]) -> Dict[str, float]:
    """Forecast / observed power summed over wavelength bands [lo, hi) km
    (1 = scale kept, < 1 = smoothed away)."""
    out = {}
    for lo, hi in bands:
        sel = (wl >= lo) & (wl < hi)
        o = float(p_obs[sel].sum())
        out[f"{lo:g}-{hi:g} km"] = float(p_fc[sel].sum()) / o if o > 0 else float("nan")
    return out
