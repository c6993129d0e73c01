"""The NumPy probability (impa.prob) on hand-made fields, and against the C
one: impa-prob on the shipped calibration table must give the same field."""
import os
import sys
import unittest

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from impa import data as D  # noqa: E402
from impa import prob as P  # noqa: E402

TABLE = D.TRAIN_DIR.parent / "models" / "prob-calibration.txt"


def brute_fraction(ind: np.ndarray, r: int) -> np.ndarray:
    h, w = ind.shape
    out = np.zeros((h, w))
    for y in range(h):
        for x in range(w):
            win = ind[max(0, y - r):y + r + 1, max(0, x - r):x + r + 1]
            out[y, x] = win.mean()
    return out


class TestField(unittest.TestCase):
    def test_window_fraction(self):
        ind = np.random.default_rng(0).random((17, 23)) < 0.2
        sat = P.summed_area(ind)
        for r in (0, 1, 3, 30):
            np.testing.assert_allclose(P.window_fraction(sat, r), brute_fraction(ind, r),
                                       atol=1e-12)

    def test_isotonic(self):
        y = np.array([0.1, 0.3, 0.2, 0.5, 0.4, 0.9])
        w = np.array([1.0, 1.0, 1.0, 2.0, 2.0, 1.0])
        iso = P.isotonic(y, w)
        self.assertTrue((np.diff(iso) >= 0).all())
        np.testing.assert_allclose(iso, [0.1, 0.25, 0.25, 0.45, 0.45, 0.9])
        self.assertAlmostEqual(float((iso * w).sum()), float((y * w).sum()))

    def test_knots_recover_a_known_calibration(self):
        # cases whose observed frequency is 0.6 f: the fit reads 0.6 f at the knots
        f = np.linspace(0, 1, P.NB * 4)
        b = P.fraction_bin(f)
        cnt = np.bincount(b, minlength=P.NB + 1) * 1000.0
        sumf = np.bincount(b, weights=f, minlength=P.NB + 1) * 1000.0
        hit = 0.6 * sumf
        kn = P.knots_from_hist(cnt, hit, sumf)
        np.testing.assert_allclose(kn, 0.6 * np.linspace(0, 1, P.N_KNOTS), atol=0.01)
        self.assertLess(P.brier_from_hist(cnt, hit, sumf, kn),
                        P.brier_from_hist(cnt, hit, sumf, [0.9] * P.N_KNOTS))

    def test_trend_class(self):
        a = np.zeros((4, 20, 20), dtype=np.float32)
        a[0, :4] = 50
        a[3, :2] = 50
        self.assertEqual(P.trend_class(a, 45.0, 1.3), -1)
        self.assertEqual(P.trend_class(a[::-1], 45.0, 1.3), 1)
        self.assertEqual(P.trend_class(a, 45.0, 0.0), 0)
        self.assertEqual(P.trend_class(a, 60.0, 1.3), 0)

    def test_table_round_trip(self):
        import tempfile

        t = {(45.0, 10, c): (2.0 + c, [0.0, 0.25 + 0.1 * c, 0.8]) for c in (-1, 0, 1)}
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "t.txt")
            P.write_table(path, t, "round trip", 1.3, ["a test"])
            back, name, ratio = P.read_table(path)
        self.assertEqual(name, "round trip")
        self.assertEqual(ratio, 1.3)
        self.assertEqual(set(back), set(t))
        for k in t:
            self.assertEqual(back[k][0], t[k][0])
            np.testing.assert_allclose(back[k][1], t[k][1], atol=1e-5)


    def test_table_records_scheme(self):
        import tempfile

        t = {(45.0, 10, 0): (2.0, [0.0, 0.5, 1.0])}
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "t.txt")
            P.write_table(path, t, "s", 0.0, [], scheme="impa-extrap-3")
            with open(path) as f:
                self.assertIn("scheme impa-extrap-3\n", f.read())
            back, _, _ = P.read_table(path)
        self.assertEqual(set(back), set(t))

    def test_shrink_known_answers(self):
        # one bin, calibration 0.5, observed frequency 0.1, base rate 0.1: all the
        # way to the base rate (l = 1); a calibration equal to the observed
        # frequency stays (l = 0); half-way cases give the least-squares weight
        cnt, hit, sumf = np.array([0.0, 100.0]), np.array([0.0, 10.0]), np.array([0.0, 50.0])
        t = P.shrink_terms(cnt, hit, sumf, [0.5, 0.5], 0.1)
        self.assertAlmostEqual(P.shrink_lambda([t]), 1.0)
        t0 = P.shrink_terms(cnt, hit, sumf, [0.1, 0.1], 0.5)
        self.assertAlmostEqual(P.shrink_lambda([t0]), 0.0)
        # p = 0.5, observed 0.3, base 0.1: p' = 0.5 - 0.4 l = 0.3 at l = 0.5
        t1 = P.shrink_terms(cnt, np.array([0.0, 30.0]), sumf, [0.5, 0.5], 0.1)
        self.assertAlmostEqual(P.shrink_lambda([t1]), 0.5)
        A, B, C = t1
        self.assertAlmostEqual(C / 100, 0.5 * 0.5 * 0.7 + 0.5 * 0.5 * 0.3)  # Brier at l = 0
        self.assertEqual(P.shrink_lambda([]), 0.0)

    def test_linear_recal_known_answer(self):
        # bins at P 0.2 and 0.6 observed 0.1 and 0.3 (100 cases each): P' = 0.5 P
        cnt = np.array([0.0, 100.0, 100.0])
        sumf = np.array([0.0, 20.0, 60.0])  # bin mean f 0.2, 0.6; identity calibration
        hit = np.array([0.0, 10.0, 30.0])
        S = P.recal_sums(cnt, hit, sumf, [0.0, 1.0])
        a, b = P.linear_recal(S)
        self.assertAlmostEqual(a, 0.5)
        self.assertAlmostEqual(b, 0.0)
        self.assertAlmostEqual(P.linear_brier_sum(S, a, b),
                               100 * (0.1 * 0.9) + 100 * (0.3 * 0.7))
        # a falling relation is not allowed: a = 0, b = the base rate
        a, b = P.linear_recal(P.recal_sums(cnt, np.array([0.0, 30.0, 10.0]), sumf, [0.0, 1.0]))
        self.assertEqual(a, 0.0)
        self.assertAlmostEqual(b, 0.2)

    def test_growth_terms(self):
        # 400 px of 0.25 km^2 = 100 km^2 shrinking to 25 km^2 in 30 min
        inp = np.zeros((4, 30, 40), dtype=np.float32)
        inp[0].flat[:400] = 50
        inp[3].flat[:100] = 50
        inp[3, 29, 39] = np.nan
        rate, size = P.growth_terms(inp, 45.0, 0.5, 25.0, 4.0)
        self.assertAlmostEqual(rate, np.log(50 / 125) * 2)
        self.assertAlmostEqual(size, np.log(2.0))
        self.assertEqual(P.growth_terms(inp, 45.0, 0.5, 25.0, 0.5)[0], -0.5)  # clipped
        # no growth terms: the knots as they are; a falling rate lowers them
        kn = [0.01, 0.2, 0.7]
        np.testing.assert_allclose(P.logistic_knots(kn, (0, 1, 0, 0), 1.0, 1.0), kn, rtol=1e-9)
        lo = P.logistic_knots(kn, (0, 1, 0.7, 0), -1.0, 0.0)
        self.assertTrue((lo < np.array(kn)).all())
        z = np.log(0.2 / 0.8) - 0.7
        self.assertAlmostEqual(float(lo[1]), 1 / (1 + np.exp(-z)))
        # shrinkage: half-way to q
        sh = P.logistic_knots(kn, (0, 1, 0, 0, 0.5, 0.1), 0.0, 0.0)
        np.testing.assert_allclose(sh, 0.5 * np.array(kn) + 0.05, rtol=1e-9)
        # per start (arrays): [S, K], each row non-decreasing
        many = P.logistic_knots(kn, (0.3, 0.9, 0.5, -0.2), np.array([-4.0, 0.0, 4.0]),
                                np.array([0.0, 1.0, 3.0]))
        self.assertEqual(many.shape, (3, 3))
        self.assertTrue((np.diff(many, axis=1) >= 0).all())

    def test_echo_fractions(self):
        rng = np.random.default_rng(5)
        for _ in range(50):
            h, w = rng.integers(1, 30, 2)
            ind = rng.random((h, w)) < rng.random() * 0.05
            r = int(rng.integers(0, 12))
            sy, sx, f = P.echo_fractions(ind, r)
            g = np.zeros((h, w))
            g[sy, sx] = f
            np.testing.assert_array_equal(g, P.window_fraction(P.summed_area(ind), r))

    def test_growth_table_round_trip(self):
        import tempfile

        t = {(45.0, 10, 0): (2.0, [0.0, 0.5, 0.9])}
        g = (25.0, 4.0, {(45.0, 10): (0.1, 1.2, 0.5, -0.1, 0.2, 0.001)}, True)
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "t.txt")
            P.write_table(path, t, "g", 0.0, [], growth=g)
            back, _, ratio = P.read_table(path)
            gb = P.read_growth(path)
        self.assertEqual(set(back), set(t))
        self.assertEqual(ratio, 0.0)
        self.assertEqual(gb[:2], (25.0, 4.0))
        self.assertTrue(gb[3])
        np.testing.assert_allclose(gb[2][(45.0, 10)], g[2][(45.0, 10)], rtol=1e-5)

    def test_weather_groups(self):
        self.assertEqual(P.weather_group("fmi-20160928" + D.REVERSED), "fmi-20160928")
        self.assertEqual(P.weather_group("fmi-20160928"), "fmi-20160928")


