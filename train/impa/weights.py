"""NetCDF-4 weights file of IMPA-Net (docs/model.md "Weights file", format_version 1).

    export(model, cfg, path, model_name=..., model_version=..., description=..., training=...)
    model, cfg = load(path)
    provenance = read_provenance(path)

Command line (from train/, or with PYTHONPATH=train):
    /usr/bin/python3 -m impa.weights export-random --seed 0 --out models/x.nc [--hid-s 8 ...]
    /usr/bin/python3 -m impa.weights show models/impa-net.nc
"""
from __future__ import annotations

import argparse
import re
import sys
from typing import Dict, List, Optional, Tuple

import numpy as np

from .config import (FLOAT_KEYS, FLOAT_LIST_KEYS, INT_KEYS, INT_LIST_KEYS, TEXT_LIST_KEYS,
                     ConfigError, ImpaConfig)

FORMAT = "impa-nowcast-weights"
FORMAT_VERSION = 1
PROVENANCE_KEYS = ("model_name", "model_version", "description", "training")


class WeightsError(ValueError):
    """The weights file is not a valid format_version 1 IMPA-Net file."""


# --------------------------------------------------------------------------
# Semantic dimension names and long_names, from the parameter name alone
# --------------------------------------------------------------------------
def _dims_for(key: str, shape: Tuple[int, ...], cfg: ImpaConfig) -> Tuple[str, ...]:
    """Dimension names by meaning; lengths are checked against `shape`."""
    by_len = {  # channel-like dims: name -> length
        "field": cfg.n_fields, "hid_s": cfg.hid_s, "hid_s_x4": 4 * cfg.hid_s,
        "hid_t": cfg.hid_t, "hid_t_mlp": cfg.mlp_hidden, "se_hidden": cfg.se_hidden,
        "tin_hid_s": cfg.n_frames_in * cfg.hid_s, "tout_hid_s": cfg.t_out * cfg.hid_s, "one": 1,
    }
    if key.startswith("enc.0.conv.weight"):
        ch = ("hid_s", "field")
    elif re.match(r"enc\.\d\.conv\.weight", key) or key == "dec.2.conv.weight":
        ch = ("hid_s", "hid_s")
    elif re.match(r"dec\.[01]\.conv\.weight", key):
        ch = ("hid_s_x4", "hid_s")
    elif re.match(r"dec\.[01]\.conv\.bias", key):
        ch = ("hid_s_x4",)
    elif key.startswith(("enc.", "dec.")):
        ch = ("hid_s",)
    elif key == "trans.inp.weight":
        ch = ("hid_t", "tin_hid_s")
    elif key == "trans.out.weight":
        ch = ("tout_hid_s", "hid_t")
    elif key == "trans.out.bias":
        ch = ("tout_hid_s",)
    elif key == "readout.weight":
        ch = ("one", "hid_s")
    elif key == "readout.bias":
        ch = ("one",)
    elif ".attn.branches." in key:
        ch = ("hid_t", "one") if key.endswith("weight") else ("hid_t",)
    elif ".se.fc1." in key:
        ch = ("se_hidden", "hid_t") if key.endswith("weight") else ("se_hidden",)
    elif ".se.fc2." in key:
        ch = ("hid_t", "se_hidden") if key.endswith("weight") else ("hid_t",)
    elif ".mlp.fc1." in key or ".mlp.dw." in key:
        if key.endswith("bias"):
            ch = ("hid_t_mlp",)
        else:
            ch = ("hid_t_mlp", "hid_t") if ".fc1." in key else ("hid_t_mlp", "one")
    elif ".mlp.fc2." in key:
        ch = ("hid_t", "hid_t_mlp") if key.endswith("weight") else ("hid_t",)
    else:  # trans.inp.bias, attn.v/fuse/proj, norm1..3
        ch = ("hid_t", "hid_t") if key.endswith("weight") and len(shape) == 4 else ("hid_t",)
    dims = ch + tuple(f"k{n}" for n in shape[len(ch):])
    for d, n in zip(dims, shape):
        if d in by_len and by_len[d] != n:
            raise WeightsError(f"{key}: dimension {d} should be {by_len[d]}, tensor has {n}")
    return dims


