"""Golden parity files for the C engine (tests/engine/test_parity.c).

Configurations: a-c plain network, d advection-guided, e advection-guided with
the size-independent norms (norm_local = 1, se_window = 3), f advection-guided at
the shipped hid_s 16 on 240-pixel rows (the C engine's direct 3x3 kernel), g the
same on 80-pixel rows (its flattened variant at 40 and 20).

For each configuration NAME below writes, into the output directory:
  golden_NAME_weights.nc  a weights file (docs/model.md format, random
                          non-trivial weights, impa.model.init_nontrivial)
  golden_NAME.nc          input(frame_in, field, y, x): normalised input, float32
                          (frame_in = t_in, or t_in + t_out with advection = 1:
                          observed frames, then extrapolated frames)
                          output(t_out, y, x): ImpaNet output (normalised, not clamped)
                          plus intermediates to localise a mismatch:
                          mixed_input(frame_in, field, y, x)  after the Spatial Mixer
                                                          (only when spatial_mixer = 1)
                          skip(hid_s, y, x)               enc.0 output of the last frame read
                                                          (advection: the last extrapolated
                                                          one, lead t_out's skip)
                          latent_in(tin_hid_s, ly, lx)    translator input (frame-major)
                          latent_out(tout_hid_s, ly, lx)  translator output
                          attribute weights_file = "golden_NAME_weights.nc"

Deterministic: weights and inputs come from numpy's legacy RandomState (stable
across versions), the forward pass runs in float32 on 1 thread with
torch.use_deterministic_algorithms(True).

    /usr/bin/python3 -m impa.golden --out tests/data        # (from train/: --out ../tests/data)
    /usr/bin/python3 -m impa.golden --check tests/data      # regenerate in a temp dir, compare
Exit codes: 0 ok, 1 mismatch or error, 77 torch/netCDF4 not importable (skip).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from typing import Dict, List, Optional

import numpy as np

try:
    import netCDF4
    import torch
except ImportError as _e:  # the test that runs --check skips on this
    _IMPORT_ERROR: Optional[ImportError] = _e
else:
    _IMPORT_ERROR = None

from .config import ImpaConfig

# name -> (hyper-parameter overrides of the shipped defaults, H, W, weight seed, input seed)
CONFIGS: Dict[str, tuple] = {
    # non-square grid, 2 branches, one block, residual on
    "a": (dict(t_in=3, t_out=4, hid_s=8, hid_t=32, n_blocks=1, branch_kernels=[3, 5],
               branch_dilations=[1, 2], spatial_mixer=1, residual=1), 40, 56, 101, 201),
    # three blocks, three dilated branches, residual off
    "b": (dict(t_in=4, t_out=6, hid_s=8, hid_t=32, n_blocks=3, branch_kernels=[3, 5, 7],
               branch_dilations=[1, 2, 3], spatial_mixer=1, residual=0), 48, 48, 102, 202),
    # ablation: no Spatial Mixer, otherwise shipped defaults at small width
    "c": (dict(hid_s=8, hid_t=16, spatial_mixer=0), 32, 32, 103, 203),
    # advection-guided variant: 3 observed + 4 extrapolated frames, per-lead skip
    # and residual; non-square grid, Spatial Mixer on (the residual base is the
    # input before the mixer)
    "d": (dict(t_in=3, t_out=4, hid_s=8, hid_t=16, n_blocks=1, branch_kernels=[3, 5],
               branch_dilations=[1, 2], spatial_mixer=1, residual=1, advection=1),
          24, 36, 104, 204),
    # size-independent variant on the advection model: per-pixel statistics over
    # 2 groups of channels (not only a LayerNorm) and the SE gate from a 3 x 3
    # local mean (the grid's border cells average fewer pixels); non-square grid
    "e": (dict(t_in=3, t_out=4, hid_s=8, hid_t=16, n_blocks=1, branch_kernels=[3, 5],
               branch_dilations=[1, 2], spatial_mixer=1, residual=1, advection=1,
               norm_local=1, norm_groups=2, se_window=3),
          28, 32, 105, 205),
    # the shipped widths' direct-convolution path of the C engine (hid_s 16: 16 and
    # 64 output channels) on the advection model: rows of 240, 120 and 60 pixels
    # fill 16-wide AVX-512 vectors, the last two with a masked tail
    "f": (dict(t_in=2, t_out=2, hid_s=16, hid_t=16, n_blocks=1, branch_kernels=[3, 5],
               branch_dilations=[1, 2], spatial_mixer=1, residual=1, advection=1),
          16, 240, 106, 206),
    # the same on the daemon's window width: rows of 80 (by rows), 40 and 20 pixels
    # (the direct kernel over the flattened plane)
    "g": (dict(t_in=2, t_out=2, hid_s=16, hid_t=16, n_blocks=1, branch_kernels=[3, 5],
               branch_dilations=[1, 2], spatial_mixer=1, residual=1, advection=1),
          24, 80, 107, 207),
}

# Regenerated files must match the committed ones within these (weights and
# inputs are exact: they do not depend on floating-point kernels).
CHECK_ATOL = 1e-4
CHECK_RTOL = 1e-4


def golden_config(name: str) -> ImpaConfig:
    return ImpaConfig().replace(**CONFIGS[name][0])


def make_input(cfg: ImpaConfig, h: int, w: int, seed: int) -> np.ndarray:
    """[n_frames_in, C, H, W] float32 uniform in [0, 1) with ~20% exact zeros."""
    rng = np.random.RandomState(seed)
    x = rng.uniform(0.0, 1.0, size=(cfg.n_frames_in, cfg.n_fields, h, w))
    x[rng.uniform(size=x.shape) < 0.2] = 0.0
    return x.astype(np.float32)


def _forward_with_intermediates(model, x: "torch.Tensor") -> Dict[str, np.ndarray]:
    """Runs the model once, capturing intermediates with forward hooks."""
    from .model import spatial_mixer
    got: Dict[str, torch.Tensor] = {}

    # A forward hook that returns a value replaces the module's output: return None.
    def on_enc0(m, inp, out) -> None:
        got["e0"] = out

    def on_trans(m, inp, out) -> None:
        got["lin"], got["lout"] = inp[0], out

    hooks = [model.enc[0].register_forward_hook(on_enc0),
             model.trans.register_forward_hook(on_trans)]
    try:
        with torch.no_grad():
            y = model(x)
            mixed = spatial_mixer(x) if model.use_mixer else x
    finally:
        for hk in hooks:
            hk.remove()
    return {
        "output": y[0].numpy(),
        "mixed_input": mixed[0].numpy(),
        "skip": got["e0"][-1].numpy(),       # frames are the batch: last = last frame
        "latent_in": got["lin"][0].numpy(),
        "latent_out": got["lout"][0].numpy(),
    }


def generate(name: str, out_dir: str) -> Dict[str, float]:
    """Writes golden_<name>_weights.nc and golden_<name>.nc; returns a summary."""
    from .model import ImpaNet, init_nontrivial
    from .weights import export
    overrides, h, w, wseed, iseed = CONFIGS[name]
    cfg = golden_config(name)
    cfg.check_grid(h, w)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    model = init_nontrivial(ImpaNet(cfg), wseed).eval()
    wname = f"golden_{name}_weights.nc"
    export(model, cfg, os.path.join(out_dir, wname), model_name=f"golden-{name}",
           model_version="1", description=f"parity test weights, configuration {name!r} "
           "(random, not a forecasting model)",
           training=f"none: impa.model.init_nontrivial(seed={wseed})")
    x = make_input(cfg, h, w, iseed)
    res = _forward_with_intermediates(model, torch.from_numpy(x)[None])
    # How far float32 is from float64 here: a floor for any parity tolerance.
    with torch.no_grad():
        y64 = model.double()(torch.from_numpy(x).double()[None])[0].numpy()
    f64_diff = float(np.max(np.abs(y64 - res["output"].astype(np.float64))))

    path = os.path.join(out_dir, f"golden_{name}.nc")
    with netCDF4.Dataset(path, "w", format="NETCDF4") as ds:
        s, lh, lw = cfg.hid_s, h // 4, w // 4
        for d, n in (("frame_in", cfg.n_frames_in), ("t_out", cfg.t_out),
                     ("field", cfg.n_fields), ("y", h), ("x", w), ("hid_s", s), ("ly", lh),
                     ("lx", lw), ("tin_hid_s", cfg.n_frames_in * s),
                     ("tout_hid_s", cfg.t_out * s)):
            ds.createDimension(d, n)
        specs = [
            ("input", ("frame_in", "field", "y", "x"), x,
             "normalised network input (before the Spatial Mixer): t_in observed frames"
             + (", then t_out extrapolated frames" if cfg.advection else "")),
            ("output", ("t_out", "y", "x"), res["output"],
             "ImpaNet output, normalised reflectivity, not clamped"),
            ("mixed_input", ("frame_in", "field", "y", "x"), res["mixed_input"],
             "input after the Spatial Mixer"),
            ("skip", ("hid_s", "y", "x"), res["skip"],
             "enc.0 output (after GroupNorm, SiLU) of the last input frame: the decoder skip"
             + (" of the last lead" if cfg.advection else "")),
            ("latent_in", ("tin_hid_s", "ly", "lx"), res["latent_in"],
             "translator input: enc.2 outputs stacked frame-major (channel t*hid_s + s)"),
            ("latent_out", ("tout_hid_s", "ly", "lx"), res["latent_out"],
             "translator output (trans.out), lead-major (channel t*hid_s + s)"),
        ]
        for vname, dims, arr, ln in specs:
            if vname == "mixed_input" and not cfg.spatial_mixer:
                continue  # identical to input: keep the committed files small
            v = ds.createVariable(vname, "f4", dims)
            v.long_name = ln
            v[...] = np.asarray(arr, dtype=np.float32)
        ds.setncattr("title", f"IMPA-Net golden parity case {name!r}")
        ds.setncattr("weights_file", wname)
        ds.setncattr("config_name", name)
        ds.setncattr("grid", f"{h}x{w}")
        ds.setncattr("t_in", np.int32(cfg.t_in))
        ds.setncattr("advection", np.int32(cfg.advection))
        ds.setncattr("norm_local", np.int32(cfg.norm_local))
        ds.setncattr("se_window", np.int32(cfg.se_window))
        ds.setncattr("weight_seed", np.int32(wseed))
        ds.setncattr("input_seed", np.int32(iseed))
        ds.setncattr("float64_max_abs_diff", np.float64(f64_diff))
        ds.setncattr("generator", "train/impa/golden.py (/usr/bin/python3 -m impa.golden)")
        ds.setncattr("torch_version", str(torch.__version__))
    return {"output_absmax": float(np.abs(res["output"]).max()),
            "output_std": float(res["output"].std()), "float64_max_abs_diff": f64_diff}


def _compare_nc(a: str, b: str, exact: bool) -> List[str]:
    """Differences between two NetCDF files' variables (and the config attributes)."""
    errs: List[str] = []
    with netCDF4.Dataset(a) as da, netCDF4.Dataset(b) as db:
        if set(da.variables) != set(db.variables):
            return [f"{os.path.basename(a)}: variables differ: "
                    f"{sorted(set(da.variables) ^ set(db.variables))}"]
        for k in da.variables:
            va, vb = np.asarray(da.variables[k][...]), np.asarray(db.variables[k][...])
            if va.shape != vb.shape:
                errs.append(f"{os.path.basename(a)}:{k}: shape {va.shape} vs {vb.shape}")
                continue
            ok = np.array_equal(va, vb) if exact and k not in (
                "output", "skip", "latent_in", "latent_out") else np.allclose(
                va, vb, atol=CHECK_ATOL, rtol=CHECK_RTOL)
            if not ok:
                d = float(np.max(np.abs(va.astype(np.float64) - vb.astype(np.float64))))
                errs.append(f"{os.path.basename(a)}:{k}: max abs diff {d:.3g}")
        for att in ("fields", "t_in", "t_out", "hid_s", "hid_t", "advection", "norm_local",
                    "se_window", "weights_file"):
            if att in da.ncattrs() and str(da.getncattr(att)) != str(db.getncattr(att)):
                errs.append(f"{os.path.basename(a)}: attribute {att} differs")
    return errs


