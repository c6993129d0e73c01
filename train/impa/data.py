"""Real radar data for training and evaluation: readers, resampling, cache, split.

Every reader returns reflectivity in dBZ on the product's native grid as float32
with NaN where the radar has no data (outside coverage, missing value). Dry but
observed pixels are 0 dBZ: the model's normalisation clamps below 0 dBZ to "no
echo" anyway, so the floor loses nothing the model could use.

Products that carry rain (BoM, KNMI, MeteoSwiss) are converted with
Marshall-Palmer, Z = 200 R^1.6 (dBZ = 10 log10 Z), R in mm/h, the same relation
the anchors (../shared/reference/anchors.md) used for pySTEPS. Conversions per
product (see docs/training.md, "Data"):

- BoM prcp-c10: `precipitation` = 10-min accumulation A (mm, short * 0.05, fill
  -1) -> R = 6 A.
- BoM prcp-cscn: 6-min accumulation (valid_time - start_time = 360 s) -> R = 10 A.
- FMI PGM: 8-bit dBZ, dBZ = (PV - 64) / 2, PV 255 = no data. The header
  comments carry no gain/offset for these files; the coding is FMI's documented
  one that pySTEPS' importer (import_fmi_pgm) also hard-codes.
- MeteoSwiss AQC GIF: palette index DN; pySTEPS' import_mch_gif maps it to
  precipitation with value = (10^((DN - 71.5)/20) / 316)^(1/1.5) (MeteoSwiss'
  Z-R, a = 316, b = 1.5), DN < 2 or 251..254 = 0, DN 255 = no data, and its
  data source declares the value a 5-min amount ("mm", accutime 5). We follow
  that: R = 12 * value mm/h, then Marshall-Palmer. (The raw DN alone would mean
  dBZ = (DN - 71.5)/2, at most ~40 dBZ in the 2016-07-11 storm; the pySTEPS path
  gives ~56 dBZ and is the one the anchor scores were computed with.)
- KNMI HDF5 (read through netCDF4, no h5py needed): image1/image_data, 5-min
  accumulation 0.01 mm * PV, 65535 = no data -> R = 12 A.

Time resampling to the model step (10 min): 5-min products keep every second
frame on the 10-min clock; Melbourne's 6-min frames are matched to the nearest
10-min time within 3 min (steps of 8..12 min: documented jitter).
"""
from __future__ import annotations

import datetime as _dt
import gzip
import hashlib
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

ZR_A = 200.0
ZR_B = 1.6
STEP_MIN = 10

TRAIN_DIR = Path(__file__).resolve().parent.parent
CACHE_DIR = TRAIN_DIR / "cache"


def shared_data_root() -> Optional[Path]:
    """Root of the pysteps radar sample data, or None when it is absent.

    Looks at $IMPA_SHARED_DATA (set by meson's test_env), then ../shared/data
    relative to the repository."""
    cands = []
    env = os.environ.get("IMPA_SHARED_DATA")
    if env:
        cands.append(Path(env))
    cands.append(TRAIN_DIR.parent.parent / "shared" / "data")
    for c in cands:
        p = c / "pysteps-data" / "radar"
        if p.is_dir():
            return p
    return None


def rate_to_dbz(rate: np.ndarray, a: float = ZR_A, b: float = ZR_B) -> np.ndarray:
    """R (mm/h, NaN = missing) -> dBZ with Z = a R^b; R <= 0 gives the 0 dBZ floor."""
    r = np.asarray(rate, dtype=np.float64)
    out = np.zeros(r.shape, dtype=np.float64)
    pos = r > 0
    out[pos] = 10.0 * np.log10(a * np.power(r[pos], b))
    out = np.maximum(out, 0.0)
    out[np.isnan(r)] = np.nan
    return out.astype(np.float32)


def dbz_to_rate(dbz: np.ndarray, a: float = ZR_A, b: float = ZR_B) -> np.ndarray:
    """Inverse of rate_to_dbz; 0 dBZ or less (no echo) gives 0 mm/h."""
    d = np.asarray(dbz, dtype=np.float64)
    r = np.power(np.power(10.0, d / 10.0) / a, 1.0 / b)
    r[d <= 0] = 0.0
    return r.astype(np.float32)


# ---------------------------------------------------------------- readers ----