_ROLE = {
    "enc.0": "encoder layer 0 (3x3 conv fields->hid_s, stride 1; output kept as decoder skip)",
    "enc.1": "encoder layer 1 (3x3 conv hid_s->hid_s, stride 2)",
    "enc.2": "encoder layer 2 (3x3 conv hid_s->hid_s, stride 2)",
    "dec.0": "decoder layer 0 (3x3 conv hid_s->4*hid_s, pixel shuffle x2)",
    "dec.1": "decoder layer 1 (3x3 conv hid_s->4*hid_s, pixel shuffle x2)",
    "dec.2": "decoder layer 2 (3x3 conv hid_s->hid_s after the skip)",
    "trans.inp": "translator input 1x1 conv (frames_in*hid_s -> hid_t; frames_in = t_in (+ t_out with advection))",
    "trans.out": "translator output 1x1 conv (hid_t -> t_out*hid_s)",
    "readout": "readout 1x1 conv (hid_s -> 1, normalised reflectivity)",
    "norm1": "GroupNorm before the gated multi-scale attention",
    "norm2": "GroupNorm before the channel attention (SE)",
    "norm3": "GroupNorm before the conv-MLP",
    "attn.v": "attention value 1x1 conv (then SiLU)",
    "attn.fuse": "attention 1x1 conv fusing the summed branches into the gate",
    "attn.proj": "attention output 1x1 conv",
    "se.fc1": "squeeze-excitation bottleneck 1x1 conv (hid_t -> hid_t/se_reduction)",
    "se.fc2": "squeeze-excitation expansion 1x1 conv (-> hid_t, then sigmoid)",
    "mlp.fc1": "conv-MLP expansion 1x1 conv (hid_t -> hid_t*mlp_ratio)",
    "mlp.dw": "conv-MLP depthwise 3x3 conv (then GELU)",
    "mlp.fc2": "conv-MLP projection 1x1 conv (-> hid_t)",
}


def _long_name(key: str, cfg: ImpaConfig) -> str:
    base, kind = key.rsplit(".", 1)
    is_norm = base.endswith((".norm", "norm1", "norm2", "norm3"))
    what = ("GroupNorm affine scale" if kind == "weight" else "GroupNorm affine shift") if is_norm \
        else ("convolution weight [out, in/groups, kh, kw]" if kind == "weight" else "convolution bias")
    m = re.match(r"trans\.blocks\.(\d+)\.(.*)", base)
    if m:
        blk, sub = m.group(1), m.group(2)
        b = re.match(r"attn\.branches\.(\d+)", sub)
        if b:
            j = int(b.group(1))
            role = (f"attention branch {j}: depthwise {cfg.branch_kernels[j]}x{cfg.branch_kernels[j]} "
                    f"conv, dilation {cfg.branch_dilations[j]}")
        else:
            role = _ROLE.get(sub, sub)
        return f"IMPA block {blk}, {role}: {what}"
    role = _ROLE.get(base.rsplit(".", 1)[0] if base.endswith((".conv", ".norm")) else base, base)
    return f"{role}: {what}"


# --------------------------------------------------------------------------
# Export / load
# --------------------------------------------------------------------------
def config_attributes(cfg: ImpaConfig) -> Dict[str, object]:
    """Global attributes for the hyper-parameters (numpy typed)."""
    cfg.validate()
    a: Dict[str, object] = {}
    for k in TEXT_LIST_KEYS:
        a[k] = ",".join(getattr(cfg, k))
    for k in FLOAT_LIST_KEYS:
        a[k] = np.asarray(getattr(cfg, k), dtype=np.float64)
    for k in INT_LIST_KEYS:
        a[k] = np.asarray(getattr(cfg, k), dtype=np.int32)
    for k in INT_KEYS:
        a[k] = np.int32(getattr(cfg, k))
    for k in FLOAT_KEYS:
        a[k] = np.float64(getattr(cfg, k))
    return a


