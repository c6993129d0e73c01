#!/usr/bin/python3
"""Picture of one forecast cycle: the last observed scan and chosen lead times.

    /usr/bin/python3 tools/forecast_png.py --archive FILE.nc --out forecast.png \
        [--observed SCAN.nc] [--leads 30,60,120] [--title TEXT]

FILE.nc is a forecast archive written by impa-nowcastd (include/impa/archive.h:
reflectivity(lead_time, y, x) in dBZ, lead_time in minutes,
forecast_reference_time = issue time, x/y cell centres in metres). The observed panel comes from --observed, or else from the
last file named in the archive's `inputs` attribute when it still exists; a
scan holding a rain rate or an accumulation is converted to dBZ with
Z = 200 R^1.6. Missing pieces are drawn as an empty panel with a note, never a
crash: the picture is documentation, not a check.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import sys
from typing import List, Optional, Tuple

import numpy as np

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.colors import BoundaryNorm, ListedColormap  # noqa: E402

import netCDF4  # noqa: E402

# Reflectivity colour steps (dBZ), the usual radar palette: light rain greens,
# moderate yellows, heavy reds, hail magentas.
LEVELS = [5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55, 60, 65, 75]
COLOURS = ["#9be1ff", "#4fb7ff", "#1e6eff", "#3ddc35", "#1fa51a", "#137a0f",
           "#fff33b", "#ffc21a", "#ff8c00", "#ff1e00", "#c20000", "#ff00ff", "#9b30ff"]


def _units_scale(units: str) -> float:
    """Metres per coordinate unit (plots are in km)."""
    return 1000.0 if units.strip().lower() in ("km", "kilometre", "kilometer") else 1.0


def _coords(ds: netCDF4.Dataset, var) -> Tuple[np.ndarray, np.ndarray]:
    """x and y of var's last two dimensions, in km; cell indices when absent."""
    ydim, xdim = var.dimensions[-2], var.dimensions[-1]
    out = []
    for dim in (xdim, ydim):
        if dim in ds.variables:
            c = ds.variables[dim]
            out.append(np.asarray(c[:], dtype=float) * _units_scale(getattr(c, "units", "m")) / 1000.0)
        else:
            out.append(np.arange(len(ds.dimensions[dim]), dtype=float))
    return out[0], out[1]


def _to_dbz(ds: netCDF4.Dataset, accum_period_s: float) -> Tuple[np.ndarray, object]:
    """Reflectivity in dBZ (NaN = missing) of a scan file and its variable."""
    best = None
    for name, v in ds.variables.items():
        if len(v.dimensions) < 2:
            continue
        sn = getattr(v, "standard_name", "")
        units = getattr(v, "units", "")
        if units == "dBZ" or "reflectivity" in sn:
            best = (v, "dbz")
            break
        if sn in ("rainfall_rate", "precipitation_rate") or units in ("mm h-1", "mm/h"):
            best = best or (v, "rate")
        elif sn in ("precipitation_amount", "rainfall_amount") or units in ("kg m-2", "mm"):
            best = best or (v, "accum")
    if best is None:
        raise ValueError("no reflectivity, rain rate or accumulation variable")
    v, kind = best
    a = np.ma.filled(np.ma.masked_invalid(v[:].astype(float)), np.nan)
    while a.ndim > 2:
        a = a[-1]
    if kind == "dbz":
        return a, v
    rate = a * 3600.0 / accum_period_s if kind == "accum" else a
    with np.errstate(divide="ignore", invalid="ignore"):
        dbz = np.where(rate > 0, 10.0 * np.log10(200.0 * np.power(rate, 1.6)), -32.0)
    return np.where(np.isnan(a), np.nan, dbz), v


def _last_input(ds: netCDF4.Dataset) -> Optional[str]:
    """Path of the newest input scan named by the archive, if it still exists."""
    text = str(getattr(ds, "inputs", ""))
    paths = re.findall(r"(/[^\s,;\"']+\.(?:nc|h5|hdf5))", text)
    for p in reversed(paths):
        if os.path.exists(p):
            return p
    return None


def _issue_time(ds: netCDF4.Dataset) -> Optional[dt.datetime]:
    # forecast_reference_time; archives written before it was a coordinate of its
    # own held the issue time in a scalar "time"
    if "forecast_reference_time" in ds.variables:
        t = ds.variables["forecast_reference_time"]
    elif "time" in ds.variables and ds.variables["time"].ndim == 0:
        t = ds.variables["time"]
    else:
        return None
    try:
        return netCDF4.num2date(t[:].ravel()[0], t.units, only_use_cftime_datetimes=False,
                                only_use_python_datetimes=True)
    except Exception:  # an odd calendar only costs the title its time
        return None


