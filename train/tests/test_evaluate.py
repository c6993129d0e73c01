"""Scores, spectra and the Python extrapolation stand-in on hand-made fields."""
import math
import unittest

import numpy as np

from impa import spectra as S
from impa.train import contingency, scores


class TestScores(unittest.TestCase):
    def test_contingency_and_scores(self):
        obs = np.array([50, 50, 10, 10, np.nan, 50], dtype=np.float32)
        fc = np.array([50, 10, 50, 10, 50, np.nan], dtype=np.float32)
        c = contingency(fc, obs, 45.0)
        self.assertEqual(c.tolist(), [1, 1, 1, 1])  # NaN in either excluded
        s = scores(c)
        self.assertAlmostEqual(s["csi"], 1 / 3)
        self.assertAlmostEqual(s["pod"], 0.5)
        self.assertAlmostEqual(s["far"], 0.5)
        self.assertAlmostEqual(s["hss"], 0.0)
        perfect = scores(np.array([5, 0, 0, 95]))
        self.assertAlmostEqual(perfect["hss"], 1.0)
        self.assertTrue(math.isnan(scores(np.array([0, 0, 0, 10]))["csi"]))


class TestSpectra(unittest.TestCase):
    def test_sine_peaks_at_its_wavelength(self):
        n = 128
        x = np.arange(n)
        f = np.sin(2 * np.pi * 8 * x / n)[None, :] * np.ones((n, 1))
        wl, p = S.rapsd(f, pixel_km=0.5)
        self.assertAlmostEqual(float(wl[np.argmax(p)]), n * 0.5 / 8)
        self.assertEqual(len(wl), n // 2)

    def test_smoothing_loses_small_scales(self):
        from scipy import ndimage
        rng = np.random.default_rng(0)
        f = rng.normal(size=(64, 64))
        g = ndimage.gaussian_filter(f, 2.0)
        wl, pf = S.rapsd(f)
        _, pg = S.rapsd(g)
        r = S.band_ratio(wl, pg, pf, [(2.0, 4.0), (32.0, 65.0)])
        self.assertLess(r["2-4 km"], 0.1)
        self.assertGreater(r["32-65 km"], 0.5)


class TestExtrapolationStandIn(unittest.TestCase):
    def test_moves_a_cell(self):
        from impa.evaluate import extrapolation_py
        yy, xx = np.mgrid[0:64, 0:64]
        fr = np.stack([40 * np.exp(-((yy - 20 - 2 * t) ** 2 + (xx - 20 - 3 * t) ** 2) / 30.0)
                       for t in range(8)]).astype(np.float32)
        out = extrapolation_py(fr[None, :4], 4)
        for k in range(4):
            self.assertEqual(np.unravel_index(np.argmax(out[0, k]), (64, 64)),
                             np.unravel_index(np.argmax(fr[4 + k]), (64, 64)))


class TestEngineWindows(unittest.TestCase):
    def test_tile_overlap_reaches_the_engine(self):
        """--tile-overlap goes to impa-infer: the blended forecast differs from the
        abutting windows' only where windows overlap, and the how text names it."""
        from impa.evaluate import model_forecast
        from tests.helpers import moving_blob, shipped_tools

        infer, _, weights = shipped_tools(self)
        fr = moving_blob(50, 200.0)
        # uncalibrated: the calibration maps every pixel with the whole frame's
        # distribution, so it would touch the first window's interior too
        a, how_a = model_forecast(weights, fr, infer, 1, 12, tile=32, tile_overlap=0,
                                  calibration="none")
        b, how_b = model_forecast(weights, fr, infer, 1, 12, tile=32, tile_overlap=8,
                                  calibration="none")
        self.assertNotIn("overlap", how_a)
        self.assertIn("32 x 32 windows, overlap 8", how_b)
        self.assertTrue(np.isfinite(a).all() and np.isfinite(b).all())
        # Windows at 0, 24, 48, 64 (stride 24, then the border one): the first
        # window's interior, away from any other window, is unchanged.
        np.testing.assert_allclose(a[..., :20, :20], b[..., :20, :20], atol=1e-5)
        self.assertGreater(float(np.abs(a - b).max()), 1e-3)


class TestBootstrap(unittest.TestCase):
    def tables(self, seed, n=10):
        rng = np.random.default_rng(seed)
        h = rng.integers(0, 50, (n, 4, 12))
        m = rng.integers(1, 50, (n, 4, 12))
        f = rng.integers(1, 50, (n, 4, 12))
        c = rng.integers(5000, 6000, (n, 4, 12))
        return np.stack([h, m, f, c], axis=-1)

    def test_vectorised_hss_is_mean_over_leads(self):
        from impa.evaluate import hss_mean_over_leads, mean_over_leads
        t = self.tables(1).sum(0)
        t[2, 5] = 0  # a lead without any pixel: skipped by both
        want = [mean_over_leads(t[i], "hss") for i in range(4)]
        np.testing.assert_allclose(hss_mean_over_leads(t), want, rtol=1e-12)

    def test_paired_and_ordered(self):
        from impa.evaluate import bootstrap_difference
        a = {"e1": self.tables(2), "e2": self.tables(3, 5)}
        same = bootstrap_difference(a, a, 200, 3)
        self.assertEqual(same["point"], [0.0] * 4)
        self.assertEqual(same["lo"], [0.0] * 4)
        self.assertEqual(same["hi"], [0.0] * 4)
        # b: every start loses hits to misses, so a is better in every draw
        b = {}
        for g, t in a.items():
            t2 = t.copy()
            moved = t2[..., 0] // 2
            t2[..., 0] -= moved
            t2[..., 1] += moved
            b[g] = t2
        d = bootstrap_difference(a, b, 200, 3)
        for ti in range(4):
            self.assertGreater(d["point"][ti], 0)
            self.assertGreater(d["lo"][ti], 0)
            self.assertLessEqual(d["lo"][ti], d["point"][ti] + 1e-12)
            self.assertEqual(d["p_gt0"][ti], 1.0)


if __name__ == "__main__":
    unittest.main()
