"""PyTorch reference of IMPA-Net, exactly as docs/model.md specifies it.

This module is the reference the C engine (src/engine/) is tested against
(tests/data/golden_*.nc): any change here is a change of the contract and must go
into docs/model.md first. Parameter names (state_dict keys) are the variable names
of the weights file.

Shapes: B batch, Tin/Tout frames, C fields, S hid_s, T hid_t, H x W grid,
h x w = H/4 x W/4 latent grid.
"""
from __future__ import annotations

import math
from typing import Dict, List, Mapping, Optional, Union

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .config import ImpaConfig

ArrayLike = Union[np.ndarray, torch.Tensor]


# --------------------------------------------------------------------------
# Spatial Mixer (parameter-free, docs/model.md "Forward pass" 1)
# --------------------------------------------------------------------------
def _mixer_perm(c: int) -> List[int]:
    # out[k*C + c] = in[c*4 + k]: index list for torch.index_select on the
    # pixel-unshuffled channels.
    return [ci * 4 + k for k in range(4) for ci in range(c)]


def _inverse_perm(p: List[int]) -> List[int]:
    inv = [0] * len(p)
    for i, j in enumerate(p):
        inv[j] = i
    return inv


def spatial_mixer(x: torch.Tensor) -> torch.Tensor:
    """x: [..., C, H, W] (H, W even) -> same shape, fields interleaved so that
    every 2x2 block of every channel holds all fields (for C = 4)."""
    c, h, w = x.shape[-3:]
    lead = x.shape[:-3]
    y = F.pixel_unshuffle(x.reshape(-1, c, h, w), 2)          # [N, 4C, H/2, W/2]
    y = y[:, _mixer_perm(c)]
    return F.pixel_shuffle(y, 2).reshape(*lead, c, h, w)


def spatial_unmixer(x: torch.Tensor) -> torch.Tensor:
    """Exact inverse of spatial_mixer."""
    c, h, w = x.shape[-3:]
    lead = x.shape[:-3]
    y = F.pixel_unshuffle(x.reshape(-1, c, h, w), 2)
    y = y[:, _inverse_perm(_mixer_perm(c))]
    return F.pixel_shuffle(y, 2).reshape(*lead, c, h, w)