class TestAgainstC(unittest.TestCase):
    def test_impa_prob_tool(self):
        from impa.ctools import find_tool

        tool = find_tool(P.PROB_TOOL, None, "nowcast")
        if tool is None or not TABLE.exists():
            self.skipTest("impa-prob not built or models/prob-calibration.txt absent")
        try:
            import netCDF4  # noqa: F401
        except ImportError:
            self.skipTest("netCDF4 not installed")
        rng = np.random.default_rng(3)
        yy, xx = np.mgrid[0:70, 0:90]
        fc = np.empty((2, P.T_OUT, 70, 90), dtype=np.float32)
        for k in range(P.T_OUT):
            cell = 55 * np.exp(-((yy - 30) ** 2 + (xx - 20 - 3 * k) ** 2) / (80.0 + 10 * k))
            fc[0, k] = cell + rng.normal(0, 3, cell.shape)
            fc[1, k] = 0.8 * cell
        fc[0, :, 5, 7] = np.nan
        inp = np.stack([fc[:, 0] * s for s in (1.2, 1.1, 1.0, 0.9)], axis=1)
        import tempfile

        # the shipped table, and one with growth terms (strong ones, so a wrong
        # rate or size in either implementation shows)
        with tempfile.TemporaryDirectory() as d:
            table, _, ratio = P.read_table(TABLE)
            pooled = {(t, lead, 0): v for (t, lead, c), v in table.items() if c == 0}
            coef = {(t, lead): (0.2, 1.1, 0.8, -0.3, 0.1, 0.01) for (t, lead, _) in pooled}
            gpath = os.path.join(d, "growth.txt")
            P.write_table(gpath, pooled, "growth test", 0.0, [], growth=(25.0, 4.0, coef, False))
            spath = os.path.join(d, "scene.txt")
            P.write_table(spath, pooled, "scene test", 0.0, [], growth=(25.0, 4.0, coef, True))
            # intensity margins (a lead without one counts >= T)
            mpath = os.path.join(d, "margin.txt")
            margins = {(t, lead): float(lead % 30) / 5 for (t, lead, _) in pooled if lead != 60}
            P.write_table(mpath, pooled, "margin test", 0.0, [],
                          growth=(25.0, 4.0, coef, False), margins=margins)
            self.assertEqual(P.read_margins(mpath), margins)
            for path in (str(TABLE), gpath, spath, mpath):
                table, _, ratio = P.read_table(path)
                growth = P.read_growth(path)
                mg = P.read_margins(path)
                cp = P.c_probabilities(tool, path, inp, fc, 0.5)
                for i in range(2):
                    for ti, thr in enumerate(P.THRESHOLDS):
                        rows = P.start_rows(table, growth, thr, inp[i], ratio, 0.5, mg)
                        p = P.prob_field(fc[i], thr, rows, 0.5)
                        np.testing.assert_array_equal(np.isnan(cp[i, ti]), np.isnan(p))
                        np.testing.assert_allclose(np.nan_to_num(cp[i, ti]), np.nan_to_num(p),
                                                   atol=1e-5)
                self.assertTrue(np.isnan(cp[0, 0, 0, 5, 7]))
                self.assertGreater(float(np.nanmax(cp[0, 1, 0])), 0.05)
            self.assertIsNotNone(P.read_growth(gpath))


if __name__ == "__main__":
    unittest.main()
