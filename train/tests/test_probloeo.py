"""impa.probloeo on synthetic starts whose observed frequency follows a known
growth-rate law: the rate fit recovers it, the LOEO score ranks it above the
methods that ignore the rate, and the fitted table reproduces it."""
import os
import sys
import unittest

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from impa import prob as P  # noqa: E402
from impa import probloeo as L  # noqa: E402

G_TRUE = -0.8  # per hour: decaying echo keeps its exceedance less often


def synthetic(n: int = 24) -> dict:
    rng = np.random.default_rng(2)
    S, nt, nr = n, len(P.THRESHOLDS), len(P.RADII_KM)
    shape = (S, nt, P.T_OUT, 1, nr, P.NB + 1)  # one margin, 0 dB
    cnt, hit, sumf = (np.zeros(shape, dtype=np.float32) for _ in range(3))
    rate = rng.uniform(-2, 2, S)
    span = (P.T_IN - 1) * P.STEP_MIN / 60.0
    n_old = np.full(S, 100.0)
    n_new = (n_old + L.A0_KM2) * np.exp(rate * span) - L.A0_KM2
    px_ge = np.zeros((S, nt, P.T_IN))
    px_ge[:, :, 0] = n_old[:, None]
    px_ge[:, :, -1] = n_new[:, None]
    fb = P.fraction_bin(np.array([0.5]))[0]
    for s in range(S):
        # logit P = logit(f * 0.6) + G_TRUE * rate at f = 0.5; none at f = 0
        p = 1 / (1 + np.exp(-(np.log(0.3 / 0.7) + G_TRUE * rate[s])))
        cnt[s, ..., fb] = 20000
        sumf[s, ..., fb] = 10000
        hit[s, ..., fb] = 20000 * p
        cnt[s, ..., 0] = 50000
    return {"cnt": cnt, "hit": hit, "sumf": sumf, "px_ge": px_ge,
            "n_fin": np.full((S, P.T_IN), 1e6), "px_km": np.ones(S),
            "groups": np.array([f"g{i % 4}" for i in range(S)]), "margins_db": np.array([0.0])}


class TestThirdRound(unittest.TestCase):
    def test_pool_top(self):
        B = 6
        cnt = np.zeros((4, B))
        hit = np.zeros((4, B))
        sumf = np.zeros((4, B))
        cnt[:, 0] = 100  # f = 0: never pooled
        cnt[:, 1] = 10   # every group
        cnt[0:2, 3] = 5  # groups a, b
        cnt[2, 4] = 5    # group c
        cnt[0, 5] = 2    # group a
        hit[0, 5] = 2
        sumf[:] = cnt * np.arange(B) / B
        groups = np.array(["a", "b", "c", "d"])
        c, h, f = L.pool_top(cnt, hit, sumf, groups, min_groups=3)
        # bins >= 3 hold a, b, c: pooled into bin 3
        np.testing.assert_array_equal(c, [400, 40, 0, 17, 0, 0])
        self.assertEqual(h[3], 2)
        self.assertAlmostEqual(f[3], (10 * 3 + 5 * 4 + 2 * 5) / B)
        c4, _, _ = L.pool_top(cnt, hit, sumf, groups, min_groups=4)
        np.testing.assert_array_equal(c4, [400, 57, 0, 0, 0, 0])
        c1, _, _ = L.pool_top(cnt, hit, sumf, groups, min_groups=1)
        np.testing.assert_array_equal(c1, cnt.sum(0))

    def test_margin_chosen_where_it_separates(self):
        # margin 0 dB: every start's echo at f = 0.5, half of it observed;
        # margin 4 dB: the observed half at f = 0.5, the rest f = 0
        d = synthetic(8)
        for k in ("cnt", "hit", "sumf"):
            d[k] = np.concatenate([d[k], d[k]], axis=3)
        d["margins_db"] = np.array([0.0, 4.0])
        fb = P.fraction_bin(np.array([0.5]))[0]
        d["cnt"][..., fb] = 20000
        d["sumf"][..., fb] = 10000
        d["hit"][..., fb] = 0
        d["hit"][:, :, :, 0, :, fb] = 10000
        d["cnt"][:, :, :, 1, :, fb] = 10000
        d["sumf"][:, :, :, 1, :, fb] = 5000
        d["hit"][:, :, :, 1, :, fb] = 10000
        d["cnt"][:, :, :, 1, :, 0] = 60000
        idx = np.arange(8)
        self.assertEqual(L.fit_method(d, idx, "margin", 1, 3)["mi"], 1)
        self.assertEqual(L.fit_method(d, idx, "rate", 1, 3)["mi"], 0)

    def test_lifetime_weights(self):
        d = synthetic(8)
        tau, lam = L.lifetime_weights(d, np.arange(8), "lifetime", 1)
        self.assertIn(tau, L.TAU_MIN)
        t = np.arange(1, P.T_OUT + 1) * P.STEP_MIN
        np.testing.assert_allclose(lam, 1 - np.exp(-t / tau))