def read_bom(path: str | Path) -> Tuple[np.ndarray, int]:
    """BoM Rainfields NetCDF (prcp-c10 or prcp-cscn) -> (dBZ [y, x], valid time s).

    The accumulation period is taken from valid_time - start_time, so both
    the 10-min and the 6-min products come out as a rate."""
    import netCDF4

    with netCDF4.Dataset(str(path)) as ds:
        var = ds.variables["precipitation"]
        var.set_auto_maskandscale(True)
        acc = var[:]
        valid = int(ds.variables["valid_time"][:])
        start = int(ds.variables["start_time"][:])
        ydesc = bool(ds.variables["y"][0] > ds.variables["y"][-1])
    period_min = (valid - start) / 60.0
    if period_min <= 0:
        raise ValueError(f"{path}: accumulation period {period_min} min")
    a = np.ma.filled(acc.astype(np.float64), np.nan)
    rate = a * (60.0 / period_min)
    dbz = rate_to_dbz(rate)
    # Rows north-up so every product shares one orientation (flips are an
    # augmentation anyway, but evaluation pictures should look like maps).
    if not ydesc:
        dbz = dbz[::-1].copy()
    return dbz, valid


def _pgm_header(raw: bytes) -> Tuple[Dict[str, str], int, int, int, int]:
    """Parses a binary PGM header with '#' comment lines -> (comments, w, h, maxval, data offset)."""
    comments: Dict[str, str] = {}
    pos = 0
    tokens: List[str] = []
    while len(tokens) < 4:
        nl = raw.index(b"\n", pos)
        line = raw[pos:nl].decode("latin1").strip()
        pos = nl + 1
        if line.startswith("#"):
            kv = line[1:].strip().split(None, 1)
            if len(kv) == 2:
                comments[kv[0]] = kv[1]
            continue
        tokens.extend(line.split())
    if tokens[0] != "P5":
        raise ValueError(f"not a binary PGM (magic {tokens[0]!r})")
    return comments, int(tokens[1]), int(tokens[2]), int(tokens[3]), pos


def read_fmi_pgm(path: str | Path) -> Tuple[np.ndarray, int]:
    """FMI gzipped PGM composite -> (dBZ [y, x], obs time s)."""
    opener: Callable = gzip.open if str(path).endswith(".gz") else open
    with opener(str(path), "rb") as f:
        raw = f.read()
    com, w, h, maxval, off = _pgm_header(raw)
    if maxval > 255:
        raise ValueError(f"{path}: 16-bit PGM not supported")
    pv = np.frombuffer(raw, dtype=np.uint8, count=w * h, offset=off).reshape(h, w)
    # Files may state their coding; these do not, and then FMI's 0.5 dB
    # steps from -32 dBZ apply (pySTEPS import_fmi_pgm does the same).
    gain = float(com.get("gain", 0.5))
    offset = float(com.get("offset", -32.0))
    dbz = pv.astype(np.float32) * gain + offset
    dbz[pv == 255] = np.nan
    dbz = np.where(np.isnan(dbz), np.nan, np.maximum(dbz, 0.0)).astype(np.float32)
    t = _dt.datetime.strptime(com["obstime"], "%Y%m%d%H%M").replace(tzinfo=_dt.timezone.utc)
    return dbz, int(t.timestamp())


def _mch_lut() -> np.ndarray:
    """MeteoSwiss AQC DN -> rain rate mm/h (see module docstring)."""
    lut = np.zeros(256, dtype=np.float64)
    for i in range(256):
        if i < 2 or 250 < i < 255:
            lut[i] = 0.0
        elif i == 255:
            lut[i] = np.nan
        else:
            lut[i] = (10.0 ** ((i - 71.5) / 20.0) / 316.0) ** (1.0 / 1.5)
    return lut * 12.0  # mm per 5 min -> mm/h


_MCH_LUT = _mch_lut()


def read_mch_gif(path: str | Path) -> Tuple[np.ndarray, int]:
    """MeteoSwiss AQC GIF -> (dBZ [y, x], time s). Time from the name AQCyyjjjHHMM."""
    from PIL import Image

    with Image.open(str(path)) as im:
        dn = np.array(im)
    if dn.dtype != np.uint8 or dn.ndim != 2:
        raise ValueError(f"{path}: expected an 8-bit palette image, got {dn.dtype} {dn.shape}")
    rate = _MCH_LUT[dn]
    m = re.search(r"(\d{2})(\d{3})(\d{2})(\d{2})", Path(path).name)
    if not m:
        raise ValueError(f"{path}: no time in the name")
    yy, jjj, hh, mm = (int(g) for g in m.groups())
    t = _dt.datetime(2000 + yy, 1, 1, hh, mm, tzinfo=_dt.timezone.utc) + _dt.timedelta(days=jjj - 1)
    return rate_to_dbz(rate), int(t.timestamp())


