"""Readers on files the test writes itself, resampling, split; real data when present."""
import gzip
import math
import os
import tempfile
import unittest
from pathlib import Path

import numpy as np

from impa import data as D

try:
    import netCDF4
except ImportError:  # pragma: no cover
    netCDF4 = None
try:
    from PIL import Image
except ImportError:  # pragma: no cover
    Image = None


def mp_dbz(rate):
    return 10.0 * math.log10(200.0 * rate ** 1.6)


class TestConversions(unittest.TestCase):
    def test_rate_dbz_roundtrip(self):
        r = np.array([0.0, 0.5, 1.0, 10.0, 100.0, np.nan])
        d = D.rate_to_dbz(r)
        self.assertEqual(d[0], 0.0)
        self.assertAlmostEqual(float(d[2]), 10 * math.log10(200), places=4)  # 23.01 dBZ
        self.assertAlmostEqual(float(d[3]), mp_dbz(10.0), places=4)
        self.assertTrue(np.isnan(d[5]))
        back = D.dbz_to_rate(d[1:5])
        np.testing.assert_allclose(back, r[1:5], rtol=1e-4)


@unittest.skipIf(netCDF4 is None, "netCDF4 missing")
class TestBom(unittest.TestCase):
    def _write(self, path, period_s, ydesc=True):
        with netCDF4.Dataset(path, "w") as ds:
            ds.createDimension("y", 3)
            ds.createDimension("x", 2)
            ds.createVariable("valid_time", "i8")[...] = 1604102400
            ds.createVariable("start_time", "i8")[...] = 1604102400 - period_s
            y = ds.createVariable("y", "f8", ("y",))
            y[:] = [1.0, 0.0, -1.0] if ydesc else [-1.0, 0.0, 1.0]
            ds.createVariable("x", "f8", ("x",))[:] = [0.0, 1.0]
            p = ds.createVariable("precipitation", "i2", ("y", "x"), fill_value=-1)
            p.scale_factor = 0.05
            p.add_offset = 0.0
            p.set_auto_maskandscale(False)
            p[:] = np.array([[0, 20], [200, -1], [2000, 1]], dtype=np.int16)

    def test_c10_values(self):
        with tempfile.TemporaryDirectory() as d:
            f = Path(d) / "a.nc"
            self._write(f, 600)
            dbz, t = D.read_bom(f)
        self.assertEqual(t, 1604102400)
        self.assertEqual(dbz.shape, (3, 2))
        self.assertEqual(dbz[0, 0], 0.0)                                  # dry
        self.assertAlmostEqual(float(dbz[0, 1]), mp_dbz(6 * 1.0), places=3)   # 1 mm in 10 min
        self.assertAlmostEqual(float(dbz[1, 0]), mp_dbz(6 * 10.0), places=3)
        self.assertTrue(np.isnan(dbz[1, 1]))                              # fill
        self.assertAlmostEqual(float(dbz[2, 0]), mp_dbz(600.0), places=3)

    def test_cscn_6min_and_orientation(self):
        with tempfile.TemporaryDirectory() as d:
            f = Path(d) / "b.nc"
            self._write(f, 360, ydesc=False)
            dbz, _ = D.read_bom(f)
        # y ascending in the file: rows flipped to north-up
        self.assertAlmostEqual(float(dbz[0, 0]), mp_dbz(10 * 100.0), places=3)
        self.assertAlmostEqual(float(dbz[2, 1]), mp_dbz(10 * 1.0), places=3)


class TestFmi(unittest.TestCase):
    def test_pgm(self):
        pv = np.array([[0, 64, 128], [150, 255, 200]], dtype=np.uint8)
        head = (b"P5\n# obstime 201609281445\n# param CorrectedReflectivity\n"
                b"3 2\n255\n")
        with tempfile.TemporaryDirectory() as d:
            f = Path(d) / "x.pgm.gz"
            with gzip.open(f, "wb") as g:
                g.write(head + pv.tobytes())
            dbz, t = D.read_fmi_pgm(f)
        self.assertEqual(t, 1475073900)
        np.testing.assert_allclose(dbz[0], [0.0, 0.0, 32.0])
        self.assertEqual(float(dbz[1, 0]), 43.0)
        self.assertTrue(np.isnan(dbz[1, 1]))
        self.assertEqual(float(dbz[1, 2]), 68.0)