def check(committed_dir: str, names: List[str]) -> int:
    with tempfile.TemporaryDirectory(prefix="impa-golden-") as tmp:
        errs: List[str] = []
        for n in names:
            generate(n, tmp)
            for f in (f"golden_{n}_weights.nc", f"golden_{n}.nc"):
                ref = os.path.join(committed_dir, f)
                if not os.path.exists(ref):
                    errs.append(f"{ref}: missing (regenerate with --out)")
                    continue
                errs += _compare_nc(ref, os.path.join(tmp, f), exact=True)
        for e in errs:
            print(f"MISMATCH {e}")
        if errs:
            print(f"golden check FAILED: {len(errs)} difference(s) in {committed_dir}")
            return 1
        print(f"golden check ok: {', '.join(names)} regenerate identically "
              f"(weights/inputs exact, outputs within atol {CHECK_ATOL})")
        return 0


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m impa.golden", description=__doc__.split("\n")[0])
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--out", help="directory to write golden_*.nc into")
    g.add_argument("--check", metavar="DIR", help="regenerate and compare with DIR")
    ap.add_argument("--only", default=",".join(CONFIGS), help="comma-separated config names")
    args = ap.parse_args(argv)
    if _IMPORT_ERROR is not None:
        print(f"SKIP: {_IMPORT_ERROR} (torch and netCDF4 are needed to regenerate goldens)")
        return 77
    names = [n for n in args.only.split(",") if n]
    bad = [n for n in names if n not in CONFIGS]
    if bad:
        print(f"error: unknown configuration(s) {bad}; known: {list(CONFIGS)}", file=sys.stderr)
        return 1
    if args.check:
        return check(args.check, names)
    os.makedirs(args.out, exist_ok=True)
    for n in names:
        info = generate(n, args.out)
        print(f"golden {n}: " + ", ".join(f"{k}={v:.4g}" for k, v in info.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
