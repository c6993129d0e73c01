"""Training of IMPA-Net on the real radar sample data.

    cd train && /usr/bin/python3 -m impa.train --out runs/NAME --loss mad|mse \
        --budget-min 40 --seed 0 [--resume] [--crop 96] [--threads 1] [--steps N]

What it does (docs/training.md has the reasons and the numbers):
- data: impa.data events on the 10-min clock, split in time blocks
  (impa.data.make_blocks); a sample never straddles a block;
- sampling: a training sample's start is drawn with probability
  1 + 20 * f35 + 100 * f45 (f = fraction of valid pixels >= 35 / 45 dBZ in its
  frames); its crop is centred on a >= 45 dBZ pixel (1/4 of the time, when
  there is one), a >= 35 dBZ pixel (1/4) or anywhere (1/2, keeps dry crops);
  crops with less than half radar coverage are redrawn;
- augmentation: random flips and 90-degree rotations of the whole sequence;
- optimisation: AdamW, cosine learning rate over the budget (time or steps,
  whichever ends first), gradient clipping 1.0;
- checkpoints (last.pt) every --ckpt-min minutes and at the end; --resume
  continues from last.pt with the optimiser, RNG state and spent time;
- validation on fixed crops of the validation blocks every --val-min minutes:
  CSI at 35/45 dBZ and the MAD-Loss at full weighting; best.pt keeps the
  best score = CSI35 + CSI45 (mean over leads), ties by lower loss;
- at the end best.pt is exported to runs/NAME/model.nc (impa.weights.export).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from . import data as D
from .config import ImpaConfig


# ----------------------------------------------------------------- samples ----

@dataclass
class SampleSet:
    """Events and the sample starts of one split. events[name] = dBZ [T, H, W];
    extrap[name][s] = extrapolation [t_out, H, W] from the t_in frames at s
    (impa.advect), only for the advection-guided variant, else None."""
    events: Dict[str, np.ndarray]
    starts: List[Tuple[str, int]]
    weights: np.ndarray  # sampling probability per start (sums to 1)
    extrap: Optional[Dict[str, np.ndarray]] = None

    def sequence(self, name: str, s: int, L: int) -> np.ndarray:
        """dBZ [L (+ t_out), H, W]: the observed sample, then (variant) its
        extrapolated frames, so crops and augmentation treat them alike."""
        return self.window(name, s, L, 0, 0, None)

    def window(self, name: str, s: int, L: int, y0: int, x0: int,
               crop: Optional[int]) -> np.ndarray:
        """sequence() of the crop x crop window at (y0, x0) (crop None: the
        whole grid), cut before the frames are joined: a batch copies crops,
        not whole grids."""
        ys = slice(y0, None if crop is None else y0 + crop)
        xs = slice(x0, None if crop is None else x0 + crop)
        seq = self.events[name][s:s + L, ys, xs]
        if self.extrap is None:
            return seq
        return np.concatenate([seq, np.asarray(self.extrap[name][s][:, ys, xs], dtype=np.float32)])


def network_input(arr: np.ndarray, cfg: ImpaConfig) -> np.ndarray:
    """[B, L (+ t_out), H, W] dBZ sequences -> normalised network input
    [B, n_frames_in, C, H, W]: observed frames, then (variant) extrapolated ones."""
    from .model import normalise

    L = cfg.t_in + cfg.t_out
    frames = arr[:, :cfg.t_in]
    if cfg.advection:
        frames = np.concatenate([frames, arr[:, L:L + cfg.t_out]], axis=1)
    return normalise(frames, cfg)


def build_splits(events: Dict[str, np.ndarray], t_in: int, t_out: int,
                 extrap: Optional[Dict[str, np.ndarray]] = None,
                 holdout: Optional[str] = None) -> Dict[str, SampleSet]:
    L = t_in + t_out
    blocks = D.make_blocks({k: v.shape[0] for k, v in events.items()}, t_in, t_out, holdout)
    out: Dict[str, SampleSet] = {}
    for split in ("train", "val", "test"):
        starts: List[Tuple[str, int]] = []
        w: List[float] = []
        for b in blocks:
            if b.split != split:
                continue
            ev = events[b.event]
            for s in D.block_starts(b, L):
                if isinstance(extrap, dict) and isinstance(extrap.get(b.event), dict) \
                        and s not in extrap[b.event]:
                    continue  # a training pack keeps some starts only (impa.pack)
                seq = ev[s:s + L]
                n = max(1, int(np.isfinite(seq).sum()))
                f35 = float((seq >= 35).sum()) / n
                f45 = float((seq >= 45).sum()) / n
                starts.append((b.event, s))
                w.append(1.0 + 20.0 * f35 + 100.0 * f45)
        wa = np.asarray(w, dtype=np.float64)
        out[split] = SampleSet(events, starts, wa / wa.sum() if len(wa) else wa, extrap)
    return out


def pick_crop(seq: np.ndarray, t_in: int, crop: int, rng: np.random.Generator) -> Tuple[int, int]:
    """Top-left corner of a crop x crop window (see module docstring)."""
    _, h, w = seq.shape
    last = seq[t_in - 1]
    mode = rng.random()
    for _ in range(10):
        y0 = x0 = None
        if mode < 0.5:
            thr = 45.0 if mode < 0.25 else 35.0
            ys, xs = np.nonzero(last >= thr)
            if len(ys):
                k = rng.integers(len(ys))
                y0 = int(np.clip(ys[k] - crop // 2, 0, h - crop))
                x0 = int(np.clip(xs[k] - crop // 2, 0, w - crop))
        if y0 is None:
            y0 = int(rng.integers(0, h - crop + 1))
            x0 = int(rng.integers(0, w - crop + 1))
        if np.isfinite(last[y0:y0 + crop, x0:x0 + crop]).mean() >= 0.5:
            return y0, x0
        mode = 1.0  # coverage-poor: fall back to uniform draws
    return y0, x0


def augment(seq: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Same random flip / 90-degree rotation for every frame of [T, H, W]."""
    k = int(rng.integers(4))
    if k:
        seq = np.rot90(seq, k, axes=(1, 2))
    if rng.random() < 0.5:
        seq = seq[:, :, ::-1]
    return np.ascontiguousarray(seq)