@unittest.skipIf(Image is None, "PIL missing")
class TestMch(unittest.TestCase):
    def test_gif(self):
        dn = np.array([[0, 1, 100], [150, 255, 252]], dtype=np.uint8)
        im = Image.fromarray(dn, mode="P")
        im.putpalette([i for i in range(256) for _ in range(3)])
        with tempfile.TemporaryDirectory() as d:
            f = Path(d) / "AQC161932045V_00005.801.gif"
            im.save(f, optimize=False)  # keep the palette indices as written
            dbz, t = D.read_mch_gif(f)
        # 2016 day 193 = 11 July, 20:45 UTC
        self.assertEqual(t, 1468269900)
        self.assertEqual(float(dbz[0, 0]), 0.0)
        self.assertEqual(float(dbz[0, 1]), 0.0)
        self.assertEqual(float(dbz[1, 2]), 0.0)
        self.assertTrue(np.isnan(dbz[1, 1]))
        r = 12.0 * (10 ** ((150 - 71.5) / 20.0) / 316.0) ** (1 / 1.5)
        self.assertAlmostEqual(float(dbz[1, 0]), mp_dbz(r), places=3)
        self.assertGreater(float(dbz[1, 0]), 50.0)


@unittest.skipIf(netCDF4 is None, "netCDF4 missing")
class TestKnmi(unittest.TestCase):
    def test_hdf5(self):
        with tempfile.TemporaryDirectory() as d:
            f = Path(d) / "RAD_NL25_RAP_5min_201008260000.h5"
            with netCDF4.Dataset(f, "w") as ds:
                g = ds.createGroup("image1")
                g.createDimension("r", 1)
                g.createDimension("c", 3)
                v = g.createVariable("image_data", "u2", ("r", "c"))
                v[:] = np.array([[0, 100, 65535]], dtype=np.uint16)
                cal = g.createGroup("calibration")
                cal.calibration_formulas = "GEO=0.01*PV+0.0"
                cal.calibration_missing_data = 65535
            dbz, t = D.read_knmi(f)
        self.assertEqual(t, 1282780800)
        self.assertEqual(float(dbz[0, 0]), 0.0)
        self.assertAlmostEqual(float(dbz[0, 1]), mp_dbz(12.0), places=3)  # 1 mm in 5 min
        self.assertTrue(np.isnan(dbz[0, 2]))

    def test_reflectivity_composite_2021(self):
        """knmi-2021: uint8 dBZ = 0.5 PV - 32; PV 0 (no echo or missing) is dry,
        255 (outside the image) no data."""
        with tempfile.TemporaryDirectory() as d:
            f = Path(d) / "202102012005.hf5"
            with netCDF4.Dataset(f, "w") as ds:
                g = ds.createGroup("image1")
                g.createDimension("r", 1)
                g.createDimension("c", 5)
                v = g.createVariable("image_data", "u1", ("r", "c"))
                v[:] = np.array([[0, 40, 64, 164, 255]], dtype=np.uint8)
                cal = g.createGroup("calibration")
                cal.calibration_formulas = "GEO = 0.500000 * PV + -32.000000"
                cal.calibration_missing_data = 0
                cal.calibration_out_of_image = 255
            dbz, t = D.read_knmi2021(f)
        self.assertEqual(t, 1612209900)  # 2021-02-01 20:05 UTC
        self.assertEqual(dbz[0, :4].tolist(), [0.0, 0.0, 0.0, 50.0])
        self.assertTrue(np.isnan(dbz[0, 4]))
        self.assertEqual(dbz.dtype, np.float32)