def read_knmi(path: str | Path) -> Tuple[np.ndarray, int]:
    """KNMI HDF5 (5-min accumulation) -> (dBZ [y, x], time s), through netCDF4."""
    import netCDF4

    with netCDF4.Dataset(str(path)) as ds:
        img = ds["image1"]
        var = img.variables["image_data"]
        var.set_auto_maskandscale(False)
        pv = np.array(var[:])
        cal = ds["image1"]["calibration"] if "calibration" in img.groups else None
        gain, off, miss = 0.01, 0.0, 65535
        if cal is not None:
            f = str(cal.getncattr("calibration_formulas"))
            mm = re.search(r"=\s*([-0-9.eE]+)\s*\*\s*PV\s*\+\s*([-0-9.eE]+)", f)
            if mm:
                gain, off = float(mm.group(1)), float(mm.group(2))
            miss = int(cal.getncattr("calibration_missing_data"))
    acc = pv.astype(np.float64) * gain + off
    acc[pv == miss] = np.nan
    m = re.search(r"(\d{12})", Path(path).name)
    if not m:
        raise ValueError(f"{path}: no time in the name")
    t = _dt.datetime.strptime(m.group(1), "%Y%m%d%H%M").replace(tzinfo=_dt.timezone.utc)
    return rate_to_dbz(acc * 12.0), int(t.timestamp())


def read_knmi2021(path: str | Path) -> Tuple[np.ndarray, int]:
    """KNMI RAD_NL25_PCP_NA HDF5 of ../shared/data/knmi-2021 -> (dBZ [y, x], time s).

    image1/image_data uint8 with `GEO = gain * PV + offset` dBZ in
    image1/calibration; PV 0 = no echo (or missing: the product does not tell
    them apart) -> 0 dBZ, PV 255 = outside the image -> NaN. Time from the name
    (YYYYMMDDHHMM)."""
    import netCDF4

    with netCDF4.Dataset(str(path)) as ds:
        img = ds["image1"]
        var = img.variables["image_data"]
        var.set_auto_maskandscale(False)
        pv = np.array(var[:])
        f = str(img["calibration"].getncattr("calibration_formulas"))
    mm = re.search(r"=\s*([-0-9.eE]+)\s*\*\s*PV\s*\+\s*([-0-9.eE]+)", f)
    if not mm:
        raise ValueError(f"{path}: calibration formula not understood: {f!r}")
    gain, off = float(mm.group(1)), float(mm.group(2))
    dbz = np.maximum(pv.astype(np.float32) * gain + off, 0.0)
    dbz[pv == 0] = 0.0
    dbz[pv == 255] = np.nan
    m = re.search(r"(\d{12})", Path(path).name)
    if not m:
        raise ValueError(f"{path}: no time in the name")
    t = _dt.datetime.strptime(m.group(1), "%Y%m%d%H%M").replace(tzinfo=_dt.timezone.utc)
    return dbz.astype(np.float32), int(t.timestamp())


# Evenings of knmi-2021 with echo: mean fraction of >= 20 dBZ cells over the
# evening's frames at least this (0.1 %, about 500 km2 of rain on the 765 x 700
# km grid; fixed before scoring). 7 of the 20 evenings pass.
KNMI2021_MIN_ECHO = 0.001


def load_knmi2021(data_dir: Path, min_echo: float = KNMI2021_MIN_ECHO) -> Event:
    """The winter evenings of ../shared/data/knmi-2021 that have echo, as one
    event on the 10-min clock: each evening resampled alone (every second 5-min
    frame), evenings joined with one NaN frame between them (no start spans
    two), float16-rounded as load_event's cache. Dry evenings are left out."""
    parts: List[np.ndarray] = []
    times: List[np.ndarray] = []
    for day in sorted(p for p in Path(data_dir).iterdir() if p.is_dir()):
        files = sorted(day.glob("*.hf5"))
        if not files:
            continue
        fr, ts = zip(*(read_knmi2021(f) for f in files))
        clock, idx = resample_times(ts, STEP_MIN, tol_s=0)
        ev = np.full((len(clock),) + fr[0].shape, np.nan, np.float32)
        for k, j in enumerate(idx):
            if j >= 0:
                ev[k] = fr[j]
        with np.errstate(invalid="ignore"):
            frac = float(np.nanmean([(f >= 20.0).mean() for f in ev if np.isfinite(f).any()]))
        if frac < min_echo:
            continue
        if parts:
            parts.append(np.full((1,) + ev.shape[1:], np.nan, np.float32))
            times.append(np.array([times[-1][-1] + STEP_MIN * 60], np.int64))
        parts.append(ev)
        times.append(clock)
    if not parts:
        raise FileNotFoundError(f"{data_dir}: no evening with echo")
    dbz = np.concatenate(parts).astype(np.float16).astype(np.float32)
    return Event("knmi-2021", dbz, np.concatenate(times), "winter stratiform evenings")