OPTIONAL_KEYS = ("advection", "norm_local", "se_window")


def export(model, cfg: ImpaConfig, path: str, model_name: str = "impa-net",
           model_version: str = "0.0", description: str = "",
           training: str = "", **extra: str) -> None:
    """Writes `model` (an ImpaNet or a state_dict) as a NetCDF-4 weights file.
    Extra keyword arguments become additional text global attributes."""
    import netCDF4  # local: the rest of the package does not need it

    from .model import expected_shapes
    sd = model.state_dict() if hasattr(model, "state_dict") else dict(model)
    exp = expected_shapes(cfg)
    if list(sd) != list(exp):
        missing = sorted(set(exp) - set(sd))
        unexpected = sorted(set(sd) - set(exp))
        raise WeightsError(f"state_dict does not match the config: missing {missing}, "
                           f"unexpected {unexpected}")
    with netCDF4.Dataset(path, "w", format="NETCDF4") as ds:
        ds.setncattr("format", FORMAT)
        ds.setncattr("format_version", np.int32(FORMAT_VERSION))
        prov = {"model_name": model_name, "model_version": model_version,
                "description": description, "training": training}
        for k, v in prov.items():
            ds.setncattr(k, str(v))
        for k, v in config_attributes(cfg).items():
            ds.setncattr(k, v)
        for k, v in extra.items():
            if k in ds.ncattrs():
                raise WeightsError(f"extra attribute {k!r} would overwrite a reserved attribute")
            ds.setncattr(k, str(v))
        for key, t in sd.items():
            arr = t.detach().cpu().numpy().astype(np.float32) if hasattr(t, "detach") \
                else np.asarray(t, dtype=np.float32)
            if tuple(arr.shape) != exp[key]:
                raise WeightsError(f"{key}: shape {list(arr.shape)}, expected {list(exp[key])}")
            dims = _dims_for(key, arr.shape, cfg)
            for d, n in zip(dims, arr.shape):
                if d not in ds.dimensions:
                    ds.createDimension(d, n)
            var = ds.createVariable(key, "f4", dims)
            var.setncattr("long_name", _long_name(key, cfg))
            var[...] = arr


def read_config(path: str) -> ImpaConfig:
    """Hyper-parameters from a weights file's global attributes, validated."""
    import netCDF4
    with netCDF4.Dataset(path, "r") as ds:
        return _config_from_ds(ds, path)


def _config_from_ds(ds, path: str) -> ImpaConfig:
    attrs = {k: ds.getncattr(k) for k in ds.ncattrs()}
    fmt = attrs.get("format")
    if fmt != FORMAT:
        raise WeightsError(f"{path}: attribute format is {fmt!r}, expected {FORMAT!r}")
    ver = attrs.get("format_version")
    if ver is None or int(np.asarray(ver).ravel()[0]) != FORMAT_VERSION:
        raise WeightsError(f"{path}: format_version is {ver!r}, expected {FORMAT_VERSION}")
    keys = TEXT_LIST_KEYS + FLOAT_LIST_KEYS + INT_LIST_KEYS + INT_KEYS + FLOAT_KEYS
    # advection, norm_local and se_window came after format_version 1 files
    # were first written; files without them have each = 0.
    missing = [k for k in keys if k not in attrs and k not in OPTIONAL_KEYS]
    if missing:
        raise WeightsError(f"{path}: missing attribute(s) {', '.join(missing)}")
    d = {}
    for k in keys:
        if k not in attrs:
            continue
        v = attrs[k]
        if k in FLOAT_LIST_KEYS or k in INT_LIST_KEYS:
            v = np.atleast_1d(v)  # a one-element array attribute reads back as a scalar
        d[k] = v
    try:
        return ImpaConfig.from_dict(d)
    except ConfigError as e:
        raise WeightsError(f"{path}: {e}") from None


def read_provenance(path: str) -> Dict[str, str]:
    import netCDF4
    with netCDF4.Dataset(path, "r") as ds:
        return {k: str(ds.getncattr(k)) for k in PROVENANCE_KEYS if k in ds.ncattrs()}


