"""impa.train end to end on synthetic cells: 3 steps, finite loss, resume."""
import math
import tempfile
import unittest
from pathlib import Path

try:
    import torch
except ImportError:  # pragma: no cover
    torch = None


@unittest.skipIf(torch is None, "torch missing")
class TestTrainSmoke(unittest.TestCase):
    def test_three_steps_and_resume(self):
        from impa import train

        with tempfile.TemporaryDirectory() as d:
            out = Path(d) / "run"
            common = ["--out", str(out), "--synthetic", "--crop", "32", "--batch", "2",
                      "--val-crop", "32", "--no-export", "--quiet", "--seed", "3"]
            self.assertEqual(train.main(common + ["--steps", "3"]), 0)
            ck = torch.load(out / "last.pt")
            self.assertEqual(ck["state"]["step"], 3)
            self.assertTrue(math.isfinite(ck["state"]["last_loss"]))
            self.assertTrue((out / "best.pt").exists())
            w3 = {k: v.clone() for k, v in ck["model"].items()}

            # Resume with the same step limit: nothing more to do, weights kept.
            self.assertEqual(train.main(common + ["--steps", "3", "--resume"]), 0)
            ck = torch.load(out / "last.pt")
            self.assertEqual(ck["state"]["step"], 3)
            for k, v in ck["model"].items():
                self.assertTrue(torch.equal(v, w3[k]), k)

            # Resume further: continues from step 3, weights move on.
            self.assertEqual(train.main(common + ["--steps", "5", "--resume"]), 0)
            ck = torch.load(out / "last.pt")
            self.assertEqual(ck["state"]["step"], 5)
            self.assertTrue(math.isfinite(ck["state"]["last_loss"]))
            self.assertFalse(torch.equal(ck["model"]["readout.weight"], w3["readout.weight"]))
            self.assertEqual(len(ck["state"]["history"]), 4)  # step 0, then one per run

    def test_sampling_prefers_convection(self):
        import numpy as np
        from impa import train
        from impa.config import ImpaConfig

        ev = train.synthetic_events(0, n=40, size=64)
        splits = train.build_splits(ev, 4, 12)
        w = splits["train"].weights
        self.assertAlmostEqual(float(w.sum()), 1.0, places=9)
        seq = np.zeros((16, 64, 64), dtype=np.float32)
        seq[3, 40:44, 50:54] = 50.0
        rng = np.random.default_rng(0)
        hits = 0
        for _ in range(200):
            y0, x0 = train.pick_crop(seq, 4, 16, rng)
            hits += (y0 <= 40 < y0 + 16) and (x0 <= 50 < x0 + 16)
        # half the crops target >= 35/45 dBZ, the other half are uniform
        self.assertGreater(hits, 90)
        self.assertLess(hits, 200)


if __name__ == "__main__":
    unittest.main()
