#!/usr/bin/python3
"""The forecast archive as the ecosystem reads it: xarray and pyproj, no guessing.

    test_archive_xarray.py ARCHIVE_SAMPLE_EXE

archive_sample writes three archives (CF Albers in km, KNMI polar stereographic
from its proj4 string, the Dutch RD +proj=sterea that has no CF name) and prints
where impa_grid_latlon puts their first and last cells. Checked here:
- xarray: dims (lead_time, y, x); lead_time decoded as a timedelta axis
  (10, 20, 30 min); time a datetime64 coordinate = issue + lead;
  forecast_reference_time a scalar datetime64 coordinate = issue; x/y in metres
  with CF standard names;
- pyproj: CRS.from_wkt(crs_wkt) and, when there is a grid_mapping_name,
  CRS.from_cf of the CF attributes alone, put the first and last cells where
  the C code does (1e-7 deg).
Skips (77) without python3-xarray or python3-pyproj.
"""
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import pyproj
    import xarray as xr
except ImportError as e:  # Debian: python3-xarray, python3-pyproj
    print("SKIP: %s" % e)
    sys.exit(77)

ISSUES = {"bom_": "2020-10-31T06:00:00", "knmi_": "2010-08-26T00:00:00", "rd_": "2024-11-26T01:00:00"}


def check(path, lat0, lon0, lat1, lon1):
    name = os.path.basename(path)
    prefix = name.split("_")[0] + "_"
    issue = np.datetime64(ISSUES[prefix])
    with xr.open_dataset(path) as ds:
        r = ds["reflectivity"]
        assert r.dims == ("lead_time", "y", "x"), r.dims
        assert "lead_time" in ds.indexes, "lead_time is not an axis"
        assert ds["lead_time"].dtype.kind == "m", ds["lead_time"].dtype  # timedelta64
        leads = (ds["lead_time"].values / np.timedelta64(1, "m")).tolist()
        assert leads == [10.0, 20.0, 30.0], leads
        assert "time" in r.coords and "forecast_reference_time" in r.coords, list(r.coords)
        assert ds["forecast_reference_time"].ndim == 0
        assert ds["forecast_reference_time"].values == issue, ds["forecast_reference_time"].values
        assert ds["time"].dtype.kind == "M"
        assert ds["time"].dims == ("lead_time",)
        valid = ds["time"].values
        assert (valid == issue + ds["lead_time"].values).all(), valid
        assert ds["time"].attrs["standard_name"] == "time"
        for axis in ("x", "y"):
            assert ds[axis].attrs["units"] == "m", ds[axis].attrs
            assert ds[axis].attrs["standard_name"] == "projection_%s_coordinate" % axis
        assert np.isnan(r.values[0, 0, 1]) and r.values[0, 0, 0] == -10.0
        crs_attrs = dict(ds[r.attrs["grid_mapping"]].attrs)
        x, y = ds["x"].values, ds["y"].values
    crss = [("crs_wkt", pyproj.CRS.from_wkt(crs_attrs["crs_wkt"]))]
    if "grid_mapping_name" in crs_attrs:
        cf = {k: v for k, v in crs_attrs.items() if k not in ("crs_wkt", "proj4")}
        crss.append(("CF attributes", pyproj.CRS.from_cf(cf)))
    else:
        assert prefix == "rd_", "grid_mapping_name missing"
    for what, crs in crss:
        t = pyproj.Transformer.from_crs(crs, crs.geodetic_crs, always_xy=True)
        lo, la = t.transform([x[0], x[-1]], [y[0], y[-1]])
        err = max(abs(la[0] - lat0), abs(lo[0] - lon0), abs(la[1] - lat1), abs(lo[1] - lon1))
        assert err < 1e-7, "%s: %s puts the cells %g deg away" % (name, what, err)
    print("%s: xarray axes and times, pyproj (%s) agree" % (name, ", ".join(w for w, _ in crss)))


def main():
    exe = sys.argv[1]
    with tempfile.TemporaryDirectory(prefix="impa-xarray-") as d:
        out = subprocess.run([exe, d], check=True, capture_output=True, text=True).stdout
        lines = out.split("\n")
        files = [l.split() for l in lines if l.strip()]
        assert len(files) == 3, out
        for f in files:
            check(f[0], *map(float, f[1:]))
    print("OK")


if __name__ == "__main__":
    main()