class TestMeteonetOpera(unittest.TestCase):
    def test_regrid_latlon_to_km(self):
        """0.01 deg at 45 N -> 1 km: extent kept in km, a field linear in km is
        reproduced, north-up rows, NaN only where most of the weight is missing."""
        lat = np.linspace(46.0, 45.0, 101)     # rows north to south, 0.01 deg
        lon = np.linspace(3.0, 4.0, 101)
        lats, lons = np.meshgrid(lat, lon, indexing="ij")
        kmy = 111.195 * 0.01
        f = ((46.0 - lats) / 0.01 * kmy).astype(np.float32)   # km south of the top row
        f[60:, 90:] = np.nan
        g = D.regrid_latlon_km(f[None], lats, lons, 1.0)[0]
        self.assertEqual(g.shape[0], int(round(100 * kmy)) + 1)
        self.assertEqual(g.shape[1], int(round(100 * 111.195 * 0.01 * math.cos(math.radians(45.5)))) + 1)
        col = g[:50, 5]
        np.testing.assert_allclose(col, np.arange(50, dtype=np.float32), atol=1e-3)
        self.assertTrue(np.isnan(g[-1, -1]))
        self.assertTrue(np.isfinite(g[0, -1]))
        # south-to-north rows give the same north-up picture
        g2 = D.regrid_latlon_km(f[None, ::-1], lats[::-1], lons, 1.0)[0]
        np.testing.assert_allclose(g2, g, atol=1e-4)

    def test_meteonet_units_missing_and_clock(self):
        import datetime as dt
        with tempfile.TemporaryDirectory() as d:
            radar = Path(d) / "pysteps-data" / "radar"
            radar.mkdir(parents=True)
            mn = Path(d) / "meteonet"
            mn.mkdir()
            t = [dt.datetime(2016, 8, 28, 10, 0) + dt.timedelta(minutes=5 * k) for k in range(5)]
            data = np.zeros((5, 11, 12), np.int16)
            data[:, 3:8, 4:9] = 100      # 1 mm in 5 min -> 12 mm/h
            data[:, 0, :] = -1           # missing
            np.savez(mn / "rainfall_SE_2016_08.3.npz", data=data, dates=np.array(t, dtype=object),
                     miss_dates=np.array([], dtype=object))
            lats, lons = np.meshgrid(np.linspace(44.10, 44.0, 11), np.linspace(5.0, 5.11, 12),
                                     indexing="ij")
            np.savez(mn / "radar_coords_SE.npz", lats=lats, lons=lons)
            ev = D.read_meteonet("SE", "2016-08-28 10:00", "2016-08-28 10:20", root=radar)
        self.assertEqual(ev.dbz.shape[0], 3)                  # 10:00, 10:10, 10:20
        self.assertTrue(np.all(np.diff(ev.times) == 600))
        self.assertAlmostEqual(float(np.nanmax(ev.dbz)), mp_dbz(12.0), places=3)
        self.assertTrue(np.isnan(ev.dbz[:, 0]).all())         # the missing row
        self.assertEqual(float(np.nanmin(ev.dbz)), 0.0)

    @unittest.skipIf(netCDF4 is None, "netCDF4 missing")
    def test_odim_composite(self):
        with tempfile.TemporaryDirectory() as d:
            f = Path(d) / "T_PABV21_C_EUOC_20241126011000.hdf"
            with netCDF4.Dataset(f, "w") as ds:
                ds.createGroup("what").setncatts({"date": "20241126", "time": "011000"})
                g = ds.createGroup("dataset1").createGroup("data1")
                g.createDimension("r", 1)
                g.createDimension("c", 4)
                v = g.createVariable("data", "f8", ("r", "c"))
                v[:] = np.array([[-9999000.0, -8888000.0, -5.0, 47.5]])
                g.createGroup("what").setncatts({"quantity": "DBZH", "gain": 1.0, "offset": 0.0,
                                                 "nodata": -9999000.0, "undetect": -8888000.0})
            dbz, t = D.read_odim_composite(f)
        self.assertEqual(t, 1732583400)  # 2024-11-26 01:10 UTC
        self.assertTrue(np.isnan(dbz[0, 0]))
        self.assertEqual(dbz[0, 1:].tolist(), [0.0, 0.0, 47.5])

    def test_opera_crops(self):
        fr = np.zeros((3, 64, 96), np.float32)
        fr[:, :, :8] = np.nan            # no data strip
        fr[:, 40:44, 70:74] = 50.0       # the storm
        fr[:, 5:9, 20:24] = 25.0         # weaker echo
        c = D.opera_crops(fr, size=32, n=3)
        self.assertEqual(c[0], (32, 64))
        self.assertIn((0, 16), c)
        for y, x in c:
            self.assertGreaterEqual(x, 8)  # the no-data strip is never cut in