# --------------------------------------------------------------------------
# Normalisation (docs/model.md "Normalisation")
# --------------------------------------------------------------------------
def derive_precip_rate(dbz: ArrayLike, cfg: ImpaConfig) -> ArrayLike:
    """R = (10^(dBZ/10) / zr_a)^(1/zr_b) mm/h; 0 where dBZ is NaN or below 0."""
    if isinstance(dbz, torch.Tensor):
        d = dbz.double()
        r = torch.pow(torch.pow(10.0, d / 10.0) / cfg.zr_a, 1.0 / cfg.zr_b)
        r = torch.where(torch.isnan(d) | (d < 0), torch.zeros_like(r), r)
        return r.to(dbz.dtype if dbz.is_floating_point() else torch.float32)
    d = np.asarray(dbz, dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        r = np.power(np.power(10.0, d / 10.0) / cfg.zr_a, 1.0 / cfg.zr_b)
        r = np.where(np.isnan(d) | (d < 0), 0.0, r)
    return r.astype(np.float32)


def normalise_field(x: ArrayLike, i: int, cfg: ImpaConfig) -> ArrayLike:
    """Raw values of field i (NaN = missing) -> normalised float32."""
    off, sc = float(cfg.norm_offset[i]), float(cfg.norm_scale[i])
    lo, hi = float(cfg.norm_min[i]), float(cfg.norm_max[i])
    if isinstance(x, torch.Tensor):
        d = x.double()
        if cfg.norm_transform[i] == "log10p1":
            u = torch.log10(1.0 + torch.clamp(d - off, min=0.0)) / sc
        else:
            u = (d - off) / sc
        u = torch.clamp(u, lo, hi)
        u = torch.where(torch.isnan(d), torch.zeros_like(u), u)
        return u.float()
    d = np.asarray(x, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        if cfg.norm_transform[i] == "log10p1":
            u = np.log10(1.0 + np.maximum(d - off, 0.0)) / sc
        else:
            u = (d - off) / sc
        u = np.clip(u, lo, hi)
    u = np.where(np.isnan(d), 0.0, u)
    return u.astype(np.float32)


def normalise(dbz: ArrayLike, cfg: ImpaConfig,
              statics: Optional[Mapping[str, ArrayLike]] = None) -> ArrayLike:
    """Builds the network input from reflectivity.

    dbz: [..., H, W] dBZ, NaN = no data (typically [Tin, H, W] or [B, Tin, H, W]).
    statics: optional {field name: raw array [H, W] or [..., H, W]} for fields
      other than reflectivity and precip_rate (terrain in m, wind850 in m/s);
      a field not given is zero (normalised), as in the C engine.
    Returns [..., C, H, W] float32 of the same kind (numpy or torch) as dbz.
    precip_rate is always derived from dBZ with zr_a, zr_b (as in C).
    """
    statics = dict(statics or {})
    for name in statics:
        if name not in cfg.fields:
            raise ValueError(f"statics: {name!r} is not an input field ({', '.join(cfg.fields)})")
        if name in ("reflectivity", "precip_rate"):
            raise ValueError(f"statics: {name!r} is derived from dBZ, not given")
    is_torch = isinstance(dbz, torch.Tensor)
    chans = []
    for i, name in enumerate(cfg.fields):
        if name == "reflectivity":
            u = normalise_field(dbz, i, cfg)
        elif name == "precip_rate":
            u = normalise_field(derive_precip_rate(dbz, cfg), i, cfg)
        elif name in statics:
            s = statics[name]
            s = torch.as_tensor(s) if is_torch else np.asarray(s)
            u = normalise_field(s, i, cfg)
            u = (u.expand(dbz.shape) if is_torch else np.broadcast_to(u, dbz.shape))
        else:
            u = torch.zeros(dbz.shape, dtype=torch.float32) if is_torch \
                else np.zeros(dbz.shape, dtype=np.float32)
        chans.append(u)
    if is_torch:
        return torch.stack(chans, dim=-3).to(dbz.device)
    return np.stack(chans, axis=-3)


def denormalise(y: ArrayLike, cfg: ImpaConfig) -> ArrayLike:
    """Network output (normalised reflectivity) -> dBZ = clamp(y,0,1)*scale_0 + offset_0."""
    sc, off = float(cfg.norm_scale[0]), float(cfg.norm_offset[0])
    if isinstance(y, torch.Tensor):
        return torch.clamp(y, 0.0, 1.0) * sc + off
    return (np.clip(np.asarray(y, dtype=np.float32), 0.0, 1.0) * sc + off).astype(np.float32)


# --------------------------------------------------------------------------
# Network (docs/model.md "Forward pass" 2-5)
# --------------------------------------------------------------------------
class LocalGroupNorm(nn.Module):
    """GroupNorm whose statistics are taken at each pixel over the group's
    channels only (norm_local = 1); with one group, a channel LayerNorm. Same
    parameter names as nn.GroupNorm, so the weights file does not change."""

    def __init__(self, groups: int, n: int, eps: float) -> None:
        super().__init__()
        self.groups, self.eps = groups, eps
        self.weight = nn.Parameter(torch.ones(n))
        self.bias = nn.Parameter(torch.zeros(n))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        g = x.reshape(b, self.groups, c // self.groups, h, w)
        mean = g.mean(dim=2, keepdim=True)
        var = (g - mean).pow(2).mean(dim=2, keepdim=True)
        y = ((g - mean) / torch.sqrt(var + self.eps)).reshape(b, c, h, w)
        return y * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)


def make_norm(groups: int, n: int, eps: float, local: bool) -> nn.Module:
    return LocalGroupNorm(groups, n, eps) if local else nn.GroupNorm(groups, n, eps=eps)


class ConvNormAct(nn.Module):
    """enc.i / dec.i: conv3x3 (+ pixel_shuffle(2) when `up`), GroupNorm, SiLU."""

    def __init__(self, cin: int, cout: int, groups: int, eps: float,
                 stride: int = 1, up: bool = False, local: bool = False) -> None:
        super().__init__()
        self.up = up
        self.conv = nn.Conv2d(cin, cout * 4 if up else cout, 3, stride=stride, padding=1)
        self.norm = make_norm(groups, cout, eps, local)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        if self.up:
            x = F.pixel_shuffle(x, 2)
        return F.silu(self.norm(x))


class Attention(nn.Module):
    """Gated multi-scale attention: parallel dilated depthwise branches."""

    def __init__(self, cfg: ImpaConfig) -> None:
        super().__init__()
        t = cfg.hid_t
        self.v = nn.Conv2d(t, t, 1)
        self.branches = nn.ModuleList([
            nn.Conv2d(t, t, k, padding=d * (k - 1) // 2, dilation=d, groups=t)
            for k, d in zip(cfg.branch_kernels, cfg.branch_dilations)])
        self.fuse = nn.Conv2d(t, t, 1)
        self.proj = nn.Conv2d(t, t, 1)

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        v = F.silu(self.v(a))
        s = self.branches[0](v)
        for b in self.branches[1:]:
            s = s + b(v)
        m = self.fuse(s)
        return self.proj(v * torch.sigmoid(m))


class SqueezeExcite(nn.Module):
    def __init__(self, cfg: ImpaConfig) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(cfg.hid_t, cfg.se_hidden, 1)
        self.fc2 = nn.Conv2d(cfg.se_hidden, cfg.hid_t, 1)
        self.window = cfg.se_window

    def forward(self, c: torch.Tensor) -> torch.Tensor:
        if self.window:
            # mean over the window's pixels inside the grid (edges average fewer)
            k = self.window
            m = F.avg_pool2d(c, k, stride=1, padding=k // 2, count_include_pad=False)
        else:
            m = c.mean(dim=(2, 3), keepdim=True)
        g = torch.sigmoid(self.fc2(F.silu(self.fc1(m))))
        return c * g


class ConvMlp(nn.Module):
    def __init__(self, cfg: ImpaConfig) -> None:
        super().__init__()
        t, m = cfg.hid_t, cfg.mlp_hidden
        self.fc1 = nn.Conv2d(t, m, 1)
        self.dw = nn.Conv2d(m, m, 3, padding=1, groups=m)
        self.fc2 = nn.Conv2d(m, t, 1)

    def forward(self, q: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.dw(self.fc1(q))))


class ImpaBlock(nn.Module):
    """trans.blocks.{i}: u: [B, T, h, w] -> same."""

    def __init__(self, cfg: ImpaConfig) -> None:
        super().__init__()
        g, t, eps, loc = cfg.norm_groups, cfg.hid_t, cfg.gn_eps, bool(cfg.norm_local)
        self.norm1 = make_norm(g, t, eps, loc)
        self.attn = Attention(cfg)
        self.norm2 = make_norm(g, t, eps, loc)
        self.se = SqueezeExcite(cfg)
        self.norm3 = make_norm(g, t, eps, loc)
        self.mlp = ConvMlp(cfg)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        u = u + self.attn(self.norm1(u))
        u = u + self.se(self.norm2(u))
        return u + self.mlp(self.norm3(u))


class Translator(nn.Module):
    def __init__(self, cfg: ImpaConfig) -> None:
        super().__init__()
        self.inp = nn.Conv2d(cfg.n_frames_in * cfg.hid_s, cfg.hid_t, 1)
        self.blocks = nn.ModuleList([ImpaBlock(cfg) for _ in range(cfg.n_blocks)])
        self.out = nn.Conv2d(cfg.hid_t, cfg.t_out * cfg.hid_s, 1)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        u = self.inp(u)
        for b in self.blocks:
            u = b(u)
        return self.out(u)


class ImpaNet(nn.Module):
    """forward(x: [B, F, C, H, W] normalised) -> [B, Tout, H, W] normalised, not clamped.

    F = cfg.n_frames_in: the Tin observed frames, oldest first, then (advection = 1)
    the Tout extrapolated frames, lead 1 first."""

    def __init__(self, cfg: ImpaConfig) -> None:
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        s, g, eps = cfg.hid_s, cfg.norm_groups, cfg.gn_eps
        self.use_mixer = bool(cfg.spatial_mixer)
        self.use_residual = bool(cfg.residual)
        self.t_in, self.t_out, self.hid_s = cfg.t_in, cfg.t_out, cfg.hid_s
        self.advection = bool(cfg.advection)
        loc = bool(cfg.norm_local)
        self.enc = nn.ModuleList([
            ConvNormAct(cfg.n_fields, s, g, eps, local=loc),
            ConvNormAct(s, s, g, eps, stride=2, local=loc),
            ConvNormAct(s, s, g, eps, stride=2, local=loc)])
        self.trans = Translator(cfg)
        self.dec = nn.ModuleList([
            ConvNormAct(s, s, g, eps, up=True, local=loc),
            ConvNormAct(s, s, g, eps, up=True, local=loc),
            ConvNormAct(s, s, g, eps, local=loc)])
        self.readout = nn.Conv2d(s, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, nf, c, h, w = x.shape
        s, tin, tout = self.hid_s, self.t_in, self.t_out
        if nf != self.cfg.n_frames_in:
            raise ValueError(f"input has {nf} frames, the model reads {self.cfg.n_frames_in}")
        xm = spatial_mixer(x) if self.use_mixer else x
        e0 = self.enc[0](xm.reshape(b * nf, c, h, w))             # [B*F, S, H, W]
        z = self.enc[2](self.enc[1](e0))                          # [B*F, S, h, w]
        lh, lw = z.shape[-2:]
        u = self.trans(z.reshape(b, nf * s, lh, lw))              # [B, Tout*S, h, w]
        d = self.dec[1](self.dec[0](u.reshape(b * tout, s, lh, lw)))   # [B*Tout, S, H, W]
        e0 = e0.reshape(b, nf, s, h, w)
        if self.advection:
            # lead t takes the skip (and below the residual) of its own
            # extrapolated frame: the decoder corrects an advected field
            skip = e0[:, tin:]                                    # [B, Tout, S, H, W]
            base = x[:, tin:, 0]                                  # [B, Tout, H, W]
        else:
            skip = e0[:, tin - 1][:, None]                        # [B, 1, S, H, W]
            base = x[:, tin - 1, 0][:, None]                      # [B, 1, H, W]
        d = (d.reshape(b, tout, s, h, w) + skip).reshape(b * tout, s, h, w)
        y = self.readout(self.dec[2](d)).reshape(b, tout, h, w)
        if self.use_residual:
            y = y + base
        return y


# --------------------------------------------------------------------------
# Parameter names and shapes, derived from the config alone
# --------------------------------------------------------------------------
def expected_shapes(cfg: ImpaConfig) -> Dict[str, tuple]:
    """state_dict key -> shape, in state_dict order, computed from the
    hyper-parameters only (what the C loader derives from the attributes)."""
    c, s, t = cfg.n_fields, cfg.hid_s, cfg.hid_t
    out: Dict[str, tuple] = {}

    def conv(name: str, cout: int, cin_g: int, k: int) -> None:
        out[f"{name}.weight"] = (cout, cin_g, k, k)
        out[f"{name}.bias"] = (cout,)

    def norm(name: str, n: int) -> None:
        out[f"{name}.weight"] = (n,)
        out[f"{name}.bias"] = (n,)

    for i, cin in enumerate((c, s, s)):
        conv(f"enc.{i}.conv", s, cin, 3)
        norm(f"enc.{i}.norm", s)
    conv("trans.inp", t, cfg.n_frames_in * s, 1)
    for i in range(cfg.n_blocks):
        p = f"trans.blocks.{i}"
        norm(f"{p}.norm1", t)
        conv(f"{p}.attn.v", t, t, 1)
        for j, k in enumerate(cfg.branch_kernels):
            conv(f"{p}.attn.branches.{j}", t, 1, k)
        conv(f"{p}.attn.fuse", t, t, 1)
        conv(f"{p}.attn.proj", t, t, 1)
        norm(f"{p}.norm2", t)
        conv(f"{p}.se.fc1", cfg.se_hidden, t, 1)
        conv(f"{p}.se.fc2", t, cfg.se_hidden, 1)
        norm(f"{p}.norm3", t)
        conv(f"{p}.mlp.fc1", cfg.mlp_hidden, t, 1)
        conv(f"{p}.mlp.dw", cfg.mlp_hidden, 1, 3)
        conv(f"{p}.mlp.fc2", t, cfg.mlp_hidden, 1)
    conv("trans.out", cfg.t_out * s, t, 1)
    for i in range(3):
        conv(f"dec.{i}.conv", 4 * s if i < 2 else s, s, 3)
        norm(f"dec.{i}.norm", s)
    conv("readout", 1, s, 1)
    return out


def init_nontrivial(model: ImpaNet, seed: int) -> ImpaNet:
    """Random weights where every operation matters (for goldens and the
    untrained placeholder model). Uses numpy's legacy RandomState, whose stream
    is stable across numpy and torch versions, so files regenerate bit-exactly.
    Convs: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias (non-zero
    biases); GroupNorm: weight 1 + 0.2 N(0,1), bias 0.1 N(0,1)."""
    rng = np.random.RandomState(seed)
    with torch.no_grad():
        for name, p in model.state_dict(keep_vars=True).items():
            if ".norm" in name:
                if name.endswith(".weight"):
                    v = 1.0 + 0.2 * rng.standard_normal(p.shape)
                else:
                    v = 0.1 * rng.standard_normal(p.shape)
            else:
                wshape = model.state_dict()[name.rsplit(".", 1)[0] + ".weight"].shape
                fan_in = int(np.prod(wshape[1:]))
                bound = 1.0 / math.sqrt(fan_in)
                v = rng.uniform(-bound, bound, size=p.shape)
            p.copy_(torch.from_numpy(np.asarray(v, dtype=np.float32)))
    return model


# --------------------------------------------------------------------------
# FLOP count (docs/reference-model.md "FLOP count"; identical to the C engine's
# count_flops in src/engine/forward.c, so GFLOP/s of both are comparable)
# --------------------------------------------------------------------------
def count_flops(cfg: ImpaConfig, h: int, w: int) -> Dict[str, float]:
    """FLOPs of one forward pass (batch 1) on an h x w grid.

    Convolutions: 2 per multiply-add, bias adds not counted. Every GroupNorm,
    activation (SiLU, sigmoid, GELU), add, multiply and spatial mean: 1 FLOP per
    element it produces (or reads, for the mean). Not counted: the Spatial Mixer,
    pixel (un)shuffles and reshapes (data movement), the sums of the attention
    branches and the activations on the SE vectors (< 0.1%).
    Returns {'conv', 'eltwise', 'total'}."""
    cfg.check_grid(h, w)
    c, s, t = float(cfg.n_fields), float(cfg.hid_s), float(cfg.hid_t)
    tm, tr = float(cfg.mlp_hidden), float(cfg.se_hidden)
    tin, tout = float(cfg.n_frames_in), float(cfg.t_out)
    hw_full = float(h) * w
    hw2, hw = hw_full / 4, hw_full / 16
    conv = elt = 0.0
    # encoder, per input frame: conv, then GroupNorm + SiLU (2 per element)
    for cin, npix in ((c, hw_full), (s, hw2), (s, hw)):
        conv += tin * 2 * s * cin * 9 * npix
        elt += tin * 2 * s * npix
    # translator
    conv += 2 * t * tin * s * hw
    for _ in range(cfg.n_blocks):
        conv += 2 * t * t * hw * 3                                  # attn.v, fuse, proj
        conv += sum(2.0 * k * k * t * hw for k in cfg.branch_kernels)
        # se.fc1, se.fc2: on one vector, or on every pixel with a local window
        conv += (2 * t * tr + 2 * tr * t) * (hw if cfg.se_window else 1.0)
        conv += 2 * tm * t * hw + 2 * 9 * tm * hw + 2 * t * tm * hw  # mlp.fc1, dw, fc2
        elt += t * hw + t * hw                  # norm1, SiLU(v)
        elt += 2 * t * hw + t * hw              # sigmoid(m), v * gate, residual
        elt += t * hw + t * hw + 2 * t * hw     # norm2, mean_hw, c * g, residual
        elt += t * hw + tm * hw + t * hw        # norm3, GELU, residual
    conv += 2 * tout * s * t * hw
    # decoder, per lead time
    conv += tout * (2 * 4 * s * s * 9 * hw + 2 * 4 * s * s * 9 * hw2 + 2 * s * s * 9 * hw_full
                    + 2 * s * hw_full)                             # dec.0, dec.1, dec.2, readout
    elt += tout * (2 * s * hw2 + 2 * s * hw_full + s * hw_full     # norm+SiLU x2, skip
                   + 2 * s * hw_full + (hw_full if cfg.residual else 0.0))
    return {"conv": conv, "eltwise": elt, "total": conv + elt}
