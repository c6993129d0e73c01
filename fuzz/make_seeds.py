"""Regenerates the seed corpora in fuzz/corpus/ (small files; committed).

    /usr/bin/python3 fuzz/make_seeds.py [--shared ../shared/data] [--weights-tool build/tests/engine/make-test-weights]

Seeds come from three places:
  * CDL text (the shapes the reader tests use: dBZ, packed shorts, rain rate,
    accumulations, ODIM) through ncgen;
  * the headers of real files in ../shared/data (BoM CF NetCDF, KNMI HDF5): every
    group, variable and attribute is copied, the data shrunk to 8x8, so no radar
    data leaves ../shared;
  * the repository's own YAML configuration and a small random-weights model.
Small seeds keep libFuzzer's mutations fast and the replay test cheap.
"""
import argparse
import glob
import os
import shutil
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SIDE = 8

CDL = {
    "cf_dbz_nc3": ("classic", """netcdf dbz {
dimensions: time = 1 ; y = 4 ; x = 4 ;
variables:
  double time(time) ; time:units = "seconds since 1970-01-01 00:00:00" ; time:standard_name = "time" ;
  double y(y) ; y:units = "m" ; y:standard_name = "projection_y_coordinate" ;
  double x(x) ; x:units = "m" ; x:standard_name = "projection_x_coordinate" ;
  float dbz(time, y, x) ; dbz:units = "dBZ" ; dbz:standard_name = "equivalent_reflectivity_factor" ;
    dbz:_FillValue = -999.f ; dbz:valid_min = -32.f ; dbz:valid_max = 95.f ; dbz:grid_mapping = "proj" ;
  int proj ; proj:grid_mapping_name = "polar_stereographic" ; proj:straight_vertical_longitude_from_pole = 0. ;
    proj:latitude_of_projection_origin = 90. ; proj:standard_parallel = 60. ;
data:
  time = 1600000000 ; y = 0, 1000, 2000, 3000 ; x = 0, 1000, 2000, 3000 ;
  dbz = 10, 20, 30, -999, 0, 5, 45, 60, -32, 12, 13, 14, 15, 16, 17, 18 ;
}
"""),
    "cf_packed_short": ("classic", """netcdf packed {
dimensions: y = 3 ; x = 3 ;
variables:
  int time ; time:units = "minutes since 2020-10-31 00:00:00" ;
  double y(y) ; y:units = "km" ; double x(x) ; x:units = "km" ;
  short reflectivity(y, x) ; reflectivity:units = "dBZ" ; reflectivity:scale_factor = 0.5 ;
    reflectivity:add_offset = -32. ; reflectivity:_FillValue = -1s ; reflectivity:valid_range = 0s, 255s ;
data:
  time = 790 ; y = 1, 2, 3 ; x = 1, 2, 3 ;
  reflectivity = 0, 10, 100, 200, -1, 255, 64, 128, 3 ;
}
"""),
    "cf_rate_64bit": ("64-bit offset", """netcdf rate {
dimensions: y = 2 ; x = 3 ;
variables:
  double time ; time:units = "hours since 2016-09-28" ;
  double lat(y) ; lat:units = "degrees_north" ; double lon(x) ; lon:units = "degrees_east" ;
  float rr(y, x) ; rr:units = "mm h-1" ; rr:standard_name = "rainfall_rate" ; rr:missing_value = -1.f ;
data:
  time = 17 ; lat = 60, 61 ; lon = 24, 25, 26 ;
  rr = 0, 0.1, 1, 10, 100, -1 ;
}
"""),
    "cf_accum_bounds": ("classic", """netcdf accb {
dimensions: time = 1 ; nv = 2 ; y = 2 ; x = 2 ;
variables:
  double time(time) ; time:units = "seconds since 1970-01-01" ; time:bounds = "time_bnds" ;
  double time_bnds(time, nv) ;
  double y(y) ; double x(x) ;
  float acc(time, y, x) ; acc:units = "kg m-2" ; acc:standard_name = "precipitation_amount" ;
    acc:cell_methods = "time: sum" ;
data:
  time = 1604149800 ; time_bnds = 1604149200, 1604149800 ; y = 0, 1 ; x = 0, 1 ;
  acc = 0, 0.5, 2, 8 ;
}
"""),
    "odim_nc4": ("netCDF-4", """netcdf odim {
:Conventions = "ODIM_H5/V2_2" ;
group: what {
 :object = "COMP" ; :date = "20201031" ; string :time = "021000" ;
 }
group: where {
  :projdef = "+proj=aea +lat_1=-26.2 +lat_2=-29.3 +lon_0=153.24 +lat_0=-27.7178 +ellps=GRS80" ;
  :xsize = 4 ; :ysize = 3 ; :xscale = 1000. ; :yscale = 1000. ;
  :LL_lon = 153.219709619 ; :LL_lat = -27.731329660 ;
  :UR_lon = 153.260285366 ; :UR_lat = -27.704267338 ;
 }
group: dataset1 {
 group: what {
 :product = "COMP" ; :startdate = "20201031" ; :starttime = "020500" ;
   :enddate = "20201031" ; :endtime = "021000" ;
 }
 group: data1 {
 dimensions: dy = 3 ; dx = 4 ;
 variables: ubyte data(dy, dx) ;
   data: data = 0, 100, 255, 164, 2, 2, 2, 2, 2, 2, 2, 2 ;
   group: what {
 :quantity = "DBZH" ; :gain = 0.5 ; :offset = -32. ; :nodata = 255. ; :undetect = 0. ;
 }
 }
}
}
"""),
    # ODIM_H5 2.4 inheritance: calibration in dataset/top what, where at dataset
    # level, two datasets, a rain rate with its Z-R in how (src/io/reader_odim.c)
    "odim_levels_nc4": ("netCDF-4", """netcdf odimlevels {
:Conventions = "ODIM_H5/V2_4" ;
group: what {
 :object = "COMP" ; :date = "20241126" ; :time = "010000" ; :quantity = "DBZH" ;
 :gain = 0.5 ; :offset = -32. ; :nodata = 255. ; :undetect = 0. ;
 }
group: where {
  :projdef = "+proj=laea +lat_0=55.0 +lon_0=10.0 +x_0=1950000.0 +y_0=-2100000.0 +units=m +ellps=WGS84" ;
  :xsize = 4 ; :ysize = 1 ; :xscale = 1000. ; :yscale = 1000. ;
  :UL_lon = -39.5357864125034 ; :UL_lat = 67.0228327624372 ;
 }
group: dataset1 {
 group: what {
 :product = "MAX" ; :enddate = "20241126" ; :endtime = "010000" ;
 }
 group: data1 {
 dimensions: y = 1 ; x = 4 ;
 variables: ubyte data(y, x) ;
   data: data = 0, 100, 255, 164 ;
   group: what {
 :quantity = "RATE" ; :gain = 0.1 ;
 }
   group: how {
 :zr_a = 200. ; :zr_b = 1.6 ;
 }
 }
}
group: dataset2 {
 group: where {
 :xscale = 1000. ; :yscale = 1000. ;
 }
 group: data1 {
 dimensions: y = 1 ; x = 4 ;
 variables: ubyte data(y, x) ;
   data: data = 0, 100, 255, 164 ;
 }
}
}
"""),
}