@unittest.skipIf(netCDF4 is None, "netCDF4 missing")
class TestKnmi2021(unittest.TestCase):
    def _write(self, path, pv, formula="GEO = 0.500000 * PV + -32.000000"):
        with netCDF4.Dataset(path, "w") as ds:
            g = ds.createGroup("image1")
            g.createDimension("r", pv.shape[0])
            g.createDimension("c", pv.shape[1])
            v = g.createVariable("image_data", "u1", ("r", "c"))
            v[:] = pv
            cal = g.createGroup("calibration")
            cal.calibration_formulas = formula

    def test_uint8_dbz(self):
        with tempfile.TemporaryDirectory() as d:
            f = Path(d) / "202102062010.hf5"
            self._write(f, np.array([[0, 64, 130, 255]], dtype=np.uint8))
            dbz, t = D.read_knmi2021(f)
        self.assertEqual(t, 1612642200)  # 2021-02-06 20:10 UTC
        self.assertEqual(float(dbz[0, 0]), 0.0)  # no echo
        self.assertEqual(float(dbz[0, 1]), 0.0)  # 0 dBZ
        self.assertEqual(float(dbz[0, 2]), 33.0)
        self.assertTrue(np.isnan(dbz[0, 3]))  # outside the image

    def test_evenings_with_echo_joined_by_a_gap(self):
        with tempfile.TemporaryDirectory() as d:
            for day, pv in (("20210101", 120), ("20210102", 0), ("20210103", 110)):
                (Path(d) / day).mkdir()
                for k in range(6):  # 20:05 .. 20:30 every 5 min
                    hm = 2005 + 5 * k
                    name = f"{day}{hm // 100:02d}{hm % 100:02d}.hf5"
                    self._write(Path(d) / day / name, np.full((2, 2), pv, np.uint8))
            ev = D.load_knmi2021(Path(d))
        # each wet evening: 20:10, 20:20, 20:30 on the 10-min clock; the dry one left out
        self.assertEqual(ev.dbz.shape, (7, 2, 2))
        self.assertTrue(np.isnan(ev.dbz[3]).all())
        self.assertEqual(float(ev.dbz[0, 0, 0]), 28.0)
        self.assertEqual(float(ev.dbz[4, 0, 0]), 23.0)
        self.assertEqual(len(ev.times), 7)


class TestMeteonet(unittest.TestCase):
    def test_runs_of_five_minute_frames(self):
        import datetime as dt
        with tempfile.TemporaryDirectory() as d:
            t0 = dt.datetime(2016, 8, 28, 10, 0)
            dates = [t0 + dt.timedelta(minutes=5 * k) for k in range(12)]  # one run of 12
            dates += [t0 + dt.timedelta(hours=3, minutes=5 * k) for k in range(3)]  # too short
            data = np.zeros((15, 2, 3), np.int16)
            data[:, 0, 0] = 100   # 1 mm in 5 min = 12 mm/h
            data[:, 1, 2] = -1    # missing
            np.savez(Path(d) / "rainfall_SE_2016_08.3.npz", data=data,
                     dates=np.array(dates, dtype=object), miss_dates=np.array([], dtype=object))
            lat, lon = np.meshgrid(np.array([45.0, 44.99]), np.array([5.0, 5.01, 5.02]),
                                   indexing="ij")
            np.savez(Path(d) / "radar_coords_SE.npz", lats=lat, lons=lon)
            runs, km = D.load_meteonet_runs(Path(d), "SE", min_frames=10)
        self.assertEqual([r.shape for r in runs], [(12, 2, 3)])
        self.assertAlmostEqual(float(runs[0][0, 0, 0]), mp_dbz(12.0), places=1)
        self.assertEqual(float(runs[0][0, 0, 1]), 0.0)
        self.assertTrue(np.isnan(runs[0][0, 1, 2]))
        self.assertAlmostEqual(km, float(np.sqrt(1.112 * 1.112 * np.cos(np.deg2rad(44.995)))), 2)


