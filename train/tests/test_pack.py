"""impa.pack: coding, round trip, what stays behind (test frames), sparse starts."""
import tempfile
import unittest
from pathlib import Path

import numpy as np

from impa import data as D
from impa import pack as P


class TestPack(unittest.TestCase):
    def test_coding(self):
        a = np.array([np.nan, -3.0, 0.0, 0.2, 0.3, 44.9, 45.0, 200.0], dtype=np.float32)
        q = P.quantise(a)
        self.assertEqual(q.dtype, np.uint8)
        d = P.dequantise(q)
        self.assertTrue(np.isnan(d[0]))
        np.testing.assert_allclose(d[1:], [0.0, 0.0, 0.0, 0.5, 45.0, 45.0, P.MAX_DBZ])
        # Rounding error of finite values in range is at most half a step.
        x = np.linspace(0, 70, 1001).astype(np.float32)
        self.assertLessEqual(float(np.abs(P.dequantise(P.quantise(x)) - x).max()),
                             P.QUANT_DB / 2 + 1e-6)

    def test_round_trip_and_what_stays_behind(self):
        rng = np.random.default_rng(0)
        n = {e.name: (150 if e.name.startswith("bom-bris") else 40) for e in D.EVENTS}
        events = {k: rng.uniform(0, 40, (v, 6, 5)).astype(np.float32) for k, v in n.items()}
        bris = "bom-brisbane-20201031"
        events[bris][:, :3, :] = 50.0      # Brisbane is severe: keeps every start
        events[bris][3, 1, 1] = np.nan
        L = 16
        extrap = {k: rng.uniform(0, 40, (v.shape[0] - L + 1, 12, 6, 5)).astype(np.float32)
                  for k, v in events.items()}
        with tempfile.TemporaryDirectory() as d:
            P.write_pack(Path(d), events, extrap, 4, 12, quiet=True)
            ev, ex, index = P.read_pack(Path(d))
        # The test-only event stays behind; every other one travels.
        self.assertNotIn("mch-20160711", ev)
        self.assertEqual(set(ev), set(events) - {"mch-20160711"})
        blocks = D.make_blocks(n, 4, 12)
        test = [b for b in blocks if b.event == bris and b.split == "test"][0]
        self.assertTrue(np.isnan(ev[bris][test.start:test.stop]).all())
        keep = np.ones(n[bris], bool)
        keep[test.start:test.stop] = False
        np.testing.assert_allclose(ev[bris][keep], events[bris][keep], atol=P.QUANT_DB / 2 + 1e-6,
                                   equal_nan=True)
        self.assertTrue(np.isnan(ev[bris][3, 1, 1]))
        # Extrapolations: Brisbane's train starts all, none of its test starts.
        train_starts = [s for b in blocks if b.event == bris and b.split == "train"
                        for s in D.block_starts(b, L)]
        self.assertEqual(sorted(ex[bris]), train_starts)
        np.testing.assert_allclose(ex[bris][train_starts[0]], extrap[bris][train_starts[0]],
                                   atol=P.QUANT_DB / 2 + 1e-6)
        # A quiet event keeps every QUIET_STRIDE-th start; validation keeps all.
        knmi = sorted(ex["knmi-20100826"])
        self.assertEqual(knmi, list(range(0, 40 - L + 1, P.QUIET_STRIDE)))
        self.assertEqual(sorted(ex["mch-20150515"]), list(range(0, 40 - L + 1)))
        # Training from the pack draws only from starts that have extrapolations.
        from impa.train import build_splits
        sp = build_splits(ev, 4, 12, ex)
        self.assertTrue(all(s in ex[name] for name, s in sp["train"].starts))
        self.assertIn(("knmi-20100826", 0), sp["train"].starts)
        self.assertNotIn(("knmi-20100826", 1), sp["train"].starts)
        self.assertFalse(sp["test"].starts)

    def test_wrong_format_refused(self):
        with tempfile.TemporaryDirectory() as d:
            (Path(d) / "index.json").write_text('{"format": 99, "quant_db": 0.5, "events": {}}')
            with self.assertRaises(ValueError):
                P.read_pack(Path(d))


if __name__ == "__main__":
    unittest.main()