def ncgen(name, kind, cdl, out_dir):
    cdl_path = os.path.join(out_dir, name + ".cdl.tmp")
    with open(cdl_path, "w") as f:
        f.write(cdl)
    out = os.path.join(out_dir, name + ".nc")
    subprocess.run(["ncgen", "-k", kind, "-o", out, cdl_path], check=True)
    os.unlink(cdl_path)


def shrink_nc(src, dst, fmt):
    """Copies every dimension, variable and attribute of src into dst with each
    dimension cut to SIDE, filled with small deterministic values."""
    import netCDF4
    with netCDF4.Dataset(src) as s, netCDF4.Dataset(dst, "w", format=fmt) as d:
        d.setncatts({k: s.getncattr(k) for k in s.ncattrs()})
        for name, dim in s.dimensions.items():
            d.createDimension(name, min(len(dim), SIDE))
        for name, v in s.variables.items():
            fill = v.getncattr("_FillValue") if "_FillValue" in v.ncattrs() else None
            nv = d.createVariable(name, v.datatype, v.dimensions, fill_value=fill)
            nv.set_auto_maskandscale(False)
            nv.setncatts({k: v.getncattr(k) for k in v.ncattrs() if k != "_FillValue"})
            shape = tuple(min(len(s.dimensions[dn]), SIDE) for dn in v.dimensions)
            if shape:
                vals = s.variables[name][tuple(slice(0, n) for n in shape)]
                nv[...] = np.ma.getdata(vals)
            else:
                nv.assignValue(np.ma.getdata(v[...]))


