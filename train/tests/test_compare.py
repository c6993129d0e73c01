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