def meteonet_dbz(acc: np.ndarray) -> np.ndarray:
    """MeteoNet's 5-min rain accumulation (1/100 mm, -1 = missing) as dBZ:
    R = 12 A mm/h, Marshall-Palmer; missing -> NaN."""
    a = np.asarray(acc, dtype=np.float64)
    return rate_to_dbz(np.where(a < 0, np.nan, a / 100.0 * 12.0))


def load_meteonet_runs(data_dir: Path, zone: str = "SE", min_frames: int = 10) -> Tuple[List[np.ndarray], float]:
    """The contiguous 5-min runs of MeteoNet rainfall (../shared/data/meteonet,
    rainfall_<zone>_2016_08.3.npz) with at least min_frames frames, as dBZ
    [T, y, x] each (float16-rounded as load_event's cache), and the grid spacing
    in km (square root of the mean cell area of the 0.01 deg lat/lon grid).

    `data` is the 5-min accumulation in 1/100 mm, -1 = missing -> NaN; R = 12 A
    mm/h, Marshall-Palmer. The sample is sparse in time (45 frames over 11
    days); SE has 2016-08-28 10:00-11:10 (15 frames) and 13:00-13:55 (12)."""
    d = np.load(Path(data_dir) / f"rainfall_{zone}_2016_08.3.npz", allow_pickle=True)
    acc, dates = d["data"], list(d["dates"])
    c = np.load(Path(data_dir) / f"radar_coords_{zone}.npz")
    lat, lon = c["lats"], c["lons"]
    dy = float(np.abs(np.diff(lat, axis=0)).mean()) * 111.2
    dx = float(np.abs(np.diff(lon, axis=1)).mean()) * 111.2 * float(np.cos(np.deg2rad(lat.mean())))
    runs, cur = [], [0]
    for k in range(1, len(dates)):
        if (dates[k] - dates[k - 1]).total_seconds() == 300:
            cur.append(k)
        else:
            runs.append(cur)
            cur = [k]
    runs.append(cur)
    out = []
    for r in runs:
        if len(r) < min_frames:
            continue
        out.append(meteonet_dbz(acc[r]).astype(np.float16).astype(np.float32))
    return out, float(np.sqrt(dx * dy))


def data_root(radar_root: Optional[Path] = None) -> Optional[Path]:
    """../shared/data (the folder holding pysteps-data/, knmi-2021/, meteonet/)."""
    r = radar_root or shared_data_root()
    return None if r is None else Path(r).parent.parent


def regrid_latlon_km(field: np.ndarray, lats: np.ndarray, lons: np.ndarray,
                     km: float = 1.0) -> np.ndarray:
    """A field on a regular latitude/longitude grid (rows of constant latitude,
    columns of constant longitude, as MeteoNet's) -> the same area on a square
    grid of `km` spacing (local equirectangular plane at the centre latitude,
    north-up), bilinear. NaN = no data: a target pixel is valid where at least
    half of its bilinear weight falls on valid source pixels, its value the
    weighted mean of those. Works on [..., ny, nx]."""
    from scipy import ndimage

    lat = lats[:, 0].astype(np.float64)
    lon = lons[0, :].astype(np.float64)
    dlat, dlon = float(lat[1] - lat[0]), float(lon[1] - lon[0])
    kmy = 111.195 * abs(dlat)                     # km per source row
    kmx = 111.195 * abs(dlon) * math.cos(math.radians(float(lat.mean())))
    ny = int(round((len(lat) - 1) * kmy / km)) + 1
    nx = int(round((len(lon) - 1) * kmx / km)) + 1
    # source row/column of each target pixel; rows north-up (decreasing latitude)
    rr = np.arange(ny) * km / kmy
    if dlat > 0:
        rr = (len(lat) - 1) - rr
    cc = np.arange(nx) * km / kmx
    if dlon < 0:
        cc = (len(lon) - 1) - cc
    R, C = np.meshgrid(rr, cc, indexing="ij")
    a = np.asarray(field, dtype=np.float64)
    flat = a.reshape((-1,) + a.shape[-2:])
    out = np.empty((flat.shape[0], ny, nx), dtype=np.float32)
    for i, f in enumerate(flat):
        ok = np.isfinite(f)
        v = ndimage.map_coordinates(np.where(ok, f, 0.0), [R, C], order=1, mode="nearest")
        w = ndimage.map_coordinates(ok.astype(np.float64), [R, C], order=1, mode="nearest")
        with np.errstate(invalid="ignore", divide="ignore"):
            out[i] = np.where(w >= 0.5, v / w, np.nan)
    return out.reshape(a.shape[:-2] + (ny, nx))