class TestGrowthFit(unittest.TestCase):
    def test_rate_recovered(self):
        d = synthetic()
        _, rate, _ = L.predictors(d, 1)
        self.assertGreater(np.ptp(rate), 2.0)
        idx = np.arange(len(d["groups"]))
        m = L.fit_method(d, idx, "rate", 1, 3)
        self.assertEqual(m["coef"][:2], (0.0, 1.0))
        # the Brier-optimal g by brute force on the same cases (the pooled c(f)
        # is the mean over starts, so g comes out a little weaker than the law's)
        grid = np.linspace(-2, 0.5, 251)
        bs = [L.predict(d, idx, dict(m, coef=(0.0, 1.0, g, 0.0)), 1, 3)[0] for g in grid]
        self.assertAlmostEqual(m["coef"][2], float(grid[int(np.argmin(bs))]), delta=0.02)
        self.assertLess(m["coef"][2], 0.5 * G_TRUE)
        pooled = L.fit_method(d, idx, "pooled", 1, 3)
        self.assertLess(L.predict(d, idx, m, 1, 3)[0], 0.9 * L.predict(d, idx, pooled, 1, 3)[0])

    def test_loeo_prefers_the_rate(self):
        d = synthetic()
        sub = dict(d)
        with open(os.devnull, "w") as null:
            r = L.loeo(sub, "rate", False, log=null)
            p = L.loeo(sub, "pooled", False, log=null)
        self.assertGreater(min(r["45"]), max(p["45"]) + 0.01)

    def test_table_reproduces_the_fit(self):
        d = synthetic(12)
        with open(os.devnull, "w") as null:
            table, growth, info = L.fit_table(d, "rate", False, log=null)
        self.assertEqual(len(table), len(P.THRESHOLDS) * P.T_OUT)
        coef = growth[2][(45.0, 40)]
        self.assertEqual(coef[4], 0.0)  # no shrinkage asked
        m = L.fit_method(d, np.arange(12), "rate", 1, 3)
        np.testing.assert_allclose(coef[:4], m["coef"], atol=1e-9)
        self.assertLess(coef[2], 0.0)
        rad, kn = table[(45.0, 40, 0)]
        # the table's P at f = 0.5 for a start is what the fit predicted for it
        _, rate, size = L.predictors(d, 1)
        p = P.calibrated(0.5, P.logistic_knots(kn, coef, rate[0], size[0]))
        want = L.interp_rows(np.array([[0.5]]), L.adjusted_knots(
            m["knots"][0], m["coef"], rate[:1], size[:1]))[0, 0]
        self.assertAlmostEqual(float(p), float(want), places=9)

    def test_scene_shrinkage(self):
        # all the way to the scene (l = 1): P is each start's newest-input area fraction
        d = synthetic(8)
        idx = np.arange(8)
        m = L.fit_method(d, idx, "pooled", 1, 0, shrink=1.0, scene=True)
        q = d["px_ge"][:, 1, -1] / d["n_fin"][:, -1]
        cnt, hit = d["cnt"][:, 1, 0, m["mi"], m["ri"]], d["hit"][:, 1, 0, m["mi"], m["ri"]]
        want = float((cnt * q[:, None] ** 2 - 2 * q[:, None] * hit + hit).sum())
        self.assertAlmostEqual(L.predict(d, idx, m, 1, 0)[0], want, delta=1e-6 * want)
        base = L.fit_method(d, idx, "pooled", 1, 0, shrink=1.0)
        self.assertNotAlmostEqual(L.predict(d, idx, base, 1, 0)[0], want, delta=1e-3 * want)


if __name__ == "__main__":
    unittest.main()
