"""Training pack: the decoded events and the C extrapolations that training reads,
in one folder small enough to carry to a machine that has neither the radar
sample data, nor netCDF4, nor the project's C tools (an accelerator machine
running `impa.train --pack DIR --device cuda`, docs/training.md).

    python3 -m impa.pack --out pack/        # from train/, after the cache is filled

Layout (format 1):

    index.json                  quantisation, t_in/t_out, the extrapolation scheme
                                 ("extrapolation", absent = impa-extrap-1), per
                                 event: shape, the extrapolated starts it holds
    <event>.events.u8.xz        uint8 [T, H, W]
    <event>.extrap.u8.xz        uint8 [n, t_out, H, W], n = len(extrap_starts)

Coding: 0 = no radar data (NaN), k >= 1 = (k - 1) * 0.5 dBZ; dBZ is clipped to
[0, 127]. Half a dB is the coarsest product's own resolution (FMI, MeteoSwiss),
so the pack loses nothing those products resolve; on BoM's and KNMI's
continuous values it adds at most 0.25 dB of rounding. Why uint8 + LZMA:
float16 frames and extrapolations are 1.9 GB, this is about 60 MB.

Only what training and validation read leaves the machine: the frames of test
blocks are coded as no data, test-only events are left out, and extrapolations
are kept for train and validation starts only. To fit the 64 MiB a device call
carries, events with almost no severe echo (fewer than QUIET_45_PX pixels
>= 45 dBZ in all their frames: Melbourne, FMI, MeteoSwiss 2017-01-31, KNMI)
keep the extrapolations of every QUIET_STRIDE-th training start only; training
from a pack draws from those starts (impa.train.build_splits skips starts without
extrapolation). The sampler weights such starts low anyway (no >= 45 dBZ).
"""
from __future__ import annotations

import argparse
import json
import lzma
import sys
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np

from . import data as D

FORMAT = 1
QUANT_DB = 0.5
MAX_DBZ = 127.0
QUIET_45_PX = 1000
QUIET_STRIDE = 2


def quantise(dbz: np.ndarray) -> np.ndarray:
    """dBZ (NaN = no data) -> uint8 code (see module docstring)."""
    a = np.asarray(dbz, dtype=np.float32)
    with np.errstate(invalid="ignore"):
        k = np.rint(np.clip(a, 0.0, MAX_DBZ) / QUANT_DB) + 1.0
    return np.where(np.isfinite(a), k, 0.0).astype(np.uint8)


def dequantise(q: np.ndarray) -> np.ndarray:
    """uint8 code -> dBZ float32, NaN for code 0."""
    q = np.asarray(q)
    return np.where(q > 0, (q.astype(np.float32) - 1.0) * QUANT_DB, np.float32(np.nan)).astype(np.float32)


def _write_xz(path: Path, a: np.ndarray) -> int:
    z = lzma.compress(np.ascontiguousarray(a).tobytes(), preset=6)
    path.write_bytes(z)
    return len(z)


def _read_xz(path: Path, shape: Tuple[int, ...]) -> np.ndarray:
    raw = lzma.decompress(path.read_bytes())
    a = np.frombuffer(raw, dtype=np.uint8)
    if a.size != int(np.prod(shape)):
        raise ValueError(f"{path}: {a.size} bytes, index says shape {shape}")
    return a.reshape(shape)