def render(archive: str, out: str, observed: Optional[str], leads: List[int],
           title: Optional[str], accum_period_s: float) -> None:
    ds = netCDF4.Dataset(archive)
    refl = ds.variables["reflectivity"]
    fc = np.ma.filled(np.ma.masked_invalid(refl[:].astype(float)), np.nan)
    lead_var = None
    for cand in ("lead_time", refl.dimensions[0]):
        if cand in ds.variables:
            lead_var = ds.variables[cand]
            break
    lead_min = (np.asarray(lead_var[:], dtype=float) if lead_var is not None
                else np.arange(1, fc.shape[0] + 1) * 10.0)
    x, y = _coords(ds, refl)
    issue = _issue_time(ds)
    method = getattr(ds, "method", "")
    obs_path = observed or _last_input(ds)

    panels = []  # (title, field or None, x, y, note)
    if obs_path:
        try:
            with netCDF4.Dataset(obs_path) as so:
                dbz, v = _to_dbz(so, accum_period_s)
                ox, oy = _coords(so, v)
            panels.append(("observed (issue time)", dbz, ox, oy, os.path.basename(obs_path)))
        except Exception as e:  # documented: a note instead of a crash
            panels.append(("observed", None, x, y, "unreadable: %s" % e))
    else:
        panels.append(("observed", None, x, y, "input scan not available"))
    for L in leads:
        k = int(np.argmin(np.abs(lead_min - L)))
        if abs(lead_min[k] - L) > 0.5:
            panels.append(("+%d min" % L, None, x, y, "lead not in archive (max %d min)" % lead_min.max()))
        else:
            panels.append(("+%d min" % L, fc[k], x, y, ""))

    cmap = ListedColormap(COLOURS)
    cmap.set_bad("#d9d9d9")   # outside radar coverage / no data
    cmap.set_under("white")   # below 5 dBZ: no rain
    norm = BoundaryNorm(LEVELS, cmap.N)
    fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels) + 0.8, 4.0),
                             constrained_layout=True)
    axes = np.atleast_1d(axes)
    im = None
    for ax, (ptitle, field, px, py, note) in zip(axes, panels):
        ax.set_title(ptitle, fontsize=10)
        ax.set_aspect("equal")
        ax.set_xlabel("x (km)", fontsize=8)
        ax.tick_params(labelsize=7)
        if field is None:
            ax.text(0.5, 0.5, note, ha="center", va="center", fontsize=8, wrap=True,
                    transform=ax.transAxes)
            ax.set_xlim(px.min(), px.max())
            ax.set_ylim(min(py.min(), py.max()), max(py.min(), py.max()))
            continue
        im = ax.pcolormesh(px, py, np.ma.masked_invalid(field), cmap=cmap, norm=norm,
                           shading="nearest")
        if note:
            ax.text(0.02, 0.02, note, fontsize=6, transform=ax.transAxes)
    axes[0].set_ylabel("y (km)", fontsize=8)
    if im is not None:
        cb = fig.colorbar(im, ax=list(axes), shrink=0.85, extend="both")
        cb.set_label("reflectivity (dBZ)")
    head = title or "impa-nowcast forecast"
    if issue:
        head += "  issued %s UTC" % issue.strftime("%Y-%m-%d %H:%M")
    if method:
        head += "  [%s]" % method
    fig.suptitle(head, fontsize=11)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    ds.close()


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--archive", required=True, help="forecast archive NetCDF file")
    ap.add_argument("--out", required=True, help="PNG to write")
    ap.add_argument("--observed", help="scan shown as the observed panel (default: last input)")
    ap.add_argument("--leads", default="30,60,120", help="lead times in minutes (default 30,60,120)")
    ap.add_argument("--title", help="title prefix")
    ap.add_argument("--accum-period-s", type=float, default=600.0,
                    help="accumulation period of an observed scan holding amounts (default 600)")
    a = ap.parse_args(argv)
    try:
        leads = [int(v) for v in a.leads.split(",") if v.strip()]
    except ValueError:
        ap.error("--leads: comma separated minutes")
    try:
        render(a.archive, a.out, a.observed, leads, a.title, a.accum_period_s)
    except (OSError, KeyError, ValueError) as e:
        print("forecast_png: %s: %s" % (a.archive, e), file=sys.stderr)
        return 1
    print("forecast_png: wrote %s" % a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
