#!/usr/bin/python3
"""tools/forecast_png.py on an archive laid out as include/impa/archive.h says
(reflectivity(lead_time, y, x) dBZ, lead_time in minutes, forecast_reference_time
= issue, time = valid time), built
here from numpy, with an observed scan in the simulator's layout. Checks the PNG
exists, has the 4-panel shape, carries the radar colours (a >= 45 dBZ cell is
drawn in the orange/red steps) and that a missing lead becomes a note, not a
crash."""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import unittest

try:
    import numpy as np
    import netCDF4
    import matplotlib
except ImportError as e:  # meson's skip code: the tool's dependencies are absent
    print("SKIP: %s" % e)
    sys.exit(77)

matplotlib.use("Agg")
import matplotlib.image as mpimg  # noqa: E402

SRC = os.environ.get("IMPA_SOURCE_ROOT", os.path.join(os.path.dirname(__file__), "..", ".."))
TOOL = os.path.join(SRC, "tools", "forecast_png.py")
NY, NX = 64, 80


def storm(shift: float) -> np.ndarray:
    yy, xx = np.mgrid[0:NY, 0:NX]
    r2 = (xx - 20 - shift) ** 2 + (yy - 32) ** 2
    z = 10 ** 2.0 + 10 ** 5.6 * np.exp(-r2 / (2 * 5.0 ** 2))
    return (10 * np.log10(z)).astype(np.float32)


def write_archive(path: str, n_leads: int, inputs: str) -> None:
    with netCDF4.Dataset(path, "w") as ds:
        ds.createDimension("lead_time", n_leads)
        ds.createDimension("y", NY)
        ds.createDimension("x", NX)
        lt = ds.createVariable("lead_time", "f4", ("lead_time",))
        lt.units = "minutes"
        lt[:] = np.arange(1, n_leads + 1) * 10
        t = ds.createVariable("forecast_reference_time", "f8", ())
        t.units = "seconds since 1970-01-01 00:00:00"
        t[...] = 1780315200.0
        v = ds.createVariable("time", "f8", ("lead_time",))
        v.units = "seconds since 2026-06-01 12:00:00"
        v[:] = np.arange(1, n_leads + 1) * 600.0
        x = ds.createVariable("x", "f8", ("x",))
        x.units = "m"
        x[:] = np.arange(NX) * 1000.0
        y = ds.createVariable("y", "f8", ("y",))
        y.units = "m"
        y[:] = np.arange(NY)[::-1] * 1000.0
        r = ds.createVariable("reflectivity", "f4", ("lead_time", "y", "x"), fill_value=np.nan)
        r.units = "dBZ"
        r[:] = np.stack([storm(2.0 * (k + 1)) for k in range(n_leads)])
        ds.method = "extrapolation"
        ds.inputs = inputs


def write_scan(path: str) -> None:
    with netCDF4.Dataset(path, "w") as ds:
        ds.createDimension("y", NY)
        ds.createDimension("x", NX)
        x = ds.createVariable("x", "f8", ("x",))
        x.units = "m"
        x[:] = np.arange(NX) * 1000.0
        y = ds.createVariable("y", "f8", ("y",))
        y.units = "m"
        y[:] = np.arange(NY)[::-1] * 1000.0
        r = ds.createVariable("reflectivity", "i2", ("y", "x"), fill_value=-32768)
        r.units = "dBZ"
        r.standard_name = "equivalent_reflectivity_factor"
        r.scale_factor = np.float32(0.01)
        r.add_offset = np.float32(0.0)
        r[:] = storm(0.0)


class ForecastPng(unittest.TestCase):
    def setUp(self) -> None:
        self.tmp = tempfile.TemporaryDirectory()
        self.d = self.tmp.name

    def tearDown(self) -> None:
        self.tmp.cleanup()

    def run_tool(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, TOOL, *args], capture_output=True, text=True,
                              timeout=60)

    def test_four_panels_with_observed_from_inputs(self) -> None:
        scan = os.path.join(self.d, "sim_20260601T120000Z.nc")
        write_scan(scan)
        arch = os.path.join(self.d, "impa_20260601T120000Z.nc")
        write_archive(arch, 12, "%s/sim_20260601T115000Z.nc 2026-06-01T11:50:00Z, %s 2026-06-01T12:00:00Z"
                      % (self.d, scan))
        png = os.path.join(self.d, "f.png")
        p = self.run_tool("--archive", arch, "--out", png)
        self.assertEqual(p.returncode, 0, p.stderr)
        img = mpimg.imread(png)
        h, w = img.shape[:2]
        self.assertGreater(w, 3 * h)  # four panels side by side
        rgb = img[..., :3]
        # the 50..55 dBZ step (#ff1e00) appears: the cell core was drawn
        red = (rgb[..., 0] > 0.95) & (rgb[..., 1] < 0.2) & (rgb[..., 2] < 0.1)
        self.assertGreater(int(red.sum()), 50)

    def test_missing_lead_is_a_note(self) -> None:
        arch = os.path.join(self.d, "impa_short.nc")
        write_archive(arch, 6, "")
        png = os.path.join(self.d, "g.png")
        p = self.run_tool("--archive", arch, "--out", png, "--leads", "30,60,120")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(os.path.getsize(png) > 1000)

    def test_bad_archive_fails_cleanly(self) -> None:
        p = self.run_tool("--archive", os.path.join(self.d, "nope.nc"), "--out",
                          os.path.join(self.d, "h.png"))
        self.assertEqual(p.returncode, 1)
        self.assertIn("forecast_png", p.stderr)


if __name__ == "__main__":
    unittest.main()
