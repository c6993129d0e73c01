"""MAD-Loss: Meteorologically-Aware Dynamic Loss (project interpretation).

The paper (../shared/reference/impa-net.md) states three levels of asymmetric
weighting that adapt across epochs, storm intensity and lead time, with MAE and
MSE terms. The exact functions are not public; this file's choice:

    e = pred - obs                        (normalised units, obs from the target)
    w_int(obs)  = bracket weight of the observed dBZ:
                  <20: 1, 20-30: 2, 30-40: 3, 40-45: 5, 45-50: 8, >=50: 10
    w_asym      = 1 + asym * (w_int - 1) / (w_max - 1)   where e < 0 (under-forecast)
                  1                                      where e >= 0
                  (an under-forecast of >=50 dBZ costs 1 + asym times the same
                  over-forecast; a dry pixel is symmetric)
    w_lead(t)   = 1 + lead_gain * t / (T - 1), then scaled to mean 1 over leads
    w_full      = w_int * w_asym * w_lead
    w(p)        = 1 + s(p) * (w_full - 1), s(p) = clamp((p - p0) / (p1 - p0), 0, 1)
                  p = training progress in [0, 1] (epoch / n_epochs; here the
                  fraction of the step or time budget), p0 = 0.1, p1 = 0.6
    loss        = sum_valid w * (|e| + mse_weight * e^2) / n_valid

So at p <= p0 the loss is the plain MAE + MSE, from p1 on the full weighting.
Why the ramp: a network that first learns the mean motion and then is pushed
towards the intense tail trains more stably than one weighted from step 0.
Why divide by n_valid and not by sum(w): the weights then raise the gradient
of intense pixels rather than only redistributing it.
Missing observations (mask False) contribute nothing.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence, Tuple

import torch

DEFAULT_BRACKETS: Tuple[float, ...] = (20.0, 30.0, 40.0, 45.0, 50.0)
DEFAULT_WEIGHTS: Tuple[float, ...] = (1.0, 2.0, 3.0, 5.0, 8.0, 10.0)


@dataclass
class MADLossConfig:
    """Every constant of MAD-Loss; dbz_scale/offset must be the model's
    reflectivity normalisation (norm_scale[0], norm_offset[0])."""
    dbz_scale: float = 70.0
    dbz_offset: float = 0.0
    brackets: Sequence[float] = field(default_factory=lambda: DEFAULT_BRACKETS)
    weights: Sequence[float] = field(default_factory=lambda: DEFAULT_WEIGHTS)
    asym: float = 1.0
    lead_gain: float = 1.0
    mse_weight: float = 1.0
    p0: float = 0.1
    p1: float = 0.6

    def __post_init__(self) -> None:
        if len(self.weights) != len(self.brackets) + 1:
            raise ValueError("weights must have one more entry than brackets")
        if list(self.brackets) != sorted(self.brackets):
            raise ValueError("brackets must be increasing")
        if not (0.0 <= self.p0 < self.p1 <= 1.0):
            raise ValueError("need 0 <= p0 < p1 <= 1")


def schedule(progress: float, cfg: MADLossConfig) -> float:
    """Epoch level: 0 (plain loss) up to p0, linear to 1 (full weighting) at p1."""
    s = (float(progress) - cfg.p0) / (cfg.p1 - cfg.p0)
    return min(1.0, max(0.0, s))


def intensity_weight(obs_dbz: torch.Tensor, cfg: MADLossConfig) -> torch.Tensor:
    """Bracket weight of each observed dBZ value (same shape as obs_dbz)."""
    b = torch.tensor(list(cfg.brackets), dtype=obs_dbz.dtype, device=obs_dbz.device)
    w = torch.tensor(list(cfg.weights), dtype=obs_dbz.dtype, device=obs_dbz.device)
    # bucketize(right=True): value == bracket counts as inside the upper bracket
    # (">= 45 dBZ" is the warning event).
    idx = torch.bucketize(obs_dbz.contiguous(), b, right=True)
    return w[idx]


def lead_weight(t_out: int, cfg: MADLossConfig, dtype=torch.float32,
                device=None) -> torch.Tensor:
    """[t_out] weights growing linearly with lead, mean 1."""
    if t_out == 1:
        return torch.ones(1, dtype=dtype, device=device)
    t = torch.arange(t_out, dtype=dtype, device=device)
    w = 1.0 + cfg.lead_gain * t / (t_out - 1)
    return w / w.mean()


def full_weight(pred: torch.Tensor, target: torch.Tensor, cfg: MADLossConfig) -> torch.Tensor:
    """w_full for pred/target [B, T, H, W] (normalised). No gradient flows
    through the weights: they select, they are not optimised."""
    with torch.no_grad():
        obs_dbz = target * cfg.dbz_scale + cfg.dbz_offset
        w_int = intensity_weight(obs_dbz, cfg)
        w_max = max(cfg.weights)
        under = (pred < target).to(pred.dtype)
        w_asym = 1.0 + under * cfg.asym * (w_int - 1.0) / max(w_max - 1.0, 1e-6)
        w_lead = lead_weight(pred.shape[1], cfg, pred.dtype, pred.device).view(1, -1, 1, 1)
        return w_int * w_asym * w_lead


def mad_loss(pred: torch.Tensor, target: torch.Tensor, progress: float,
             cfg: Optional[MADLossConfig] = None,
             mask: Optional[torch.Tensor] = None) -> torch.Tensor:
    """MAD-Loss (scalar). pred, target: [B, T_out, H, W] normalised; mask: same
    shape, True where the observation exists; progress in [0, 1]."""
    cfg = cfg or MADLossConfig()
    if pred.shape != target.shape or pred.dim() != 4:
        raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} must be [B,T,H,W]")
    e = pred - target
    per = e.abs() + cfg.mse_weight * e * e
    s = schedule(progress, cfg)
    if s > 0.0:
        w = 1.0 + s * (full_weight(pred, target, cfg) - 1.0)
        per = per * w
    return _masked_mean(per, mask)


def mse_loss(pred: torch.Tensor, target: torch.Tensor,
             mask: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Plain masked MSE: the ablation's objective."""
    e = pred - target
    return _masked_mean(e * e, mask)