class TestResampleSplit(unittest.TestCase):
    def test_5min_to_10min(self):
        t = [600 * 10 + 300 * k for k in range(9)]  # starts on the 10-min clock
        clock, idx = D.resample_times(t, 10, tol_s=0)
        self.assertEqual(list(idx), [0, 2, 4, 6, 8])
        self.assertTrue(np.all(np.diff(clock) == 600))

    def test_6min_nearest(self):
        t = [36000 + 360 * k for k in range(11)]  # 10:00 .. 11:00 every 6 min
        clock, idx = D.resample_times(t, 10, tol_s=180)
        self.assertEqual(len(clock), 7)
        # 10:10 -> 10:12 (k=2), 10:20 -> 10:18 (k=3), 10:30 exact (k=5)
        self.assertEqual(list(idx[:4]), [0, 2, 3, 5])

    def test_split_gap_and_no_leak(self):
        L = 16
        n = {e.name: (144 if e.name.startswith("bom-bris") else 40) for e in D.EVENTS}
        blocks = D.make_blocks(n, 4, 12)
        bris = sorted([b for b in blocks if b.event == "bom-brisbane-20201031"], key=lambda b: b.start)
        self.assertEqual([b.split for b in bris], ["train", "test", "train"])
        for a, b in zip(bris, bris[1:]):
            self.assertGreaterEqual(b.start - a.stop, L)
        train_frames = {f for b in bris if b.split == "train" for s in D.block_starts(b, L)
                        for f in range(s, s + L)}
        test_frames = {f for b in bris if b.split == "test" for s in D.block_starts(b, L)
                       for f in range(s, s + L)}
        self.assertFalse(train_frames & test_frames)
        splits = {b.event: b.split for b in blocks if b.event != "bom-brisbane-20201031"}
        self.assertEqual(splits["mch-20160711"], "test")
        self.assertEqual(splits["mch-20150515"], "val")

    def test_leave_one_event_out_fold(self):
        """--holdout-event: the event is one test block, nothing else is held out,
        and no reversed copy of it exists."""
        n = {e.name: (144 if e.name.startswith("bom-bris") else 40) for e in D.EVENTS}
        held = "bom-brisbane-20201031"
        blocks = D.make_blocks(n, 4, 12, holdout=held)
        self.assertEqual([(b.split, b.start, b.stop) for b in blocks if b.event == held],
                         [("test", 0, 144)])
        others = [b for b in blocks if b.event != held]
        self.assertEqual({b.split for b in others}, {"train"})
        self.assertEqual({b.event: (b.start, b.stop) for b in others},
                         {k: (0, v) for k, v in n.items() if k != held})
        rng = np.random.default_rng(2)
        events = {k: rng.uniform(0, 60, (v, 3, 3)).astype(np.float32) for k, v in n.items()}
        rev = D.reversed_events(events, 4, 12, holdout=held)
        self.assertNotIn(held + D.REVERSED, rev)
        # the default split's held-out events train in this fold, forward and backward
        self.assertIn("mch-20160711" + D.REVERSED, rev)
        rb = D.make_blocks({k: v.shape[0] for k, v in rev.items()}, 4, 12, holdout=held)
        self.assertEqual({b.split for b in rb}, {"train"})

    def test_reversed_events_read_training_frames_only(self):
        L = 16
        rng = np.random.default_rng(1)
        # Asymmetric Brisbane length, so a mirroring error cannot hide.
        n = {e.name: (150 if e.name.startswith("bom-bris") else 40) for e in D.EVENTS}
        events = {k: rng.uniform(0, 60, (v, 3, 3)).astype(np.float32) for k, v in n.items()}
        rev = D.reversed_events(events, 4, 12)
        # Held-out-only events get no reversed copy.
        self.assertNotIn("mch-20160711" + D.REVERSED, rev)
        self.assertNotIn("mch-20150515" + D.REVERSED, rev)
        name = "bom-brisbane-20201031"
        r = rev[name + D.REVERSED]
        np.testing.assert_array_equal(r[0], events[name][-1])
        np.testing.assert_array_equal(r[-1], events[name][0])
        blocks = D.make_blocks({**n, **{k: v.shape[0] for k, v in rev.items()}}, 4, 12)
        orig_train = {f for b in blocks if b.event == name and b.split == "train"
                      for s in D.block_starts(b, L) for f in range(s, s + L)}
        rb = [b for b in blocks if b.event == name + D.REVERSED]
        self.assertTrue(rb)
        self.assertTrue(all(b.split == "train" for b in rb))
        # Every frame a reversed sample reads is a frame of an original training sample.
        m = n[name]
        read = {m - 1 - f for b in rb for s in D.block_starts(b, L) for f in range(s, s + L)}
        self.assertTrue(read)
        self.assertLessEqual(read, orig_train)


