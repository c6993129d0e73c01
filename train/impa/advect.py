"""Extrapolated frames for the advection-guided variant (docs/model.md, advection = 1).

The network reads, after its t_in observed frames, the t_out frames of the
project's optical-flow extrapolation. Training must see exactly what the daemon
computes, so the frames come from the C extrapolator itself
(`impa-extrapolate --scheme S`; impa-extrap-1, the default: motion from the newest
3 of the t_in frames; impa-extrap-2/-3 are given the event's grid spacing
`--pixel-km` and step `--step-min`, as impa.compare scores them), never from a
Python re-implementation, and are cached per event:

    train/cache/<event>-<event key>-extrap-<t_in>-<t_out>-<tool sha>[-<args key>].npy
        float16 [n_starts, t_out, H, W], n_starts = T - (t_in + t_out) + 1,
        entry s = extrapolation from frames s .. s+t_in-1 (NaN = advected in
        from outside the domain or from missing data).

The cache name holds a hash of the tool binary, so a changed extrapolator
recomputes instead of training on stale frames; a scheme other than
impa-extrap-1 adds a hash of the tool arguments (impa-extrap-1 keeps the names
of the caches written before schemes existed).

The scheme is recorded in the exported model (attribute `extrapolation`): the
daemon's guidance refuses a model whose scheme it does not compute.
"""
from __future__ import annotations

import hashlib
import os
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np

from . import data as D


def find_extrapolate(explicit: Optional[str] = None) -> str:
    """Path of impa-extrapolate (explicit, else the repository's builds)."""
    from .ctools import find_tool

    tool = find_tool("impa-extrapolate", explicit, "nowcast")
    if tool is None:
        raise SystemExit("advect: impa-extrapolate not found: build the project first "
                         "(meson setup build && ninja -C build) or pass its path")
    return tool


SCHEMES = ("impa-extrap-1", "impa-extrap-2", "impa-extrap-3")
DEFAULT_SCHEME = "impa-extrap-1"


def scheme_args(scheme: str, name: str) -> List[str]:
    """impa-extrapolate arguments of `scheme` for event `name` (a time-reversed copy
    has its original's grid). impa-extrap-1 takes none (it has no physical units);
    the others get the grid spacing and step that impa.compare scores them with."""
    if scheme not in SCHEMES:
        raise SystemExit(f"advect: unknown scheme {scheme!r} (one of {', '.join(SCHEMES)})")
    if scheme == DEFAULT_SCHEME:
        return []
    return ["--scheme", scheme, "--pixel-km", str(D.pixel_km(name)), "--step-min",
            str(D.STEP_MIN)]


def model_scheme(weights: str) -> str:
    """The extrapolation scheme a weights file was trained on (attribute
    `extrapolation`, absent = impa-extrap-1, as the C loader reads it)."""
    import netCDF4

    with netCDF4.Dataset(weights) as ds:
        return str(ds.getncattr("extrapolation")) if "extrapolation" in ds.ncattrs() \
            else DEFAULT_SCHEME


def extrapolate(tool: str, frames: np.ndarray, t_out: int, threads: int = 0,
                args: Sequence[str] = ()) -> np.ndarray:
    """frames: dBZ [n, t_in, H, W] -> extrapolation [n, t_out, H, W] (C tool)."""
    from .ctools import run_tool

    return run_tool([tool, "--leads", str(t_out), "--threads", str(threads)] + list(args),
                    frames, t_out)


def _tool_sha(tool: str) -> str:
    h = hashlib.sha256()
    with open(tool, "rb") as f:
        h.update(f.read())
    return h.hexdigest()[:12]


def event_extrapolations(name: str, dbz: np.ndarray, t_in: int, t_out: int, tool: str,
                         cache_dir: Optional[Path] = D.CACHE_DIR, chunk: int = 16,
                         threads: int = 0, quiet: bool = False,
                         args: Sequence[str] = ()) -> np.ndarray:
    """Extrapolations for every sample start of one event (see module docstring);
    `args`: further impa-extrapolate arguments (scheme_args)."""
    n = dbz.shape[0] - (t_in + t_out) + 1
    if n <= 0:
        return np.zeros((0, t_out) + dbz.shape[1:], dtype=np.float16)
    path = None
    if cache_dir is not None:
        ev_key = hashlib.sha256(np.ascontiguousarray(dbz[:, ::7, ::7]).tobytes()).hexdigest()[:10]
        arg_key = ("-" + hashlib.sha256(" ".join(args).encode()).hexdigest()[:8]) if args else ""
        path = Path(cache_dir) / (f"{name}-{ev_key}-extrap-{t_in}-{t_out}-{_tool_sha(tool)}"
                                  f"{arg_key}.npy")
        if path.exists():
            a = np.load(path, mmap_mode="r")
            if a.shape == (n, t_out) + dbz.shape[1:]:
                return a
    out = np.empty((n, t_out) + dbz.shape[1:], dtype=np.float16)
    for a in range(0, n, chunk):
        b = min(n, a + chunk)
        inp = np.stack([dbz[s:s + t_in] for s in range(a, b)]).astype(np.float32)
        out[a:b] = extrapolate(tool, inp, t_out, threads, args).astype(np.float16)
        if not quiet:
            sys.stderr.write(f"\radvect: {name}: {b}/{n} starts extrapolated ")
            sys.stderr.flush()
    if not quiet:
        sys.stderr.write("\n")
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=str(path.parent), suffix=".tmp.npy")
        os.close(fd)
        np.save(tmp, out)
        os.replace(tmp, path)
    return out


def all_extrapolations(events: Dict[str, np.ndarray], t_in: int, t_out: int,
                       tool: Optional[str] = None, threads: int = 0,
                       cache_dir: Optional[Path] = D.CACHE_DIR,
                       quiet: bool = False,
                       scheme: str = DEFAULT_SCHEME) -> Dict[str, np.ndarray]:
    tool = find_extrapolate(tool)
    return {k: event_extrapolations(k, v, t_in, t_out, tool, cache_dir, threads=threads,
                                    quiet=quiet, args=scheme_args(scheme, k))
            for k, v in events.items()}


def main() -> int:
    """Fills the cache for the real events: python3 -m impa.advect [--threads N]."""
    import argparse

    ap = argparse.ArgumentParser(prog="impa.advect", description=main.__doc__)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--tool", default=None, help="path of impa-extrapolate")
    ap.add_argument("--t-in", type=int, default=4)
    ap.add_argument("--t-out", type=int, default=12)
    ap.add_argument("--scheme", default=DEFAULT_SCHEME, choices=SCHEMES)
    args = ap.parse_args()
    root = D.shared_data_root()
    if root is None:
        raise SystemExit("advect: radar sample data not found (set IMPA_SHARED_DATA)")
    events = {e.name: D.load_event(e.name, root).dbz for e in D.EVENTS}
    ex = all_extrapolations(events, args.t_in, args.t_out, args.tool, args.threads,
                            scheme=args.scheme)
    for k, v in ex.items():
        print(f"{k}: {v.shape}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