def make_batch(ss: SampleSet, cfg: ImpaConfig, batch: int, crop: int,
               rng: np.random.Generator):
    """x: [B, n_frames_in, C, crop, crop], y: [B, Tout, crop, crop] normalised,
    m: valid mask."""
    import torch
    from .model import normalise_field

    L = cfg.t_in + cfg.t_out
    seqs = []
    for _ in range(batch):
        name, s = ss.starts[int(rng.choice(len(ss.starts), p=ss.weights))]
        y0, x0 = pick_crop(ss.events[name][s:s + cfg.t_in], cfg.t_in, crop, rng)
        seqs.append(augment(ss.window(name, s, L, y0, x0, crop), rng))
    arr = np.stack(seqs)  # [B, L (+ Tout), crop, crop]
    x = network_input(arr, cfg)
    y = normalise_field(arr[:, cfg.t_in:L], 0, cfg)
    m = np.isfinite(arr[:, cfg.t_in:L])
    return torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(m)


def fixed_crops(ss: SampleSet, cfg: ImpaConfig, crop: int, per_sample: int = 2):
    """Deterministic evaluation crops: for every start, the per_sample windows
    (on a crop-sized lattice) with most >= 35 dBZ in the last input frame."""
    L = cfg.t_in + cfg.t_out
    out = []
    for name, s in ss.starts:
        seq = ss.sequence(name, s, L)
        _, h, w = seq.shape
        last = np.nan_to_num(seq[cfg.t_in - 1], nan=0.0)
        cands = []
        for y0 in range(0, h - crop + 1, crop // 2):
            for x0 in range(0, w - crop + 1, crop // 2):
                win = seq[cfg.t_in - 1, y0:y0 + crop, x0:x0 + crop]
                if np.isfinite(win).mean() < 0.5:
                    continue
                cands.append(((last[y0:y0 + crop, x0:x0 + crop] >= 35).sum(), y0, x0))
        cands.sort(key=lambda c: -c[0])
        for _, y0, x0 in cands[:per_sample]:
            out.append(seq[:, y0:y0 + crop, x0:x0 + crop].copy())
    return out


# ----------------------------------------------------------------- scoring ----

def contingency(fc: np.ndarray, obs: np.ndarray, thr: float) -> np.ndarray:
    """[hits, misses, false alarms, correct negatives]; NaN in either excluded."""
    ok = np.isfinite(fc) & np.isfinite(obs)
    f = (fc >= thr) & ok
    o = (obs >= thr) & ok
    h = int((f & o).sum())
    mi = int((~f & o).sum())
    fa = int((f & ~o).sum())
    cn = int(ok.sum()) - h - mi - fa
    return np.array([h, mi, fa, cn], dtype=np.int64)


def scores(c: np.ndarray) -> Dict[str, float]:
    h, m, f, n = (float(v) for v in c)
    nan = float("nan")
    csi = h / (h + m + f) if h + m + f > 0 else nan
    pod = h / (h + m) if h + m > 0 else nan
    far = f / (h + f) if h + f > 0 else nan
    tot = h + m + f + n
    den = (h + m) * (m + n) + (h + f) * (f + n)
    hss = 2.0 * (h * n - m * f) / den if den > 0 and tot > 0 else nan
    return {"csi": csi, "pod": pod, "far": far, "hss": hss}


def validate(model, cfg: ImpaConfig, crops: Sequence[np.ndarray], loss_cfg,
             device: str = "cpu") -> Dict[str, float]:
    """MAD-Loss (full weighting) and CSI35/45 (mean over leads) on fixed crops."""
    import torch
    from .madloss import mad_loss
    from .model import denormalise, normalise_field

    L = cfg.t_in + cfg.t_out
    model.eval()
    tabs = {t: np.zeros((cfg.t_out, 4), dtype=np.int64) for t in (35.0, 45.0)}
    losses = []
    with torch.no_grad():
        for i in range(0, len(crops), 4):
            arr = np.stack(crops[i:i + 4])
            x = torch.from_numpy(network_input(arr, cfg)).to(device)
            y = torch.from_numpy(normalise_field(arr[:, cfg.t_in:L], 0, cfg)).to(device)
            m = torch.from_numpy(np.isfinite(arr[:, cfg.t_in:L])).to(device)
            p = model(x)
            losses.append(float(mad_loss(p, y, 1.0, loss_cfg, m)))
            p = p.cpu()
            fc = denormalise(p, cfg).numpy()
            obs = arr[:, cfg.t_in:L]
            for t, tab in tabs.items():
                for k in range(cfg.t_out):
                    tab[k] += contingency(fc[:, k], obs[:, k], t)
    model.train()
    res = {"loss": float(np.mean(losses)) if losses else float("nan")}
    for t, tab in tabs.items():
        v = [scores(tab[k])["csi"] for k in range(cfg.t_out)]
        v = [a for a in v if not math.isnan(a)]
        res[f"csi{int(t)}"] = float(np.mean(v)) if v else 0.0
    res["score"] = res["csi35"] + res["csi45"]
    return res


# ------------------------------------------------------------------ events ----

def load_events(synthetic: bool, seed: int) -> Dict[str, np.ndarray]:
    if synthetic:
        return synthetic_events(seed)
    root = D.shared_data_root()
    if root is None:
        raise SystemExit("train: radar sample data not found: set IMPA_SHARED_DATA "
                         "to the folder holding pysteps-data/")
    return {e.name: D.load_event(e.name, root).dbz for e in D.EVENTS}


def synthetic_events(seed: int, n: int = 60, size: int = 64) -> Dict[str, np.ndarray]:
    """Moving Gaussian cells (for the smoke test): names match the real split so
    make_blocks applies unchanged."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    out = {}
    for spec in D.EVENTS:
        cells = rng.uniform(0, size, (4, 2))
        vel = rng.uniform(-1.5, 1.5, (4, 2))
        peak = rng.uniform(30, 55, 4)
        frames = np.zeros((n, size, size), dtype=np.float32)
        for t in range(n):
            for c in range(4):
                cy, cx = (cells[c] + t * vel[c]) % size
                frames[t] = np.maximum(frames[t], peak[c] * np.exp(
                    -((yy - cy) ** 2 + (xx - cx) ** 2) / 40.0))
        frames[:, :2, :] = np.nan  # a strip with no radar data
        out[spec.name] = frames
    return out


# ------------------------------------------------------------------- train ----

DEFAULT_LR = 2e-3


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="impa.train", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="run directory (checkpoints, log, model.nc)")
    p.add_argument("--loss", choices=("mad", "mse"), default="mad")
    p.add_argument("--budget-min", type=float, default=40.0, help="wall-clock training budget")
    p.add_argument("--steps", type=int, default=0, help="stop after N steps (0 = budget only)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--crop", type=int, default=96)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--lr", type=float, default=DEFAULT_LR)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--ckpt-min", type=float, default=3.0)
    p.add_argument("--val-min", type=float, default=5.0)
    p.add_argument("--val-crop", type=int, default=128)
    p.add_argument("--synthetic", action="store_true", help="synthetic cells instead of real data")
    p.add_argument("--no-mixer", action="store_true", help="ablation: spatial_mixer = 0")
    p.add_argument("--advection", action="store_true",
                   help="advection-guided variant (advection = 1): the network also reads "
                        "the C extrapolation's frames and learns the correction to them")
    p.add_argument("--local-norm", action="store_true",
                   help="size-independent variant: norm_local = 1 with one group (a "
                        "per-pixel channel LayerNorm), se_window = 11 (docs/model.md)")
    p.add_argument("--mad-weights", default="",
                   help="MAD-Loss intensity weights, one per bracket of 20/30/40/45/50 dBZ "
                        "(6 values, default 1,2,3,5,8,10)")
    p.add_argument("--mad-asym", type=float, default=None,
                   help="MAD-Loss asymmetry: extra cost of under-forecasting the most "
                        "intense bracket (default 1.0 = twice the over-forecast)")
    p.add_argument("--csi-weight", type=float, default=0.0,
                   help="add this times (1 - soft CSI) at --csi-thresholds to the loss, "
                        "ramped in with MAD-Loss's epoch schedule (default 0: off)")
    p.add_argument("--csi-thresholds", default="35,45", help="dBZ thresholds of the soft-CSI term")
    p.add_argument("--csi-tau", type=float, default=2.0,
                   help="width in dBZ of the soft-CSI term's sigmoid")
    p.add_argument("--extrapolate", default=None, help="path of impa-extrapolate (with --advection)")
    p.add_argument("--scheme", default="impa-extrap-1",
                   choices=("impa-extrap-1", "impa-extrap-2", "impa-extrap-3"),
                   help="extrapolation scheme the network reads and corrects (with "
                        "--advection; impa-extrapolate --scheme), recorded in the exported "
                        "model's attribute 'extrapolation' (the daemon refuses a mismatch)")
    p.add_argument("--reverse-time", action="store_true",
                   help="also train on time-reversed copies of the training events "
                        "(impa.data.reversed_events: growth becomes decay)")
    p.add_argument("--holdout-event", default=None, metavar="EVENT",
                   help="leave-one-event-out fold: EVENT is held out whole, every other "
                        "event trains whole, no validation (impa.data.make_blocks; "
                        "train/loeo.sh)")
    p.add_argument("--pack", default=None,
                   help="read events and extrapolations from a training pack (impa.pack) "
                        "instead of the sample data and the C extrapolator")
    p.add_argument("--device", default="cpu",
                   help="torch device to train on (cpu, cuda); the data side stays on the CPU")
    p.add_argument("--random-readout", action="store_true",
                   help="keep PyTorch's random init of the readout (default: zero, see below)")
    p.add_argument("--no-export", action="store_true")
    p.add_argument("--model-version", default=None,
                   help="model_version written into the weights (default 2.0 advection-guided, "
                        "2.1 advection-guided with --reverse-time, 1.0 plain)")
    p.add_argument("--export-only", action="store_true",
                   help="only export a checkpoint of runs/NAME to runs/NAME/model.nc")
    p.add_argument("--export-which", choices=("best", "last"), default="best",
                   help="checkpoint to export: best validation score or the last step")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p.parse_args(argv)


def _fmt_time(s: float) -> str:
    s = max(0, int(s))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    import torch
    from .madloss import MADLossConfig, mad_loss, mse_loss, schedule, soft_csi_loss
    from .model import ImpaNet

    torch.set_num_threads(args.threads)
    out = Path(args.out)
    if args.export_only:
        ck = load_checkpoint(out / "last.pt")
        export_best(out / f"{args.export_which}.pt", out / "model.nc", args, ck["state"])
        return 0
    out.mkdir(parents=True, exist_ok=True)
    cfg = ImpaConfig()
    if args.no_mixer:
        cfg = cfg.replace(spatial_mixer=0)
    if args.advection:
        cfg = cfg.replace(advection=1)
    if args.local_norm:
        cfg = cfg.replace(norm_local=1, norm_groups=1, se_window=11)
    cfg.validate()
    cfg.check_grid(args.crop, args.crop)
    mad_kw = {}
    if args.mad_weights:
        mad_kw["weights"] = tuple(float(v) for v in args.mad_weights.split(","))
    if args.mad_asym is not None:
        mad_kw["asym"] = float(args.mad_asym)
    if args.csi_weight < 0.0:
        raise SystemExit("train: --csi-weight must be >= 0")
    csi_thr = tuple(float(v) for v in args.csi_thresholds.split(","))
    loss_cfg = MADLossConfig(dbz_scale=float(cfg.norm_scale[0]), dbz_offset=float(cfg.norm_offset[0]),
                             **mad_kw)

    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    t_load = time.time()
    extrap = None
    if args.pack:
        from .pack import read_pack
        events, extrap, index = read_pack(Path(args.pack))
        if cfg.advection and extrap is None:
            raise SystemExit(f"train: {args.pack} holds no extrapolations (--advection)")
        pack_scheme = index.get("extrapolation", "impa-extrap-1")
        if cfg.advection and pack_scheme != args.scheme:
            raise SystemExit(f"train: {args.pack} holds {pack_scheme} extrapolations, "
                             f"--scheme is {args.scheme}")
        if not cfg.advection:
            extrap = None
    else:
        events = load_events(args.synthetic, args.seed)
        if args.reverse_time:
            events.update(D.reversed_events(events, cfg.t_in, cfg.t_out, args.holdout_event))
    if args.reverse_time and not any(k.endswith(D.REVERSED) for k in events):
        raise SystemExit("train: --reverse-time: no reversed events (a pack needs "
                         "impa.pack --reverse-time)")
    if args.holdout_event and (args.pack or args.holdout_event not in events):
        raise SystemExit("train: --holdout-event reads the sample data, not a pack" if args.pack
                         else f"train: --holdout-event {args.holdout_event}: not one of "
                         f"{', '.join(sorted(events))}")
    if args.holdout_event:
        # not even its extrapolations are computed: nothing of it reaches training
        events = {k: v for k, v in events.items()
                  if k.split(D.REVERSED)[0] != args.holdout_event}
    if cfg.advection and extrap is None:
        from .advect import all_extrapolations
        extrap = all_extrapolations(events, cfg.t_in, cfg.t_out, args.extrapolate,
                                    threads=args.threads,
                                    cache_dir=None if args.synthetic else D.CACHE_DIR,
                                    quiet=args.quiet, scheme=args.scheme)
    splits = build_splits(events, cfg.t_in, cfg.t_out, extrap, args.holdout_event)
    if not splits["train"].starts:
        raise SystemExit("train: no training samples")
    vcrop = min(args.val_crop, min(v.shape[1] for v in events.values()) // 4 * 4)
    val_crops = fixed_crops(splits["val"], cfg, vcrop)
    model = ImpaNet(cfg)
    if cfg.residual and not args.random_readout:
        # Zero readout: with residual = 1 the untrained network is exactly
        # persistence (advection = 1: exactly the extrapolation), and training
        # only has to learn the correction. Measured
        # on the first real run (random init, MAD-Loss, 1 thread): validation
        # CSI35 0.000 at step 40 and 0.010 at step 138, the random correction
        # first being trained down into a damping of every intense echo.
        torch.nn.init.zeros_(model.readout.weight)
        torch.nn.init.zeros_(model.readout.bias)
    model.to(args.device)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    budget_s = args.budget_min * 60.0
    state = {"step": 0, "elapsed": 0.0, "best": None, "history": []}

    last_pt, best_pt = out / "last.pt", out / "best.pt"
    if args.resume and last_pt.exists():
        ck = load_checkpoint(last_pt)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        state = ck["state"]
        rng.bit_generator.state = ck["np_rng"]
        torch.set_rng_state(ck["torch_rng"])
    meta = {"args": vars(args), "config": cfg.to_dict(), "loss_cfg": vars(loss_cfg),
            "n_train_starts": len(splits["train"].starts), "n_val_crops": len(val_crops),
            "n_test_starts": len(splits["test"].starts), "load_s": time.time() - t_load}
    (out / "meta.json").write_text(json.dumps(meta, indent=1, default=str))

    def save(path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        torch.save({"model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
                    "opt": opt.state_dict(), "state": state,
                    "np_rng": rng.bit_generator.state, "torch_rng": torch.get_rng_state(),
                    "config": cfg.to_dict(), "loss": args.loss, "args": vars(args)}, tmp)
        os.replace(tmp, path)

    def progress() -> float:
        p = state["elapsed"] / budget_s if budget_s > 0 else 0.0
        if args.steps:
            p = max(p, state["step"] / args.steps)
        return min(1.0, p)

    def run_val() -> Dict[str, float]:
        r = validate(model, cfg, val_crops, loss_cfg, args.device) if val_crops else {"loss": float("nan"), "score": 0.0}
        r.update(step=state["step"], elapsed=state["elapsed"])
        state["history"].append(r)
        b = state["best"]
        if b is None or r["score"] > b["score"] or (r["score"] == b["score"] and r["loss"] < b["loss"]):
            state["best"] = r
            save(best_pt)
        with open(out / "val.jsonl", "a") as f:
            f.write(json.dumps(r) + "\n")
        return r

    if state["step"] == 0 and not state["history"]:
        r = run_val()  # the untrained network: persistence with the zero readout
        sys.stderr.write(f"val step 0: loss {r['loss']:.4f} csi35 {r.get('csi35', 0):.3f} "
                         f"csi45 {r.get('csi45', 0):.3f}\n")
    model.train()
    t0 = time.time() - state["elapsed"]
    last_ck = last_val = time.time()
    ema = None
    seen0, tseen = state["step"], time.time()
    while True:
        state["elapsed"] = time.time() - t0
        if (args.steps and state["step"] >= args.steps) or state["elapsed"] >= budget_s:
            break
        p = progress()
        for g in opt.param_groups:
            g["lr"] = args.lr * (0.05 + 0.95 * 0.5 * (1.0 + math.cos(math.pi * p)))
        x, y, m = (t.to(args.device) for t in make_batch(splits["train"], cfg, args.batch,
                                                         args.crop, rng))
        pred = model(x)
        loss = mad_loss(pred, y, p, loss_cfg, m) if args.loss == "mad" else mse_loss(pred, y, m)
        if args.csi_weight > 0.0:
            loss = loss + args.csi_weight * schedule(p, loss_cfg) * soft_csi_loss(
                pred, y, loss_cfg, csi_thr, args.csi_tau, m)
        if not torch.isfinite(loss):
            raise SystemExit(f"train: loss not finite at step {state['step']}")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        state["step"] += 1
        lv = float(loss)
        state["last_loss"] = lv
        ema = lv if ema is None else 0.95 * ema + 0.05 * lv
        now = time.time()
        if not args.quiet:
            sps = (state["step"] - seen0) * args.batch / max(now - tseen, 1e-6)
            eta = budget_s - (now - t0)
            if args.steps:
                eta = min(eta, (args.steps - state["step"]) * args.batch / max(sps, 1e-6))
            sys.stderr.write(f"\rstep {state['step']:6d} loss {lv:.4f} (ema {ema:.4f}) "
                             f"{sps:5.1f} samples/s lr {opt.param_groups[0]['lr']:.2e} "
                             f"p {p:.2f} ETA {_fmt_time(eta)} ")
            sys.stderr.flush()
        if now - last_val >= args.val_min * 60.0:
            state["elapsed"] = time.time() - t0
            r = run_val()
            sys.stderr.write(f"\nval step {r['step']}: loss {r['loss']:.4f} csi35 {r.get('csi35', 0):.3f} "
                             f"csi45 {r.get('csi45', 0):.3f}\n")
            last_val = time.time()
        if now - last_ck >= args.ckpt_min * 60.0:
            state["elapsed"] = time.time() - t0
            save(last_pt)
            last_ck = time.time()
    state["elapsed"] = time.time() - t0
    r = run_val()
    save(last_pt)
    sys.stderr.write(f"\ndone: {state['step']} steps in {_fmt_time(state['elapsed'])}; "
                     f"final val {json.dumps(r)}; best {json.dumps(state['best'])}\n")
    if not args.no_export:
        export_best(out / f"{args.export_which}.pt", out / "model.nc", args, state)
    return 0


def load_checkpoint(path: Path) -> dict:
    """A checkpoint of this module, on the CPU whatever device wrote it (newer
    PyTorch loads weights only by default; these hold the run's state too)."""
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except TypeError:  # PyTorch < 1.13.1 has no weights_only
        return torch.load(path, map_location="cpu")


def export_best(best_pt: Path, path: Path, args: argparse.Namespace, state: dict) -> None:
    """best.pt -> NetCDF weights (impa.weights.export) with provenance text."""
    import torch
    from .model import ImpaNet
    from . import weights as W

    ck = load_checkpoint(best_pt)
    cfg = ImpaConfig.from_dict(ck["config"])
    model = ImpaNet(cfg)
    model.load_state_dict(ck["model"])
    b = ck["state"]["best"] or {}
    if best_pt.name == "last.pt":
        b = dict(ck["state"]["history"][-1]) if ck["state"]["history"] else {}
    a = ck.get("args", {})
    loss = ck.get("loss", args.loss)
    adv = " --advection" if cfg.advection else ""
    if cfg.norm_local:
        adv += " --local-norm"
    if loss == "mad" and a.get("mad_weights"):
        adv += f" --mad-weights {a['mad_weights']}"
    if loss == "mad" and a.get("mad_asym") is not None:
        adv += f" --mad-asym {a['mad_asym']}"
    if a.get("csi_weight"):
        adv += (f" --csi-weight {a['csi_weight']} --csi-thresholds {a.get('csi_thresholds')}"
                f" --csi-tau {a.get('csi_tau')}")
    if a.get("lr") not in (None, DEFAULT_LR):
        adv += f" --lr {a['lr']}"
    if a.get("steps"):
        adv += f" --steps {a['steps']}"
    if a.get("reverse_time"):
        adv += " --reverse-time"
    scheme = a.get("scheme", "impa-extrap-1")
    if cfg.advection and scheme != "impa-extrap-1":
        adv += f" --scheme {scheme}"
    if a.get("device", "cpu") != "cpu":
        adv += f" --device {a['device']}"
    training = (f"impa.train --loss {loss}{adv} --seed {a.get('seed', args.seed)} --crop {a.get('crop', args.crop)} "
                f"--batch {a.get('batch', args.batch)} --budget-min {a.get('budget_min', args.budget_min)}; "
                f"{'last' if best_pt.name == 'last.pt' else 'best'} checkpoint: step {b.get('step')} of {state['step']} "
                f"({_fmt_time(b.get('elapsed', 0))} of {_fmt_time(state['elapsed'])}); "
                f"val csi35 {b.get('csi35', float('nan')):.3f} csi45 {b.get('csi45', float('nan')):.3f}; "
                f"data: pysteps-data radar (BoM, FMI, MeteoSwiss, KNMI), split in docs/training.md")
    name = ("impa-net-adv" if cfg.advection else "impa-net") + ("" if loss == "mad" else "-mse")
    what = "IMPA-Net, advection-guided (corrects the optical-flow extrapolation)" \
        if cfg.advection else "IMPA-Net"
    csi = " and a soft-CSI term at 35/45 dBZ" if a.get("csi_weight") else ""
    if a.get("reverse_time"):
        csi += " on the events forward and time-reversed"
    # 2.1: the advection-guided model trained with time-reversed events as well
    version = args.model_version or (("2.1" if a.get("reverse_time") else "2.0")
                                     if cfg.advection else "1.0")
    W.export(model, cfg, str(path), model_version=version,
             model_name=name,
             description=(f"{what} trained with MAD-Loss{csi}" if loss == "mad"
                          else f"{what}, ablation trained with plain MSE{csi}"),
             training=training,
             **({"extrapolation": scheme} if cfg.advection else {}))


if __name__ == "__main__":
    sys.exit(main())
