#!/bin/sh
# The daemon ingests real OPERA composites (ODIM_H5 2.4, 3800 x 4400 float64,
# gzip chunks of 880 x 760): impa-nowcastd --replay on four CIRRUS files
# (01:00-01:30 UTC, the model's 10-min step), cut to a 1024 x 1024 km sub-domain
# averaged over 4 x 4 blocks. Passes when every scan is used, none is
# quarantined, one forecast is archived and its first cell lies where the
# OPERA grid puts it. Skips (77) without ../shared/data or the daemon.
set -u
B=${IMPA_BUILD_ROOT:?}
S=${IMPA_SOURCE_ROOT:?}
PY=${IMPA_PYTHON:-/usr/bin/python3}
D=${IMPA_SHARED_DATA:-$S/../shared/data}/pysteps-data/radar/OPERA/20241126/CIRRUS
DAEMON=$B/src/daemon/impa-nowcastd
skip() { echo "SKIP: $*"; exit 77; }
[ -x "$DAEMON" ] || skip "$DAEMON not built"
[ -f "$D/T_PABV21_C_EUOC_20241126013000.hdf" ] || skip "no OPERA composites in $D"

tmp=$(mktemp -d /tmp/impa-opera.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/in" "$tmp/out"
for t in 010000 011000 012000 013000; do cp "$D/T_PABV21_C_EUOC_20241126$t.hdf" "$tmp/in/"; done
port=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$tmp/opera.yaml" <<YAML
config_version: 1
domain: {name: opera, x_offset: 1700, y_offset: 1900, nx: 1024, ny: 1024, block: 4}
input: {directory: $tmp/in, pattern: "*.hdf"}
output: {directory: $tmp/out, prefix: "opera_"}
model: {weights: $S/models/impa-net.nc, threads: 1, method: extrapolation}
publish: {endpoints: ["tcp://127.0.0.1:$port"], request_endpoint: ""}
verification: {enabled: false}
YAML
OPENBLAS_NUM_THREADS=1 "$DAEMON" --config "$tmp/opera.yaml" --replay "$tmp/in" --output "$tmp/out" \
    >"$tmp/log" 2>&1
rc=$?
cat "$tmp/log"
[ $rc -eq 0 ] || { echo "FAIL: replay exited $rc"; exit 1; }
grep -q "4 files, 4 scans used, 1 cycles (0 fallback), 0 quarantined" "$tmp/log" ||
    { echo "FAIL: not every OPERA scan was used (see the log above)"; exit 1; }
[ -f "$tmp/out/opera_20241126T013000Z.nc" ] || { echo "FAIL: no archive file"; exit 1; }
[ -z "$(ls -A "$tmp/in/quarantine" 2>/dev/null)" ] || { echo "FAIL: quarantined files"; exit 1; }
# First cell centre of the cut: OPERA x = 1000 * (1700 + 2) m, y = -1000 * (1900 + 2) m.
if "$PY" -c 'import netCDF4' 2>/dev/null; then
    "$PY" - "$tmp/out/opera_20241126T013000Z.nc" <<'PY' || exit 1
import sys, netCDF4
ds = netCDF4.Dataset(sys.argv[1])
x, y = ds["x"], ds["y"]
scale = {"m": 1.0, "km": 1000.0}[x.units]
assert abs(x[0] * scale - 1702000) < 0.01 and abs(y[0] * scale + 1902000) < 0.01, (x[0], y[0], x.units)
assert abs((x[1] - x[0]) * scale - 4000) < 1e-6 and len(x) == 256 and len(y) == 256
crs = ds[ds["reflectivity"].grid_mapping]
assert crs.grid_mapping_name == "lambert_azimuthal_equal_area", crs.grid_mapping_name
print("archive grid: 256 x 256, 4 km, first cell at OPERA (1702, -1902) km")
PY
fi
echo "OK: OPERA replay"