def read_meteonet(zone: str = "SE", first: str = "2016-08-28 10:00",
                  last: str = "2016-08-28 11:10", root: Optional[Path] = None,
                  km: float = 1.0) -> Event:
    """MeteoNet sample (../shared/data/meteonet, README there): the 5-min rain
    accumulation `data` (int16, 1/100 mm, -1 = missing) of the frames in
    [first, last] UTC -> dBZ (R = 12 A mm/h, Marshall-Palmer), regridded from
    0.01 deg to `km` (regrid_latlon_km), on the 10-min clock (every second
    frame; clock times without a frame are NaN frames). The only contiguous
    convective run is SE 2016-08-28 10:00-11:10 UTC: 8 frames at 10 min, so
    4 scans in and at most 4 leads (40 min) to score."""
    base = data_root(root)
    if base is None or not (base / "meteonet").is_dir():
        raise FileNotFoundError("meteonet sample absent (../shared/data/meteonet)")
    d = np.load(base / "meteonet" / f"rainfall_{zone}_2016_08.3.npz", allow_pickle=True)
    c = np.load(base / "meteonet" / f"radar_coords_{zone}.npz")
    t0, t1 = (_dt.datetime.strptime(x, "%Y-%m-%d %H:%M") for x in (first, last))
    dates = list(d["dates"])
    sel = [i for i, t in enumerate(dates) if t0 <= t <= t1]
    if not sel:
        raise ValueError(f"meteonet {zone}: no frame in {first} .. {last}")
    times = [int(dates[i].replace(tzinfo=_dt.timezone.utc).timestamp()) for i in sel]
    clock, idx = resample_times(times, STEP_MIN, tol_s=0)
    dbz = meteonet_dbz(d["data"][sel])
    grid = regrid_latlon_km(dbz, c["lats"], c["lons"], km)
    out = np.full((len(clock),) + grid.shape[1:], np.nan, dtype=np.float32)
    for k, j in enumerate(idx):
        if j >= 0:
            out[k] = grid[j]
    return Event(f"meteonet-{zone.lower()}-{t0:%Y%m%d}", out, clock, "summer convection")


def read_odim_composite(path: str | Path) -> Tuple[np.ndarray, int]:
    """ODIM_H5 composite (OPERA CIRRUS: dataset1/data1 DBZH) -> (dBZ [y, x]
    float32, time s from /what date+time). gain/offset applied; `nodata` -> NaN,
    `undetect` -> 0 dBZ (observed, no echo); below 0 dBZ -> 0. Rows as stored
    (ODIM composites are north-up)."""
    import netCDF4

    with netCDF4.Dataset(str(path)) as ds:
        g = ds["dataset1"]["data1"]
        v = g.variables["data"]
        v.set_auto_maskandscale(False)
        raw = np.array(v[:], dtype=np.float64)
        w = g["what"]
        gain, off = float(w.getncattr("gain")), float(w.getncattr("offset"))
        nodata, undetect = float(w.getncattr("nodata")), float(w.getncattr("undetect"))
        quantity = str(w.getncattr("quantity"))
        wt = ds["what"]
        t = _dt.datetime.strptime(str(wt.getncattr("date")) + str(wt.getncattr("time"))[:4],
                                  "%Y%m%d%H%M").replace(tzinfo=_dt.timezone.utc)
    if quantity not in ("DBZH", "TH", "DBZV"):
        raise ValueError(f"{path}: quantity {quantity}, expected reflectivity (DBZH)")
    dbz = raw * gain + off
    dbz = np.maximum(dbz, 0.0)
    dbz[raw == undetect] = 0.0
    dbz[raw == nodata] = np.nan
    return dbz.astype(np.float32), int(t.timestamp())


def opera_crops(frames: np.ndarray, size: int = 512, n: int = 4,
                min_valid: float = 0.9) -> List[Tuple[int, int]]:
    """Top-left corners of up to n disjoint size x size windows of a continental
    composite [T, H, W] with the most >= 35 dBZ pixels (then >= 20 dBZ) over all
    frames, each with radar data on at least min_valid of it: crops of a 1 km
    composite the model's 10-min/1 km clock and grid need no resampling for."""
    T, H, W = frames.shape
    s35 = (np.nan_to_num(frames, nan=0.0) >= 35.0).sum(0).astype(np.float64)
    s20 = (np.nan_to_num(frames, nan=0.0) >= 20.0).sum(0).astype(np.float64)
    valid = np.isfinite(frames).all(0).astype(np.float64)
    step = size // 2
    cands = []
    for y in range(0, H - size + 1, step):
        for x in range(0, W - size + 1, step):
            win = (slice(y, y + size), slice(x, x + size))
            if valid[win].mean() < min_valid:
                continue
            cands.append((s35[win].sum() * 1e6 + s20[win].sum(), y, x))
    cands.sort(reverse=True)
    out: List[Tuple[int, int]] = []
    for score, y, x in cands:
        if score <= 0 or len(out) >= n:
            break
        if all(abs(y - a) >= size or abs(x - b) >= size for a, b in out):
            out.append((y, x))
    return out


