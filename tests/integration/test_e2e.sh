#!/bin/sh
# End-to-end: impa-simulate -> impa-nowcastd -> ZeroMQ subscriber.
# Passes when the subscriber receives every frame of at least one cycle and a
# >= 45 dBZ alert for the simulated storm, the daemon exits 0 on SIGTERM, the
# archive holds forecasts and no ".*.tmp" file is left in the output directory.
# Skips (77) when a binary, the model or python3-zmq is missing.
# Environment (meson's test_env): IMPA_BUILD_ROOT, IMPA_SOURCE_ROOT, IMPA_PYTHON.
# IMPA_E2E_METHOD=extrapolation runs the daemon without the network.
# --prob (test e2e_prob): the probability product end to end as well: the shipped
# calibration table, a watch region over the whole domain with a probability
# alert, CAP on; the subscriber checks the probability frames, the cells' and the
# region's probabilities against them, the region alert and its CAP message
# (validated against the CAP 1.2 schema, $IMPA_CAP_XSD or the tests' copy).
set -u
PROB=0
[ "${1:-}" = "--prob" ] && PROB=1
B=${IMPA_BUILD_ROOT:?}
S=${IMPA_SOURCE_ROOT:?}
PY=${IMPA_PYTHON:-/usr/bin/python3}
DAEMON=$B/src/daemon/impa-nowcastd
SIM=$B/src/tools/impa-simulate
MODEL=$S/models/impa-net.nc
SUBSCRIBER=$S/tests/integration/e2e_subscriber.py
METHOD=${IMPA_E2E_METHOD:-impa-net}

skip() { echo "SKIP: $*"; exit 77; }
[ -x "$DAEMON" ] || skip "$DAEMON not built"
[ -x "$SIM" ] || skip "$SIM not built"
[ -f "$MODEL" ] || skip "$MODEL missing"
"$PY" -c 'import zmq' 2>/dev/null || skip "$PY has no zmq module (Debian: python3-zmq)"

tmp=$(mktemp -d /tmp/impa-e2e.XXXXXX)
daemon_pid=""
sub_pid=""
sim_pid=""
cleanup() {
    for p in $sim_pid $sub_pid $daemon_pid; do kill -TERM "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# Two free loopback ports (a race with other programs is possible but unlikely).
ports=$("$PY" -c '
import socket
ss = [socket.socket() for _ in range(2)]
for s in ss: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in ss))')
set -- $ports
PUB="tcp://127.0.0.1:$1"
REQ="tcp://127.0.0.1:$2"

mkdir -p "$tmp/in" "$tmp/out" "$tmp/state"
cat > "$tmp/e2e.yaml" <<YAML
config_version: 1
domain:
  name: e2e
input:
  directory: $tmp/in
output:
  directory: $tmp/out
  prefix: "e2e_"
model:
  weights: $MODEL
  threads: 2
  method: $METHOD
publish:
  endpoints: ["$PUB"]
  request_endpoint: "$REQ"
  alerts:
    threshold_dbz: 45
    min_area_km2: 4
verification:
  state_directory: $tmp/state
log:
  level: info
YAML
SUB_ARGS=""
if [ $PROB -eq 1 ]; then
    XSD=${IMPA_CAP_XSD:-$S/tests/publish/schemas/CAP-v1.2.xsd}
    "$PY" -c 'import lxml.etree' 2>/dev/null || skip "$PY has no lxml (Debian: python3-lxml)"
    mkdir -p "$tmp/cap"
    # the simulated radar is at 47.5 N 10 E; 128 x 128 cells of 2 km lie inside
    cat >> "$tmp/e2e.yaml" <<YAML
prob:
  enabled: true
  calibration: $S/models/prob-calibration.txt
  thresholds: [35, 45]
YAML
    sed -i "s|^    min_area_km2: 4$|    min_area_km2: 4\n    regions:\n      - name: everywhere\n        polygon: [[46, 7.5], [46, 12.5], [49, 12.5], [49, 7.5]]\n        alert_probability: 0.05\n        alert_within_minutes: 60\n  cap:\n    enabled: true\n    directory: $tmp/cap|" "$tmp/e2e.yaml"
    SUB_ARGS="--prob --region everywhere --cap-xsd $XSD"
fi

"$DAEMON" --config "$tmp/e2e.yaml" > "$tmp/daemon.log" 2>&1 &
daemon_pid=$!
sleep 1
if ! kill -0 "$daemon_pid" 2>/dev/null; then
    wait "$daemon_pid"
    echo "FAIL: impa-nowcastd exited at start-up (rc $?):"
    cat "$tmp/daemon.log"
    daemon_pid=""
    exit 1
fi

"$PY" "$SUBSCRIBER" --endpoint "$PUB" --timeout 80 --min-cycles 1 --alert-dbz 45 --near 8 \
    --ready "$tmp/sub.ready" $SUB_ARGS > "$tmp/sub.json" 2> "$tmp/sub.err" &
sub_pid=$!
n=0
while [ ! -f "$tmp/sub.ready" ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n + 1)); done

# T_in = 4 scans pre-seed the window at once, then one scan a second: 3 cycles.
# 128 x 128 cells of 2 km: the same 256 km radar disc at a quarter of the cost.
"$SIM" --out "$tmp/in" --seed 3 --count 7 --burst 4 --pace 1 --grid 128x128 --dx-km 2 \
    > "$tmp/sim.log" 2>&1 &
sim_pid=$!

wait "$sub_pid"
sub_rc=$?
sub_pid=""
fail=0
cat "$tmp/sub.json"
if [ $sub_rc -ne 0 ]; then
    echo "FAIL: subscriber (rc $sub_rc)"
    cat "$tmp/sub.err"
    fail=1
fi
wait "$sim_pid" 2>/dev/null
sim_pid=""

kill -TERM "$daemon_pid"
n=0
while kill -0 "$daemon_pid" 2>/dev/null && [ $n -lt 300 ]; do sleep 0.1; n=$((n + 1)); done
if kill -0 "$daemon_pid" 2>/dev/null; then
    echo "FAIL: impa-nowcastd still running 30 s after SIGTERM"
    kill -KILL "$daemon_pid"
    fail=1
fi
wait "$daemon_pid"
drc=$?
daemon_pid=""
if [ $drc -ne 0 ]; then
    echo "FAIL: impa-nowcastd exit status $drc after SIGTERM (expected 0)"
    fail=1
fi

n_archive=$(find "$tmp/out" -maxdepth 1 -name 'e2e_*.nc' | wc -l)
if [ "$n_archive" -lt 1 ]; then
    echo "FAIL: no forecast archive file in $tmp/out"
    fail=1
fi
leftover=$(find "$tmp/out" "$tmp/in" -name '.*.tmp')
if [ -n "$leftover" ]; then
    echo "FAIL: temporary files left: $leftover"
    fail=1
fi

if [ $fail -ne 0 ]; then
    echo "---- daemon log"; cat "$tmp/daemon.log"
    echo "---- simulator log"; cat "$tmp/sim.log"
    exit 1
fi
echo "archive files: $n_archive"
echo "PASS"
exit 0