def load(path: str):
    """Reads a weights file -> (ImpaNet in eval mode, ImpaConfig). Refuses a file
    with a missing, extra or mis-shaped tensor, like the C loader."""
    import netCDF4
    import torch

    from .model import ImpaNet, expected_shapes
    with netCDF4.Dataset(path, "r") as ds:
        cfg = _config_from_ds(ds, path)
        exp = expected_shapes(cfg)
        have = set(ds.variables)
        missing = [k for k in exp if k not in have]
        if missing:
            raise WeightsError(f"{path}: missing tensor(s) {', '.join(missing)}")
        extra = sorted(have - set(exp))
        if extra:
            raise WeightsError(f"{path}: unexpected tensor(s) {', '.join(extra)}")
        sd = {}
        for k, shape in exp.items():
            v = ds.variables[k]
            if tuple(v.shape) != shape:
                raise WeightsError(f"{path}: tensor '{k}' has shape {list(v.shape)}, "
                                   f"expected {list(shape)}")
            v.set_auto_mask(False)
            sd[k] = torch.from_numpy(np.array(v[...], dtype=np.float32))
    model = ImpaNet(cfg)
    model.load_state_dict(sd, strict=True)
    model.eval()
    return model, cfg


# --------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------
def add_config_args(p: argparse.ArgumentParser) -> None:
    """--<hyper-parameter> overrides (lists comma separated), defaults = shipped."""
    g = p.add_argument_group("config overrides (default: shipped defaults of docs/model.md)")
    for k in TEXT_LIST_KEYS + FLOAT_LIST_KEYS + INT_LIST_KEYS + INT_KEYS + FLOAT_KEYS:
        g.add_argument("--" + k.replace("_", "-"), dest="cfg_" + k, metavar="V", default=None,
                       help=f"{k}" + (" (comma separated)" if k in TEXT_LIST_KEYS + FLOAT_LIST_KEYS
                                      + INT_LIST_KEYS else ""))


def config_from_args(args: argparse.Namespace, base: Optional[ImpaConfig] = None) -> ImpaConfig:
    d = (base or ImpaConfig()).to_dict()
    for k in list(d):
        v = getattr(args, "cfg_" + k, None)
        if v is not None:
            d[k] = v
    return ImpaConfig.from_dict(d)


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m impa.weights",
                                 description="IMPA-Net NetCDF weights files (docs/model.md).")
    sub = ap.add_subparsers(dest="cmd", required=True)
    er = sub.add_parser("export-random", help="write a randomly initialised model")
    er.add_argument("--seed", type=int, default=0)
    er.add_argument("--out", required=True, help="output .nc path")
    er.add_argument("--model-name", default="impa-net")
    er.add_argument("--model-version", default="0.0-untrained")
    er.add_argument("--description", default=None)
    er.add_argument("--training", default=None)
    add_config_args(er)
    sh = sub.add_parser("show", help="print the hyper-parameters and tensors of a file")
    sh.add_argument("path")
    args = ap.parse_args(argv)
    try:
        if args.cmd == "export-random":
            from .model import ImpaNet, init_nontrivial
            cfg = config_from_args(args)
            model = init_nontrivial(ImpaNet(cfg), args.seed)
            export(model, cfg, args.out, model_name=args.model_name,
                   model_version=args.model_version,
                   description=args.description or
                   "UNTRAINED: random weights (impa.model.init_nontrivial, seed "
                   f"{args.seed}); right shape only, forecasts are meaningless",
                   training=args.training or f"none (random init, seed {args.seed})")
            n = sum(p.numel() for p in model.parameters())
            print(f"wrote {args.out}: {n} parameters")
        else:
            model, cfg = load(args.path)
            for k, v in {**read_provenance(args.path), **cfg.to_dict()}.items():
                print(f"{k} = {v}")
            for k, p in model.state_dict().items():
                print(f"  {k} {list(p.shape)}")
            print(f"parameters = {sum(p.numel() for p in model.parameters())}")
    except (ConfigError, WeightsError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
