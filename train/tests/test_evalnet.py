"""impa.evalnet: its network path equals impa-infer's own guided path; the
per-event bootstrap of impa.evaluate."""
import unittest

import numpy as np

from tests.helpers import moving_blob, shipped_tools


class TestNetForecast(unittest.TestCase):
    def test_same_as_impa_infer(self):
        """Extrapolation from impa-extrapolate, impa-infer --normalised on 80 px
        windows overlapping by 32, clamp, mask, calibration in NumPy: the forecast
        of `impa-infer --tile 80 --tile-overlap 32 --calibration auto` (the guided
        C path the daemon runs), up to the calibration's bin flips."""
        from impa.ctools import run_tool
        from impa.evalnet import net_forecast

        infer, extrap, weights = shipped_tools(self)
        inp = np.concatenate([moving_blob(52.0, 60.0), moving_blob(40.0, 200.0)])
        inp[1, :, :6, :] = np.nan  # no data along one border
        got = net_forecast(weights, "synthetic", inp, infer, extrap, 1, 80, 32)
        want = run_tool([infer, "--weights", weights, "--threads", "1", "--tile", "80",
                         "--tile-overlap", "32", "--calibration", "auto"], inp, got.shape[1])
        self.assertEqual(got.shape, want.shape)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
        d = np.abs(got - want)[np.isfinite(want)]
        self.assertLess(float(np.quantile(d, 0.999)), 0.05)
        self.assertLess(float(d.max()), 1.0)
        self.assertGreater(float(np.nanmax(got)), 35.0)
        # uncalibrated differs: the comparison above is not vacuous
        raw = net_forecast(weights, "synthetic", inp, infer, extrap, 1, 80, 32, calibrate=False)
        self.assertGreater(float(np.nanmax(np.abs(raw - want))), 0.05)


class TestBootstrapEvents(unittest.TestCase):
    @staticmethod
    def tables(seed, n=8):
        rng = np.random.default_rng(seed)
        t = rng.integers(1, 50, size=(n, 3, 12, 4))
        t[..., 3] += 2000
        return t

    def test_per_event_and_mean(self):
        from impa.evaluate import bootstrap_events, hss_mean_over_leads

        a = {"e1": self.tables(1), "e2": self.tables(2, 5)}
        same = bootstrap_events(a, a, 100, 3)
        for st in list(same["events"].values()) + [same["mean"]]:
            self.assertEqual(st["point"], [0.0] * 3)
            self.assertEqual(st["hi"], [0.0] * 3)
        b = {}
        for g, t in a.items():
            t2 = t.copy()
            t2[..., 0] = t[..., 0] // 2
            t2[..., 1] = t[..., 1] + t[..., 0] - t[..., 0] // 2
            b[g] = t2
        # e2 worse for a instead: the mean is the mean of the two events' differences
        a2 = {"e1": a["e1"], "e2": b["e2"]}
        b2 = {"e1": b["e1"], "e2": a["e2"]}
        d = bootstrap_events(a2, b2, 300, 3)
        self.assertTrue(all(x > 0 for x in d["events"]["e1"]["lo"]))
        self.assertTrue(all(x < 0 for x in d["events"]["e2"]["hi"]))
        self.assertEqual(d["events"]["e1"]["p_gt0"], [1.0] * 3)
        pts = [hss_mean_over_leads(a2[g].sum(0)) - hss_mean_over_leads(b2[g].sum(0))
               for g in ("e1", "e2")]
        np.testing.assert_allclose(d["mean"]["point"], (pts[0] + pts[1]) / 2, rtol=1e-12)
        for i in range(3):
            self.assertLessEqual(d["mean"]["lo"][i], d["mean"]["point"][i] + 1e-12)
            self.assertGreaterEqual(d["mean"]["hi"][i], d["mean"]["point"][i] - 1e-12)
        with self.assertRaises(ValueError):
            bootstrap_events({"e1": a["e1"]}, {"e1": a["e1"][:3]}, 10, 3)


class TestCachedTables(unittest.TestCase):
    def test_one_table_per_start_and_old_entries(self):
        """fn returns [n, thr, lead, 4] for the missing starts; entries an earlier
        pySTEPS path wrote as [1, thr, lead, 4] read back as [thr, lead, 4] (they
        broke the per-event summary: one "threshold" instead of three)."""
        import json
        import tempfile
        from pathlib import Path

        from impa.compare import data_id
        from impa.evalnet import cached_tables

        dbz = np.zeros((20, 8, 8), np.float32)
        tabs = TestBootstrapEvents.tables(3, 3)
        calls = []

        def fn(st):
            calls.append(list(st))
            return tabs[[s - 1 for s in st]]

        with tempfile.TemporaryDirectory() as d:
            got = cached_tables(Path(d), "ev", dbz, [1, 2], "k", fn)
            np.testing.assert_array_equal(got, tabs[:2])
            path = Path(d) / f"ev-{data_id(dbz)}-k.json"
            have = json.loads(path.read_text())
            have["3"] = tabs[2][None].tolist()  # the old 5-D layout
            path.write_text(json.dumps(have))
            got = cached_tables(Path(d), "ev", dbz, [1, 2, 3], "k", fn)
            self.assertEqual(calls, [[1, 2]])  # nothing recomputed
            self.assertEqual(got.shape, (3, 3, 12, 4))
            np.testing.assert_array_equal(got, tabs)

class TestNetSpec(unittest.TestCase):
    def test_tiling_per_net(self):
        """LABEL=WEIGHTS@TILE/OVERLAP names one net at its own tiling; without '@'
        the --tile / --tile-overlap defaults apply; bad tilings are refused."""
        from impa.evalnet import net_spec

        self.assertEqual(net_spec("m.nc", 80, 32), ("m.nc", 80, 32))
        self.assertEqual(net_spec("../m.nc@128/16", 80, 32), ("../m.nc", 128, 16))
        self.assertEqual(net_spec("a@b.nc@0/0", 80, 32), ("a@b.nc", 0, 0))
        for bad in ("m.nc@128", "m.nc@x/16", "m.nc@80/48", "m.nc@-4/0"):
            with self.assertRaises(SystemExit, msg=bad):
                net_spec(bad, 80, 32)


if __name__ == "__main__":
    unittest.main()