def shrink_h5(src, dst):
    import h5py

    def copy(sg, dg):
        for k, a in sg.attrs.items():
            dg.attrs[k] = a
        for name, obj in sg.items():
            if isinstance(obj, h5py.Group):
                copy(obj, dg.create_group(name))
            else:
                sl = tuple(slice(0, SIDE) for _ in obj.shape)
                ds = dg.create_dataset(name, data=obj[sl] if obj.shape else obj[()])
                for k, a in obj.attrs.items():
                    ds.attrs[k] = a
    with h5py.File(src, "r") as s, h5py.File(dst, "w") as d:
        copy(s, d)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default=os.path.join(ROOT, "..", "shared", "data"))
    ap.add_argument("--weights-tool", default=None,
                    help="make-test-weights from a build dir (tests/engine/)")
    a = ap.parse_args()
    rd = os.path.join(HERE, "corpus", "reader")
    os.makedirs(rd, exist_ok=True)
    for name, (kind, cdl) in CDL.items():
        ncgen(name, kind, cdl, rd)

    radar = os.path.join(a.shared, "pysteps-data", "radar")
    for pattern, tag in (("bom/prcp-c10/*/*/*/*/*.nc", "bom_c10"),
                         ("bom/prcp-cscn/*/*/*/*/*.nc", "bom_cscn")):
        files = sorted(glob.glob(os.path.join(radar, pattern)))
        if files:
            shrink_nc(files[0], os.path.join(rd, tag + "_hdr_nc4.nc"), "NETCDF4")
            try:
                shrink_nc(files[0], os.path.join(rd, tag + "_hdr_cdf5.nc"), "NETCDF3_64BIT_DATA")
            except Exception as e:  # int64 needs CDF5; older libnetcdf lacks it
                print("skip cdf5:", e, file=sys.stderr)
    knmi = sorted(glob.glob(os.path.join(radar, "KNMI", "*", "*", "*.h5")))
    if knmi:
        shrink_h5(knmi[0], os.path.join(rd, "knmi_hdr.h5"))

    cd = os.path.join(HERE, "corpus", "config")
    os.makedirs(cd, exist_ok=True)
    shutil.copy(os.path.join(ROOT, "etc", "impa-nowcast.yaml"), os.path.join(cd, "etc_default.yaml"))
    with open(os.path.join(cd, "small.yaml"), "w") as f:
        f.write("config_version: 1\ndomain:\n  name: bne\n  nx: 128\n  ny: 128\n  block: 4\n"
                "input:\n  dir: in\n  pattern: \"*.nc\"\n  zr_a: 200\n  zr_b: 1.6\n"
                "window:\n  jitter_s: 60\n  gap_policy: extrapolate\n"
                "model:\n  method: extrapolation\n  threads: 1\n"
                "verify:\n  enabled: true\n  thresholds: [20, 35, 45]\n"
                "log:\n  level: debug\n")
    with open(os.path.join(cd, "anchors.yaml"), "w") as f:
        f.write("a: &x {nx: 64}\ndomain: *x\ninput: [1, 2]\n? complex\n: !!binary aGk=\n")

    wd = os.path.join(HERE, "corpus", "weights")
    os.makedirs(wd, exist_ok=True)
    if a.weights_tool:
        subprocess.run([a.weights_tool, os.path.join(wd, "small_random.nc"), "small", "7"], check=True)


if __name__ == "__main__":
    main()