def read_opera(root: Optional[Path] = None, size: int = 512, n: int = 4) -> List[Event]:
    """The OPERA CIRRUS hour (pysteps-data OPERA/20241126/CIRRUS, 5 min, 1 km) on
    the 10-min clock (7 frames: 4 scans in, 3 leads to score), cut into the
    opera_crops windows; one Event per window, named opera-20241126-y<Y>x<X>."""
    r = root or shared_data_root()
    if r is None:
        raise FileNotFoundError("radar sample data absent")
    files = sorted((Path(r) / "OPERA" / "20241126" / "CIRRUS").glob("*.hdf"))
    if not files:
        raise FileNotFoundError("OPERA/20241126/CIRRUS absent")
    read = [read_odim_composite(f) for f in files]
    clock, idx = resample_times([t for _, t in read], STEP_MIN, tol_s=0)
    frames = np.stack([read[j][0] if j >= 0 else np.full_like(read[0][0], np.nan) for j in idx])
    return [Event(f"opera-20241126-y{y}x{x}", frames[:, y:y + size, x:x + size].copy(), clock,
                  "November night, continental composite")
            for y, x in opera_crops(frames, size, n)]


# ----------------------------------------------------------------- events ----

@dataclass(frozen=True)
class EventSpec:
    """One radar event in the sample data: where its files are and how to read them."""
    name: str
    subdir: str
    pattern: str
    reader: str  # key into READERS
    native_step_min: int
    regime: str


READERS: Dict[str, Callable[[str | Path], Tuple[np.ndarray, int]]] = {
    "bom": read_bom,
    "fmi": read_fmi_pgm,
    "mch": read_mch_gif,
    "knmi": read_knmi,
    "knmi-dbz": read_knmi2021,
}

EVENTS: List[EventSpec] = [
    EventSpec("bom-brisbane-20201031", "bom/prcp-c10/66/2020/10/31", "*.nc", "bom", 10, "severe convection (hail)"),
    EventSpec("bom-melbourne-20180616", "bom/prcp-cscn/2/2018/06/16", "*.nc", "bom", 6, "winter stratiform"),
    EventSpec("fmi-20160928", "fmi/pgm/20160928", "*.pgm.gz", "fmi", 5, "autumn"),
    EventSpec("fmi-20170509", "fmi/pgm/20170509", "*.pgm.gz", "fmi", 5, "spring"),
    EventSpec("mch-20150515", "mch/20150515", "*.gif", "mch", 5, "spring frontal"),
    EventSpec("mch-20160711", "mch/20160711", "*.gif", "mch", 5, "summer convection"),
    EventSpec("mch-20170131", "mch/20170131", "*.gif", "mch", 5, "winter"),
    EventSpec("knmi-20100826", "KNMI/2010/08", "*.h5", "knmi", 5, "summer"),
]
# Beyond pysteps-data (../shared/data/README.md): KNMI 2021, 20 winter evenings of
# the reflectivity composite (1 km, 5 min, 20:05-23:00 UTC: 18 frames on the
# 10-min clock, 3 sample starts). Not in EVENTS: neither training nor the
# split reads them; they are scored as events from a season the networks never
# saw (impa.evalnet). Paths are relative to the pysteps radar root.
KNMI_2021_DAYS = tuple(f"202101{d:02d}" for d in range(1, 11)) + \
    tuple(f"202102{d:02d}" for d in range(1, 11))
KNMI_2021_EVENTS: List[EventSpec] = [
    EventSpec(f"knmi-{d}", f"../../knmi-2021/{d}", "*.hf5", "knmi-dbz", 5, "winter stratiform")
    for d in KNMI_2021_DAYS]
EVENT_BY_NAME = {e.name: e for e in EVENTS + KNMI_2021_EVENTS}

# Grid spacing (km) of the products that are not on 1 km (BoM radars 66 and 2:
# x/y every 0.5 km); the extrapolation schemes 2 and 3 take their parameters in km.
EVENT_PIXEL_KM = {"bom-brisbane-20201031": 0.5, "bom-melbourne-20180616": 0.5}


def pixel_km(name: str) -> float:
    """Grid spacing of event `name` (a time-reversed copy: its original's), km."""
    base = name[:-len(REVERSED)] if name.endswith(REVERSED) else name
    return EVENT_PIXEL_KM.get(base, 1.0)