def write_pack(out: Path, events: Dict[str, np.ndarray],
               extrap: Optional[Dict[str, np.ndarray]], t_in: int, t_out: int,
               quiet: bool = False, scheme: str = "impa-extrap-1") -> Dict[str, int]:
    """Writes the pack; returns bytes written per file. `scheme`: the extrapolation
    scheme of `extrap`, recorded as index key "extrapolation" (impa.train checks it)."""
    out.mkdir(parents=True, exist_ok=True)
    L = t_in + t_out
    blocks = D.make_blocks({k: v.shape[0] for k, v in events.items()}, t_in, t_out)
    index = {"format": FORMAT, "quant_db": QUANT_DB, "t_in": t_in, "t_out": t_out,
             "events": {}}
    if extrap is not None:
        index["extrapolation"] = scheme
    sizes: Dict[str, int] = {}
    for name, dbz in events.items():
        mine = [b for b in blocks if b.event == name]
        if all(b.split == "test" for b in mine):
            continue
        q = quantise(dbz)
        for b in mine:
            if b.split == "test":
                q[b.start:b.stop] = 0
        starts: List[int] = [s for b in mine if b.split != "test" for s in D.block_starts(b, L)]
        if int(np.count_nonzero(dbz >= 45.0)) < QUIET_45_PX:
            starts = [s for b in mine for s in D.block_starts(b, L)
                      if b.split == "val" or (b.split == "train" and (s - b.start) % QUIET_STRIDE == 0)]
        entry = {"shape": list(q.shape), "extrap_starts": starts if extrap is not None else []}
        sizes[f"{name}.events.u8.xz"] = _write_xz(out / f"{name}.events.u8.xz", q)
        if extrap is not None:
            ex = quantise(np.stack([np.asarray(extrap[name][s], dtype=np.float32) for s in starts]))
            entry["extrap_shape"] = list(ex.shape)
            sizes[f"{name}.extrap.u8.xz"] = _write_xz(out / f"{name}.extrap.u8.xz", ex)
        index["events"][name] = entry
        if not quiet:
            sys.stderr.write(f"pack: {name}: {sum(v for k, v in sizes.items() if k.startswith(name)) / 1e6:.1f} MB\n")
    (out / "index.json").write_text(json.dumps(index, indent=1))
    return sizes


def read_pack(path: Path) -> Tuple[Dict[str, np.ndarray], Optional[Dict[str, Dict[int, np.ndarray]]], dict]:
    """-> (events {name: dBZ [T, H, W] float32}, extrap {name: {start: dBZ
    [t_out, H, W]}} or None when the pack holds none, index)."""
    index = json.loads((path / "index.json").read_text())
    if index.get("format") != FORMAT or index.get("quant_db") != QUANT_DB:
        raise ValueError(f"{path}: pack format {index.get('format')} / quant "
                         f"{index.get('quant_db')}, this code reads {FORMAT} / {QUANT_DB}")
    events: Dict[str, np.ndarray] = {}
    extrap: Dict[str, Dict[int, np.ndarray]] = {}
    for name, e in index["events"].items():
        events[name] = dequantise(_read_xz(path / f"{name}.events.u8.xz", tuple(e["shape"])))
        if e.get("extrap_starts"):
            ex = _read_xz(path / f"{name}.extrap.u8.xz", tuple(e["extrap_shape"]))
            extrap[name] = {int(s): dequantise(ex[i]) for i, s in enumerate(e["extrap_starts"])}
    return events, (extrap or None), index


def main(argv: Optional[List[str]] = None) -> int:
    """Writes a training pack from the radar sample data and the C extrapolator."""
    ap = argparse.ArgumentParser(prog="impa.pack", description=main.__doc__)
    ap.add_argument("--out", required=True, help="pack folder to write")
    ap.add_argument("--no-extrap", action="store_true",
                    help="events only (the plain network needs no extrapolations)")
    ap.add_argument("--extrapolate", default=None, help="path of impa-extrapolate")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--t-in", type=int, default=4)
    ap.add_argument("--t-out", type=int, default=12)
    ap.add_argument("--reverse-time", action="store_true",
                    help="also pack the time-reversed training events (impa.train --reverse-time)")
    ap.add_argument("--scheme", default="impa-extrap-1",
                    choices=("impa-extrap-1", "impa-extrap-2", "impa-extrap-3"),
                    help="extrapolation scheme (impa-extrapolate --scheme; impa.train --scheme)")
    args = ap.parse_args(argv)
    root = D.shared_data_root()
    if root is None:
        raise SystemExit("pack: radar sample data not found (set IMPA_SHARED_DATA)")
    events = {e.name: D.load_event(e.name, root).dbz for e in D.EVENTS}
    if args.reverse_time:
        events.update(D.reversed_events(events, args.t_in, args.t_out))
    extrap = None
    if not args.no_extrap:
        from .advect import all_extrapolations
        extrap = all_extrapolations(events, args.t_in, args.t_out, args.extrapolate, args.threads,
                                    scheme=args.scheme)
    sizes = write_pack(Path(args.out), events, extrap, args.t_in, args.t_out, scheme=args.scheme)
    print(f"pack: {args.out}: {len(sizes)} files, {sum(sizes.values()) / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