class TestRealData(unittest.TestCase):
    def setUp(self):
        self.root = D.shared_data_root()
        if self.root is None:
            self.skipTest("radar sample data absent (IMPA_SHARED_DATA)")

    def test_one_file_each(self):
        checks = [("bom/prcp-c10/66/2020/10/31/66_20201031_060000.prcp-c10.nc", D.read_bom, (512, 512), 45.0),
                  ("fmi/pgm/20160928/201609281445_fmi.radar.composite.lowest_FIN_SUOMI1.pgm.gz",
                   D.read_fmi_pgm, (1226, 760), 20.0),
                  ("mch/20160711/AQC161932045V_00005.801.gif", D.read_mch_gif, (640, 710), 40.0),
                  ("KNMI/2010/08/RAD_NL25_RAP_5min_201008260300.h5", D.read_knmi, (765, 700), 20.0)]
        for rel, fn, shape, min_max in checks:
            p = self.root / rel
            if not p.exists():
                self.skipTest(f"{rel} absent")
            dbz, t = fn(p)
            self.assertEqual(dbz.shape, shape, rel)
            self.assertGreater(float(np.nanmax(dbz)), min_max, rel)
            self.assertLess(float(np.nanmax(dbz)), 75.0, rel)
            self.assertGreaterEqual(float(np.nanmin(dbz)), 0.0, rel)
            self.assertGreater(t, 1.2e9)

    def test_knmi_2021_evening(self):
        """A knmi-2021 evening on the 10-min clock: 18 frames 20:10-23:00 UTC (3
        sample starts), 765 x 700, the border outside the image masked."""
        if not (self.root.parent.parent / "knmi-2021" / "20210104").is_dir():
            self.skipTest("knmi-2021 absent")
        ev = D.load_event("knmi-20210104", self.root, cache_dir=None)
        self.assertEqual(ev.dbz.shape, (18, 765, 700))
        self.assertEqual(int(ev.times[0] % 86400), 20 * 3600 + 600)
        self.assertTrue(np.all(np.diff(ev.times) == 600))
        frac_nan = float(np.isnan(ev.dbz).mean())
        self.assertGreater(frac_nan, 0.05)
        self.assertLess(frac_nan, 0.5)
        self.assertGreater(float(np.nanmax(ev.dbz)), 30.0)
        self.assertNotIn("knmi-20210104", [e.name for e in D.EVENTS])  # not trained on

    def test_meteonet_and_opera(self):
        """The MeteoNet SE convective run: 8 frames at 10 min on 1 km; OPERA: 7 frames
        at 10 min, 512 px crops with >= 35 dBZ echo."""
        base = D.data_root(self.root)
        if not (base / "meteonet").is_dir():
            self.skipTest("meteonet absent")
        ev = D.read_meteonet(root=self.root)
        self.assertEqual(ev.dbz.shape[0], 8)
        self.assertGreater(float(np.nanmax(ev.dbz)), 45.0)
        self.assertLess(float(np.nanmax(ev.dbz)), 75.0)
        if not (self.root / "OPERA" / "20241126" / "CIRRUS").is_dir():
            self.skipTest("OPERA absent")
        # one file (the hour takes minutes to read on a loaded machine)
        f = sorted((self.root / "OPERA" / "20241126" / "CIRRUS").glob("*.hdf"))[6]
        dbz, t = D.read_odim_composite(f)
        self.assertEqual(dbz.shape, (4400, 3800))
        self.assertEqual(t % 3600, 1800)
        self.assertGreater(float(np.isnan(dbz).mean()), 0.2)  # sea and outside the network
        for y, x in D.opera_crops(dbz[None], size=512, n=2):
            self.assertGreater(int((dbz[y:y + 512, x:x + 512] >= 35).sum()), 0)


if __name__ == "__main__":
    unittest.main()
