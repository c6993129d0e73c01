"""Hyper-parameters of IMPA-Net (docs/model.md, "Hyper-parameters").

One `ImpaConfig` holds every attribute of the table in docs/model.md except the
file identity and provenance (those belong to a weights file, see impa.weights).
The defaults are the shipped defaults. `validate()` enforces what the C loader
enforces, so a config that validates here loads in the engine.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Dict, List

# Limits of the C engine (include/impa/engine.h): a config above them could be
# trained here but never served.
MAX_FIELDS = 8
MAX_BRANCHES = 8
MAX_SE_WINDOW = 255   # IMPA_MAX_SE_WINDOW

NORM_TRANSFORMS = ("linear", "log10p1")

# Attributes that are comma-separated text in the weights file.
TEXT_LIST_KEYS = ("fields", "norm_transform")
FLOAT_LIST_KEYS = ("norm_offset", "norm_scale", "norm_min", "norm_max")
INT_LIST_KEYS = ("branch_kernels", "branch_dilations")
INT_KEYS = ("t_in", "t_out", "step_minutes", "hid_s", "hid_t", "n_blocks",
            "norm_groups", "se_reduction", "mlp_ratio", "spatial_mixer",
            "residual", "total_stride", "advection", "norm_local", "se_window")
FLOAT_KEYS = ("gn_eps", "zr_a", "zr_b")


class ConfigError(ValueError):
    """A hyper-parameter is missing, of the wrong type or out of range."""


@dataclass
class ImpaConfig:
    fields: List[str] = field(default_factory=lambda: [
        "reflectivity", "precip_rate", "terrain", "wind850"])
    norm_transform: List[str] = field(default_factory=lambda: [
        "linear", "log10p1", "linear", "linear"])
    norm_offset: List[float] = field(default_factory=lambda: [0.0, 0.0, 0.0, 0.0])
    norm_scale: List[float] = field(default_factory=lambda: [70.0, 2.0, 3000.0, 20.0])
    norm_min: List[float] = field(default_factory=lambda: [0.0, 0.0, -0.1, -1.0])
    norm_max: List[float] = field(default_factory=lambda: [1.0, 1.0, 1.0, 1.0])
    t_in: int = 4
    t_out: int = 12
    step_minutes: int = 10
    hid_s: int = 16
    hid_t: int = 64
    n_blocks: int = 2
    norm_groups: int = 4
    se_reduction: int = 4
    mlp_ratio: int = 2
    branch_kernels: List[int] = field(default_factory=lambda: [3, 5, 7])
    branch_dilations: List[int] = field(default_factory=lambda: [1, 2, 3])
    spatial_mixer: int = 1
    residual: int = 1
    total_stride: int = 4
    gn_eps: float = 1e-5
    # 1: the advection-guided variant (docs/model.md "Advection guidance"):
    # t_out extrapolated frames follow the t_in observed ones, and the residual
    # and decoder skip of lead t come from extrapolated frame t. 0 in files
    # written before the variant existed (the attribute is optional).
    advection: int = 0
    # 1: every norm takes its statistics over the group's channels at each
    # pixel instead of over the group's channels and the whole grid, and
    # (se_window > 0) the squeeze-excitation gate reads the mean over a
    # se_window x se_window neighbourhood of the 1/4-resolution grid instead of
    # the grid's mean. Then no statistic depends on the grid's size, so a model
    # trained on crops runs on the whole grid as it ran on the crops. 0 in files
    # written before (both attributes are optional).
    norm_local: int = 0
    se_window: int = 0
    zr_a: float = 200.0
    zr_b: float = 1.6

    # ----------------------------------------------------------------- derived
    @property
    def n_fields(self) -> int:
        return len(self.fields)

    @property
    def n_branches(self) -> int:
        return len(self.branch_kernels)

    @property
    def n_frames_in(self) -> int:
        """Frames the network reads: t_in observed (+ t_out extrapolated)."""
        return self.t_in + (self.t_out if self.advection else 0)

    @property
    def se_hidden(self) -> int:
        return self.hid_t // self.se_reduction

    @property
    def mlp_hidden(self) -> int:
        return self.hid_t * self.mlp_ratio

    # -------------------------------------------------------------- validation
    def validate(self) -> "ImpaConfig":
        """Raises ConfigError naming the first offending attribute; returns self."""
        def need(cond: bool, msg: str) -> None:
            if not cond:
                raise ConfigError(msg)

        for k in TEXT_LIST_KEYS:
            v = getattr(self, k)
            need(isinstance(v, (list, tuple)) and all(isinstance(s, str) and s for s in v),
                 f"{k}: expected a list of non-empty strings, got {v!r}")
            need(all("," not in s and s.strip() == s for s in v),
                 f"{k}: names may not contain commas or surrounding spaces: {v!r}")
        c = len(self.fields)
        need(1 <= c <= MAX_FIELDS, f"fields: {c} fields, expected 1..{MAX_FIELDS}")
        need(len(set(self.fields)) == c, f"fields: duplicate names in {self.fields!r}")
        need(self.fields[0] == "reflectivity",
             f"fields: field 0 must be 'reflectivity', got {self.fields[0]!r}")
        for k in ("norm_transform",) + FLOAT_LIST_KEYS:
            n = len(getattr(self, k))
            need(n == c, f"{k}: {n} values for {c} fields")
        for t in self.norm_transform:
            need(t in NORM_TRANSFORMS, f"norm_transform: unknown transform {t!r}, "
                 f"expected one of {', '.join(NORM_TRANSFORMS)}")
        need(self.norm_transform[0] == "linear",
             "norm_transform: reflectivity (field 0) must be 'linear' to be denormalised")
        for i in range(c):
            need(float(self.norm_scale[i]) > 0.0,
                 f"norm_scale: field {self.fields[i]!r} has scale {self.norm_scale[i]}, must be > 0")
            need(float(self.norm_min[i]) < float(self.norm_max[i]),
                 f"norm_min/norm_max: field {self.fields[i]!r} has min {self.norm_min[i]} "
                 f">= max {self.norm_max[i]}")
        for k in INT_KEYS:
            v = getattr(self, k)
            need(isinstance(v, int) and not isinstance(v, bool), f"{k}: expected an int, got {v!r}")
        for k in ("t_in", "t_out", "step_minutes", "hid_s", "hid_t", "n_blocks",
                  "norm_groups", "se_reduction", "mlp_ratio"):
            need(getattr(self, k) >= 1, f"{k}: must be >= 1, got {getattr(self, k)}")
        need(self.hid_s % self.norm_groups == 0,
             f"norm_groups: {self.norm_groups} does not divide hid_s {self.hid_s}")
        need(self.hid_t % self.norm_groups == 0,
             f"norm_groups: {self.norm_groups} does not divide hid_t {self.hid_t}")
        need(self.hid_t % self.se_reduction == 0,
             f"se_reduction: {self.se_reduction} does not divide hid_t {self.hid_t}")
        nb = len(self.branch_kernels)
        need(1 <= nb <= MAX_BRANCHES, f"branch_kernels: {nb} branches, expected 1..{MAX_BRANCHES}")
        need(len(self.branch_dilations) == nb,
             f"branch_dilations: {len(self.branch_dilations)} values for {nb} branches")
        for k, d in zip(self.branch_kernels, self.branch_dilations):
            need(isinstance(k, int) and k >= 1 and k % 2 == 1,
                 f"branch_kernels: kernel {k!r} must be a positive odd int")
            need(isinstance(d, int) and d >= 1, f"branch_dilations: dilation {d!r} must be an int >= 1")
        need(self.spatial_mixer in (0, 1), f"spatial_mixer: must be 0 or 1, got {self.spatial_mixer}")
        need(self.residual in (0, 1), f"residual: must be 0 or 1, got {self.residual}")
        need(self.advection in (0, 1), f"advection: must be 0 or 1, got {self.advection}")
        need(self.norm_local in (0, 1), f"norm_local: must be 0 or 1, got {self.norm_local}")
        need(self.se_window == 0 or (1 <= self.se_window <= MAX_SE_WINDOW and self.se_window % 2 == 1),
             f"se_window: must be 0 (grid mean) or an odd int 1..{MAX_SE_WINDOW}, got {self.se_window}")
        # Two stride-2 encoder convs and two pixel shuffles: the architecture is fixed at 4.
        need(self.total_stride == 4, f"total_stride: must be 4 for this architecture, got {self.total_stride}")
        need(float(self.gn_eps) > 0.0, f"gn_eps: must be > 0, got {self.gn_eps}")
        need(float(self.zr_a) > 0.0, f"zr_a: must be > 0, got {self.zr_a}")
        need(float(self.zr_b) > 0.0, f"zr_b: must be > 0, got {self.zr_b}")
        return self

    def check_grid(self, h: int, w: int) -> None:
        """Raises ConfigError when an h x w grid cannot run through the network."""
        s = self.total_stride
        if h < s or w < s or h % s or w % s:
            raise ConfigError(f"grid {h}x{w}: sides must be positive multiples of "
                              f"total_stride {s} (nearest: {max(s, h // s * s)}x{max(s, w // s * s)})")

    # ----------------------------------------------------------- conversions
    def to_dict(self) -> Dict[str, Any]:
        """Plain dict (lists copied), keys = weights-file attribute names."""
        return {k: (list(v) if isinstance(v, (list, tuple)) else v)
                for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, d: Dict[str, Any], strict: bool = True) -> "ImpaConfig":
        """Builds and validates a config. Text lists may be given as comma-separated
        strings, numbers as numpy scalars/arrays. Unknown keys raise ConfigError when
        `strict`, else are ignored (e.g. provenance attributes of a weights file)."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if strict and unknown:
            raise ConfigError(f"unknown hyper-parameter(s): {', '.join(unknown)}")
        kw: Dict[str, Any] = {}
        for k in names:
            if k not in d:
                continue
            v = d[k]
            try:
                if k in TEXT_LIST_KEYS:
                    kw[k] = [s.strip() for s in v.split(",")] if isinstance(v, str) else [str(s) for s in v]
                elif k in FLOAT_LIST_KEYS:
                    kw[k] = [float(x) for x in _as_list(v)]
                elif k in INT_LIST_KEYS:
                    kw[k] = [_as_int(x, k) for x in _as_list(v)]
                elif k in INT_KEYS:
                    kw[k] = _as_int(v, k)
                elif k in FLOAT_KEYS:
                    kw[k] = float(v)
            except (TypeError, ValueError) as e:
                if isinstance(e, ConfigError):
                    raise
                raise ConfigError(f"{k}: cannot convert {v!r}: {e}") from None
        return cls(**kw).validate()

    def replace(self, **changes: Any) -> "ImpaConfig":
        """Copy with some attributes changed, validated."""
        d = self.to_dict()
        d.update(changes)
        return ImpaConfig.from_dict(d)


def _as_list(v: Any) -> List[Any]:
    if isinstance(v, str):
        return [x for x in v.split(",") if x.strip()]
    if hasattr(v, "tolist"):
        v = v.tolist()
    if isinstance(v, (list, tuple)):
        return list(v)
    return [v]


def _as_int(x: Any, key: str) -> int:
    if isinstance(x, str):
        x = x.strip()
    f = float(x)
    if f != int(f):
        raise ConfigError(f"{key}: expected an integer, got {x!r}")
    return int(f)
