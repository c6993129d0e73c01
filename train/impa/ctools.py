"""The project's C tools from Python: finding a built impa-infer /
impa-extrapolate and running one on a NetCDF tensor file.

The lowest module of the package besides data: advect, evaluate and train all
call the C tools through it, so none of them imports another for this.
"""
from __future__ import annotations

import glob
import os
import subprocess
import tempfile
from typing import List, Optional

import numpy as np

from . import data as D


def find_tool(name: str, explicit: Optional[str], owner: str) -> Optional[str]:
    """An explicit path, else $IMPA_BUILD_ROOT/src/tools/<name> (set by meson
    test), else build-<owner>/src/tools/<name> (the build of the
    module's owner, e.g. "engine" for impa-infer), else the newest
    build*/src/tools/<name> of the repo."""
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    # Under meson test the build being tested, not the newest one of the repo.
    env_build = os.environ.get("IMPA_BUILD_ROOT")
    if env_build:
        p = os.path.join(env_build, "src", "tools", name)
        if os.path.isfile(p) and os.access(p, os.X_OK):
            return p
    root = D.TRAIN_DIR.parent
    own = root / f"build-{owner}" / "src" / "tools" / name
    if own.is_file() and os.access(own, os.X_OK):
        return str(own)
    cands = [p for p in glob.glob(str(root / "build*" / "src" / "tools" / name))
             if os.path.isfile(p) and os.access(p, os.X_OK)]
    return max(cands, key=os.path.getmtime) if cands else None


def write_nc(path: str, dbz: np.ndarray, tdim: str) -> None:
    import netCDF4

    with netCDF4.Dataset(path, "w") as ds:
        n, t, h, w = dbz.shape
        ds.createDimension("sample", n)
        ds.createDimension(tdim, t)
        ds.createDimension("y", h)
        ds.createDimension("x", w)
        v = ds.createVariable("dbz", "f4", ("sample", tdim, "y", "x"), zlib=False)
        v.units = "dBZ"
        v.long_name = "radar reflectivity, NaN = no data"
        v[:] = dbz.astype(np.float32)


def read_nc(path: str) -> np.ndarray:
    import netCDF4

    with netCDF4.Dataset(path) as ds:
        v = ds.variables["dbz"]
        v.set_auto_mask(False)
        a = np.array(v[:], dtype=np.float32)
        fill = getattr(v, "_FillValue", None)
    if fill is not None:
        a[a == fill] = np.nan
    a[np.abs(a) > 1e30] = np.nan
    return a


def run_tool(cmd: List[str], inp: np.ndarray, t_out: int) -> np.ndarray:
    """Writes IN.nc, runs the tool, reads OUT.nc dbz(sample, t_out, y, x)."""
    with tempfile.TemporaryDirectory(prefix="impa-eval-") as d:
        fin, fout = os.path.join(d, "in.nc"), os.path.join(d, "out.nc")
        write_nc(fin, inp, "t_in")
        full = cmd + ["--input", fin, "--output", fout]
        r = subprocess.run(full, capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"{' '.join(full)}: exit {r.returncode}: {r.stderr.strip()[-500:]}")
        out = read_nc(fout)
    if out.shape != (inp.shape[0], t_out) + inp.shape[2:]:
        raise RuntimeError(f"{cmd[0]}: output shape {out.shape}, expected "
                           f"{(inp.shape[0], t_out) + inp.shape[2:]}")
    return out
