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


    def test_advection_variant(self):
        """advection = 1: the batch carries the C extrapolation's frames, the
        untrained network (zero readout) forecasts exactly them, and training
        runs a few steps and exports a file the loader reads back."""
        import numpy as np
        from impa import advect, train, weights as W
        from impa.config import ImpaConfig
        from impa.evaluate import find_tool
        from impa.model import ImpaNet, normalise_field

        tool = find_tool("impa-extrapolate", None, "nowcast")
        if tool is None:
            self.skipTest("impa-extrapolate not built")
        cfg = ImpaConfig(advection=1, t_in=4, t_out=12)
        ev = train.synthetic_events(0, n=40, size=64)
        ex = advect.all_extrapolations(ev, 4, 12, tool, threads=1, cache_dir=None, quiet=True)
        name = next(iter(ev))
        # entry s is the tool's extrapolation from frames s .. s+3
        direct = advect.extrapolate(tool, ev[name][5:9][None], 12, 1)[0]
        np.testing.assert_allclose(np.asarray(ex[name][5], np.float32), direct.astype(np.float16),
                                   equal_nan=True)
        splits = train.build_splits(ev, 4, 12, ex)
        x, y, m = train.make_batch(splits["train"], cfg, 2, 32, np.random.default_rng(1))
        self.assertEqual(tuple(x.shape), (2, 16, 4, 32, 32))
        model = ImpaNet(cfg)
        torch.nn.init.zeros_(model.readout.weight)
        torch.nn.init.zeros_(model.readout.bias)
        with torch.no_grad():
            out = model(x)
        self.assertTrue(torch.equal(out, x[:, 4:, 0]))
        # and x[:, 4:, 0] is the normalised extrapolation of a real sample
        seq = splits["train"].sequence(name, 5, 16)
        self.assertEqual(seq.shape[0], 28)
        np.testing.assert_allclose(seq[16:], np.asarray(ex[name][5], np.float32), equal_nan=True)
        xin = train.network_input(seq[None], cfg)
        np.testing.assert_allclose(xin[0, 4:, 0], normalise_field(seq[16:], 0, cfg))

        with tempfile.TemporaryDirectory() as d:
            out_dir = Path(d) / "run"
            self.assertEqual(train.main(["--out", str(out_dir), "--synthetic", "--advection",
                                         "--extrapolate", tool, "--crop", "32", "--batch", "2",
                                         "--val-crop", "32", "--quiet", "--seed", "3",
                                         "--steps", "2"]), 0)
            _, c2 = W.load(str(out_dir / "model.nc"))
            self.assertEqual(c2.advection, 1)

    def test_reverse_time_and_pack(self):
        """--reverse-time doubles the training starts with reversed events; a
        pack written from events trains the same loop (--pack, device cpu)."""
        import json
        from impa import pack as P
        from impa import train

        with tempfile.TemporaryDirectory() as d:
            common = ["--synthetic", "--crop", "32", "--batch", "2", "--val-crop", "32",
                      "--no-export", "--quiet", "--seed", "3", "--steps", "1"]
            self.assertEqual(train.main(["--out", f"{d}/fwd"] + common), 0)
            self.assertEqual(train.main(["--out", f"{d}/rev", "--reverse-time"] + common), 0)
            fwd = json.loads(Path(f"{d}/fwd/meta.json").read_text())["n_train_starts"]
            rev = json.loads(Path(f"{d}/rev/meta.json").read_text())["n_train_starts"]
            self.assertEqual(rev, 2 * fwd)

            P.write_pack(Path(d) / "pack", train.synthetic_events(3), None, 4, 12, quiet=True)
            self.assertEqual(train.main(["--out", f"{d}/packed", "--pack", f"{d}/pack",
                                         "--device", "cpu"] + common[1:]), 0)
            ck = train.load_checkpoint(Path(d) / "packed" / "last.pt")
            self.assertEqual(ck["state"]["step"], 1)
            self.assertTrue(math.isfinite(ck["state"]["last_loss"]))

    def test_scheme_reaches_tool_cache_and_model(self):
        """--scheme: impa-extrapolate is run with that scheme and the event's grid
        spacing (a reversed event has its original's), its frames are cached apart
        from impa-extrap-1's, and the exported model records the scheme in
        'extrapolation' (what the daemon checks); a pack of another scheme is refused."""
        import numpy as np
        import netCDF4
        from impa import advect, data as D, train
        from impa import pack as P
        from impa.evaluate import find_tool

        self.assertEqual(advect.scheme_args("impa-extrap-1", "bom-brisbane-20201031"), [])
        self.assertEqual(advect.scheme_args("impa-extrap-3", "bom-brisbane-20201031" + D.REVERSED),
                         ["--scheme", "impa-extrap-3", "--pixel-km", "0.5", "--step-min", "10"])
        self.assertEqual(advect.scheme_args("impa-extrap-3", "mch-20160711")[3], "1.0")
        with self.assertRaises(SystemExit):
            advect.scheme_args("impa-extrap-9", "mch-20160711")
        tool = find_tool("impa-extrapolate", None, "nowcast")
        if tool is None:
            self.skipTest("impa-extrapolate not built")
        ev = train.synthetic_events(0, n=24, size=64)
        name = next(iter(ev))
        one = {name: ev[name]}
        with tempfile.TemporaryDirectory() as d:
            e1 = advect.all_extrapolations(one, 4, 12, tool, 1, Path(d), True)[name]
            e3 = advect.all_extrapolations(one, 4, 12, tool, 1, Path(d), True,
                                           scheme="impa-extrap-3")[name]
            self.assertEqual(len(list(Path(d).glob("*.npy"))), 2)
            self.assertFalse(np.array_equal(np.asarray(e1), np.asarray(e3), equal_nan=True))
            direct = advect.extrapolate(tool, ev[name][2:6][None], 12, 1,
                                        advect.scheme_args("impa-extrap-3", name))[0]
            np.testing.assert_allclose(np.asarray(e3[2], np.float32), direct.astype(np.float16),
                                       equal_nan=True)

            common = ["--synthetic", "--advection", "--extrapolate", tool, "--crop", "32",
                      "--batch", "2", "--val-crop", "32", "--quiet", "--seed", "3", "--steps", "1"]
            self.assertEqual(train.main(["--out", f"{d}/r3", "--scheme", "impa-extrap-3"]
                                        + common), 0)
            self.assertEqual(train.main(["--out", f"{d}/r1"] + common), 0)
            with netCDF4.Dataset(f"{d}/r3/model.nc") as ds:
                self.assertEqual(ds.getncattr("extrapolation"), "impa-extrap-3")
                self.assertIn("--scheme impa-extrap-3", ds.getncattr("training"))
            with netCDF4.Dataset(f"{d}/r1/model.nc") as ds:
                self.assertEqual(ds.getncattr("extrapolation"), "impa-extrap-1")

            P.write_pack(Path(d) / "pack", one, {name: e1}, 4, 12, quiet=True)
            packed = ["--pack", f"{d}/pack", "--advection", "--crop", "32", "--batch", "2",
                      "--val-crop", "32", "--quiet", "--steps", "1", "--no-export"]
            with self.assertRaisesRegex(SystemExit, "holds impa-extrap-1 extrapolations"):
                train.main(["--out", f"{d}/p3", "--scheme", "impa-extrap-3"] + packed)
            self.assertEqual(train.main(["--out", f"{d}/p1"] + packed), 0)


if __name__ == "__main__":
    unittest.main()