@dataclass
class Event:
    """A decoded event on the 10-min model clock.

    dbz: [T, H, W] float32, NaN = no radar data; times: [T] int64 s, strictly
    spaced by STEP_MIN minutes (frames missing on the clock are NaN frames)."""
    name: str
    dbz: np.ndarray
    times: np.ndarray
    regime: str = ""


def resample_times(times: Sequence[int], step_min: int = STEP_MIN,
                   tol_s: int = 180) -> Tuple[np.ndarray, np.ndarray]:
    """Maps native frame times onto a regular clock of step_min minutes.

    Returns (clock [T] s, index [T] into the native frames or -1 where no frame
    lies within tol_s of a clock time). The clock starts at the first native
    time rounded up to the step."""
    t = np.asarray(times, dtype=np.int64)
    order = np.argsort(t)
    t = t[order]
    step = step_min * 60
    t0 = ((t[0] + step - 1) // step) * step
    if t0 - t[0] > tol_s and t0 - step >= t[0] - tol_s:
        t0 -= step
    clock = np.arange(t0, t[-1] + tol_s + 1, step, dtype=np.int64)
    idx = np.full(clock.shape, -1, dtype=np.int64)
    for k, c in enumerate(clock):
        j = int(np.argmin(np.abs(t - c)))
        if abs(int(t[j]) - int(c)) <= tol_s:
            idx[k] = order[j]
    # Trim clock ends that have no frame.
    ok = np.nonzero(idx >= 0)[0]
    return clock[ok[0]:ok[-1] + 1], idx[ok[0]:ok[-1] + 1]


def decode_event(spec: EventSpec, root: Path) -> Event:
    """Reads every file of an event and resamples it to the 10-min clock."""
    files = sorted((root / spec.subdir).glob(spec.pattern))
    if not files:
        raise FileNotFoundError(f"{root / spec.subdir}: no {spec.pattern}")
    reader = READERS[spec.reader]
    frames: List[np.ndarray] = []
    times: List[int] = []
    for f in files:
        d, t = reader(f)
        frames.append(d)
        times.append(t)
    shapes = {fr.shape for fr in frames}
    if len(shapes) != 1:
        raise ValueError(f"{spec.name}: frames of different shapes {shapes}")
    # Exact 10-min clock for 5/10-min products, nearest within 3 min for 6-min.
    tol = 0 if STEP_MIN % spec.native_step_min == 0 else 180
    clock, idx = resample_times(times, STEP_MIN, tol_s=tol)
    h, w = frames[0].shape
    out = np.full((len(clock), h, w), np.nan, dtype=np.float32)
    for k, j in enumerate(idx):
        if j >= 0:
            out[k] = frames[j]
    return Event(spec.name, out, clock, spec.regime)


def _cache_key(spec: EventSpec, root: Path) -> str:
    files = sorted((root / spec.subdir).glob(spec.pattern))
    h = hashlib.sha256()
    h.update(json.dumps([spec.name, spec.reader, STEP_MIN, ZR_A, ZR_B, 2]).encode())
    for f in files:
        st = f.stat()
        h.update(f"{f.name}:{st.st_size}".encode())
    return h.hexdigest()[:16]


def load_event(name: str, root: Optional[Path] = None,
               cache_dir: Optional[Path] = CACHE_DIR) -> Event:
    """Decoded event, from the .npy cache when it is there and current.

    The cache holds dBZ as float16 (0.03 dB resolution at 60 dBZ: far below
    the 0.5 dB of the coarsest product), NaN kept."""
    spec = EVENT_BY_NAME[name]
    root = root or shared_data_root()
    if root is None:
        raise FileNotFoundError("radar sample data not found (set IMPA_SHARED_DATA)")
    if cache_dir is not None:
        key = _cache_key(spec, root)
        fd = Path(cache_dir) / f"{name}-{key}.npy"
        ft = Path(cache_dir) / f"{name}-{key}.times.npy"
        if fd.exists() and ft.exists():
            return Event(name, np.load(fd).astype(np.float32), np.load(ft), spec.regime)
    ev = decode_event(spec, root)
    if cache_dir is not None:
        Path(cache_dir).mkdir(parents=True, exist_ok=True)
        tmp = fd.with_suffix(".tmp.npy")
        np.save(tmp, ev.dbz.astype(np.float16))
        os.replace(tmp, fd)
        np.save(ft, ev.times)
        # what a later call reads back: a first run and a rerun see the same dBZ
        ev = Event(name, ev.dbz.astype(np.float16).astype(np.float32), ev.times, ev.regime)
    return ev


# ------------------------------------------------------------------ split ----

@dataclass(frozen=True)
class Block:
    """A contiguous block of clock frames [start, stop) of one event in one split."""
    event: str
    split: str  # "train" | "val" | "test"
    start: int
    stop: int


def sample_len(t_in: int, t_out: int) -> int:
    return t_in + t_out


def make_blocks(n_frames: Dict[str, int], t_in: int = 4, t_out: int = 12,
                holdout: Optional[str] = None) -> List[Block]:
    """The project's split (documented in docs/training.md), or with `holdout`
    the leave-one-event-out fold of that event: it is one test block, every
    other event trains whole (no validation block, no gaps: no frame of the
    held-out event is in any other event).

    Brisbane 2020-10-31, the one long convective event, is cut in contiguous
    time blocks with a gap of one full sample length (t_in + t_out frames)
    between blocks, so no input or target frame of a test sample is in any
    training sample (see brisbane_blocks). MeteoSwiss 2016-07-11 (summer
    convection, an anchors.md event) is held out whole as a second test
    event, MeteoSwiss 2015-05-15 (the only other event with >= 45 dBZ) whole
    as validation. Every other event trains. Samples never straddle blocks.
    """
    L = sample_len(t_in, t_out)
    blocks: List[Block] = []
    for ev, n in n_frames.items():
        if holdout is not None and ev.split(REVERSED)[0] != holdout:
            blocks.append(Block(ev, "train", 0, n))
        elif holdout is not None:
            if not ev.endswith(REVERSED):
                blocks.append(Block(ev, "test", 0, n))
        elif ev.endswith(REVERSED):
            # Frame i of a time-reversed event is frame n - 1 - i of its
            # original: the original's training blocks, mirrored, and nothing
            # else, so a reversed sample only reads frames training may see.
            orig = make_blocks({ev[:-len(REVERSED)]: n}, t_in, t_out)
            blocks += [Block(ev, "train", n - b.stop, n - b.start)
                       for b in orig if b.split == "train"]
        elif ev == "bom-brisbane-20201031":
            for split, a, b in brisbane_blocks(n, L):
                blocks.append(Block(ev, split, a, b))
        elif ev in HELDOUT_TEST:
            blocks.append(Block(ev, "test", 0, n))
        elif ev in HELDOUT_VAL:
            blocks.append(Block(ev, "val", 0, n))
        else:
            blocks.append(Block(ev, "train", 0, n))
    return blocks


REVERSED = "~rev"


def reversed_events(events: Dict[str, np.ndarray], t_in: int = 4,
                    t_out: int = 12, holdout: Optional[str] = None) -> Dict[str, np.ndarray]:
    """Time-reversed copies of the events that have training blocks, named
    <event>~rev (make_blocks gives them the mirrored training blocks only).

    Why: the one storm with a large >= 45 dBZ area (Brisbane) grows in the
    training blocks and decays in the test block. Played backwards, growth is
    decay and the motion reverses, so the network sees intense echo weaken as
    often as strengthen and has to read which one from its input frames."""
    L = sample_len(t_in, t_out)
    blocks = make_blocks({k: v.shape[0] for k, v in events.items()}, t_in, t_out, holdout)
    out: Dict[str, np.ndarray] = {}
    for name, dbz in events.items():
        if name.endswith(REVERSED):
            continue
        if any(b.event == name and b.split == "train" and b.stop - b.start >= L for b in blocks):
            out[name + REVERSED] = np.ascontiguousarray(dbz[::-1])
    return out


HELDOUT_TEST = ("mch-20160711",)
HELDOUT_VAL = ("mch-20150515",)


def brisbane_blocks(n: int, L: int) -> List[Tuple[str, int, int]]:
    """Brisbane: 144 frames 00:00-23:50 UTC, >= 45 dBZ from 02:00 to 10:40.

    With L = 16 (t_in 4 + t_out 12):
        train [0, 40)    00:00-06:30  build-up and peak of the storm
        gap   [40, 56)   06:40-09:10  one sample length, unused
        test  [56, 88)   09:20-14:30  late storm and decay (17 starts)
        gap   [88, 104)  14:40-17:10
        train [104, 144) 17:20-23:50  mostly dry: teaches staying dry
    The peak goes to training because it is the only >= 45 dBZ echo of any
    size in the whole data set; testing on the late storm is the price.
    Blocks shrink with n so short synthetic events still split validly."""
    train1 = (0, min(n, 40))
    test = (min(n, 40 + L), min(n, 40 + L + 2 * L))
    train2 = (min(n, test[1] + L), n)
    out = [("train",) + train1, ("test",) + test, ("train",) + train2]
    return [(s, a, b) for s, a, b in out if b - a >= L]


def block_starts(block: Block, L: int, stride: int = 1) -> List[int]:
    """Start indices of samples lying wholly inside a block."""
    return list(range(block.start, block.stop - L + 1, stride))
