"""Shared by the tests that run the C tools on the shipped model."""
import unittest

import numpy as np


def moving_blob(peak: float, spread: float, n: int = 96, frames: int = 4) -> np.ndarray:
    """[1, frames, n, n] dBZ: a Gaussian cell moving (+1, +2) px per frame."""
    yy, xx = np.mgrid[0:n, 0:n]
    return np.stack([peak * np.exp(-((yy - 40 - t) ** 2 + (xx - 30 - 2 * t) ** 2) / spread)
                     for t in range(frames)]).astype(np.float32)[None]


def shipped_tools(case: unittest.TestCase):
    """(impa-infer, impa-extrapolate, models/impa-net.nc), or skip the test."""
    from impa import data as D
    from impa.evaluate import find_tool

    infer = find_tool("impa-infer", None, "engine")
    extrap = find_tool("impa-extrapolate", None, "nowcast")
    weights = D.TRAIN_DIR.parent / "models" / "impa-net.nc"
    if infer is None or extrap is None or not weights.exists():
        case.skipTest("impa-infer / impa-extrapolate not built or shipped weights absent")
    return infer, extrap, str(weights)
