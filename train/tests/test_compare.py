"""impa.compare's own logic (no pySTEPS, no radar data): starts, scores, the
leave-one-event-out choice, the cache and its keys."""
import math
import tempfile
import unittest
from pathlib import Path

import numpy as np

from impa import compare as C


class TestCompare(unittest.TestCase):
    def test_starts_need_all_frames_and_keep_the_stride(self):
        dbz = np.zeros((40, 4, 4), np.float32)
        dbz[20] = np.nan  # a frame without radar data
        st = C.starts_of("some-event", dbz)
        L = C.T_IN + C.T_OUT
        self.assertEqual(st, [s for s in range(0, 40 - L + 1) if not s <= 20 < s + L])
        self.assertEqual(C.starts_of("bom-brisbane-20201031", dbz), st[::3])

    def test_lead_scores_by_hand(self):
        tab = np.array([[[2, 1, 1, 6]]])  # hits, misses, false alarms, correct negatives
        s = C.lead_scores(tab)
        self.assertAlmostEqual(float(s["csi"][0, 0]), 0.5)
        self.assertAlmostEqual(float(s["pod"][0, 0]), 2 / 3)
        self.assertAlmostEqual(float(s["far"][0, 0]), 1 / 3)
        self.assertAlmostEqual(float(s["bias"][0, 0]), 1.0)
        self.assertAlmostEqual(float(s["hss"][0, 0]), 2 * (12 - 1) / (3 * 7 + 3 * 7))
        empty = C.lead_scores(np.array([[[0, 0, 0, 5]]]))
        self.assertTrue(math.isnan(float(empty["hss"][0, 0])))
        # the mean over leads skips undefined leads
        two = np.array([[[2, 1, 1, 6], [0, 0, 0, 5]]])
        self.assertAlmostEqual(C.mean_scores(two)["csi"][0], 0.5)

    def test_loeo_never_looks_at_the_held_out_event(self):
        names = ["a", "b", "c"]
        # m2 is far better on "a" only; m1 better on b and c
        hss = {"a": {"m1": 0.1, "m2": 0.9}, "b": {"m1": 0.5, "m2": 0.4},
               "c": {"m1": 0.5, "m2": 0.4}}
        ev = {n: {m: {"hss": [0.0, v, v]} for m, v in d.items()} for n, d in hss.items()}
        lo = C.loeo(ev, ["m1", "m2"], names)
        # held out "a": b, c say m1; held out b: a+c give m2 (0.9+0.4 > 0.1+0.5)
        self.assertEqual(lo["chosen"], {"a": "m1", "b": "m2", "c": "m2"})
        self.assertAlmostEqual(lo["mean"][1], (0.1 + 0.4 + 0.4) / 3)
        # equal criteria: the first method listed
        tie = {n: {m: {"hss": [0.0, 0.3, 0.3]} for m in ("x", "y")} for n in names}
        self.assertEqual(set(C.loeo(tie, ["x", "y"], names)["chosen"].values()), {"x"})

    def test_cache_computes_once_and_keys_differ(self):
        calls = []

        def fn():
            calls.append(1)
            return np.arange(6).reshape(1, 2, 3), 0.25

        with tempfile.TemporaryDirectory() as d:
            t1, s1 = C.cached(Path(d), "k", fn)
            t2, s2 = C.cached(Path(d), "k", fn)
            self.assertEqual(len(calls), 1)
            self.assertEqual(t2.tolist(), t1.tolist())
            self.assertEqual(s2, 0.25)
        k = C.impa_key("ev", 5, "abc", ["--scheme", "impa-extrap-3"])
        self.assertNotEqual(k, C.impa_key("ev", 5, "abd", ["--scheme", "impa-extrap-3"]))
        self.assertNotEqual(k, C.impa_key("ev", 5, "abc", ["--scheme", "impa-extrap-1"]))
        self.assertNotEqual(k, C.impa_key("ev", 6, "abc", ["--scheme", "impa-extrap-3"]))

    def test_start_tables_sum_to_the_tables(self):
        rng = np.random.default_rng(3)
        obs = rng.uniform(0, 50, (3, C.T_OUT, 6, 6)).astype(np.float32)
        inp = rng.uniform(0, 50, (3, C.T_IN, 6, 6)).astype(np.float32)
        fc = obs + rng.normal(0, 8, obs.shape).astype(np.float32)
        per = C.start_tables(fc, inp, obs)
        self.assertEqual(per.shape, (3, len(C.THRESHOLDS), C.T_OUT, 4))
        self.assertEqual(per.sum(0).tolist(), C.tables(fc, inp, obs).tolist())

    def test_echo_rule_and_bootstrap(self):
        # 4 starts, 1 lead table each: echo at 20 dBZ only
        per = np.zeros((4, len(C.THRESHOLDS), C.T_OUT, 4), np.int64)
        per[:, 0, :, :] = [60, 20, 10, 900]   # 80 observed cells per lead at 20 dBZ
        per[:, 1, :, :] = [0, 1, 0, 989]
        per[:, 2, :, :] = [0, 0, 0, 990]
        self.assertEqual(C.counts_at(per, "some-event"), [True, False, False])
        self.assertAlmostEqual(C.echo_km2(per, "bom-melbourne-20180616")[0], 80 * 0.25)
        self.assertEqual(C.counts_at(per, "bom-melbourne-20180616"), [False, False, False])
        rng = np.random.default_rng(0)
        idx = C.boot_index(10, 3, rng)
        self.assertEqual(len(idx), 10)
        self.assertTrue(all(0 <= i < 10 for i in idx))
        self.assertEqual(C.boot_block("some-event", 40), 6)    # 60 min of 10-min starts
        self.assertEqual(C.boot_block("some-event", 5), 2)     # at most half the starts
        self.assertEqual(C.boot_block("bom-brisbane-20201031", 43), 2)  # 30-min starts
        # a method against itself: every interval is [0, 0]; a better one: above 0
        better = per.copy()
        better[:, 0, :, :] = [70, 10, 5, 905]
        res = {"a": {"x": per, "y": per, "z": better}}
        b = C.bootstrap_diff(res, "x", "y", ["a"], n_boot=50)
        self.assertEqual(b["events"]["a"][0], [0.0, 0.0])
        self.assertEqual(b["mean"][0], [0.0, 0.0])
        self.assertTrue(math.isnan(b["mean"][1][0]))  # no event counts at 35 dBZ
        b = C.bootstrap_diff(res, "z", "y", ["a"], n_boot=50)
        self.assertGreater(b["events"]["a"][0][0], 0.0)

    def test_tool_id_follows_the_binary(self):
        with tempfile.TemporaryDirectory() as d:
            p = Path(d) / "tool"
            p.write_text("#!/bin/sh\necho tool 1\n")
            p.chmod(0o755)
            a = C.tool_id(str(p))
            p.write_text("#!/bin/sh\necho tool 2\n")
            self.assertNotEqual(a, C.tool_id(str(p)))


if __name__ == "__main__":
    unittest.main()