def soft_csi_loss(pred: torch.Tensor, target: torch.Tensor, cfg: MADLossConfig,
                  thresholds: Sequence[float] = (35.0, 45.0), tau: float = 2.0,
                  mask: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Mean over thresholds and leads of 1 - soft CSI (scalar).

    The forecast event is smoothed, sigmoid((pred_dBZ - thr) / tau), so the
    score has a gradient; the observed event is the hard one. Counts are summed
    over the batch and the pixels of each lead, as the verification sums its
    contingency counts over start times. One pixel's worth (1.0) is added to
    the hits and to the union so that a lead with neither forecast nor
    observed events costs 0 rather than 0/0.

    Why this term: pixel losses score each pixel alone and cannot see the
    frequency bias; MAD-Loss's asymmetry even rewards a larger intense area
    (the shipped model's >= 45 dBZ area is about 3 times the observed one).
    The CSI of the area itself penalises false alarms and misses together."""
    if pred.shape != target.shape or pred.dim() != 4:
        raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} must be [B,T,H,W]")
    if tau <= 0.0:
        raise ValueError("tau must be > 0")
    m = torch.ones_like(pred) if mask is None else mask.to(pred.dtype)
    pred_dbz = pred * cfg.dbz_scale + cfg.dbz_offset
    obs_dbz = target * cfg.dbz_scale + cfg.dbz_offset
    terms = []
    for thr in thresholds:
        p = torch.sigmoid((pred_dbz - thr) / tau) * m
        o = (obs_dbz >= thr).to(pred.dtype) * m
        hits = (p * o).sum(dim=(0, 2, 3))
        union = p.sum(dim=(0, 2, 3)) + o.sum(dim=(0, 2, 3)) - hits
        terms.append(1.0 - (hits + 1.0) / (union + 1.0))
    return torch.stack(terms).mean()


def _masked_mean(per: torch.Tensor, mask: Optional[torch.Tensor]) -> torch.Tensor:
    if mask is None:
        return per.mean()
    m = mask.to(per.dtype)
    return (per * m).sum() / m.sum().clamp_min(1.0)
