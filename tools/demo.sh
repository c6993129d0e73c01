#!/bin/sh
# The impa-nowcast demo: simulated radar -> impa-nowcastd -> impa-listen.
#   sh tools/setup.sh && sh tools/demo.sh
# Everything runs from the build tree in a temporary directory on loopback
# ports; nothing is installed. impa-simulate writes a scan every 2 s (10
# simulated minutes apart; the first T_in at once so the window is full; never
# faster than the daemon forecasts), the daemon forecasts each new window with
# the shipped model, and impa-listen prints every frame and every >= 45 dBZ
# alert. Ctrl-C stops all three.
#
# Environment: IMPA_BUILD (build dir, default ./build), IMPA_DEMO_PORT (PUB
# port, default 5590; the snapshot port is the next one), IMPA_DEMO_PACE
# (seconds between scans, default 2), IMPA_DEMO_METHOD (impa-net or
# extrapolation), IMPA_DEMO_KEEP=1 (keep the temporary directory: forecasts,
# scans, logs, e.g. for tools/forecast_png.py).
set -u
cd "$(dirname "$0")/.." || exit 1
ROOT=$(pwd)
BUILD=${IMPA_BUILD:-build}
PORT=${IMPA_DEMO_PORT:-5590}
PACE=${IMPA_DEMO_PACE:-2}
METHOD=${IMPA_DEMO_METHOD:-impa-net}
DAEMON=$BUILD/src/daemon/impa-nowcastd
# A throwaway daemon on a temporary directory: allowed to keep root when this is
# run as root (the daemon refuses root otherwise; docs/security.md).
export IMPA_ALLOW_ROOT=${IMPA_ALLOW_ROOT:-1}
SIM=$BUILD/src/tools/impa-simulate
LISTEN=$BUILD/src/tools/impa-listen
MODEL=$ROOT/models/impa-net.nc
# As in the systemd unit: the engine uses OpenBLAS single-threaded, so no
# OpenBLAS thread pool is needed.
export OPENBLAS_NUM_THREADS=1

for b in "$DAEMON" "$SIM" "$LISTEN"; do
    if [ ! -x "$b" ]; then
        echo "demo: $b is missing: run 'sh tools/setup.sh' first" >&2
        exit 1
    fi
done
if [ ! -f "$MODEL" ]; then
    echo "demo: $MODEL is missing (the shipped model)" >&2
    exit 1
fi
# The window length comes from the model itself (global attribute t_in).
T_IN=$(ncdump -h "$MODEL" 2>/dev/null | sed -n 's/^[[:space:]]*:t_in = \([0-9]*\).*/\1/p')
T_IN=${T_IN:-4}
STEP_MIN=$(ncdump -h "$MODEL" 2>/dev/null | sed -n 's/^[[:space:]]*:step_minutes = \([0-9]*\).*/\1/p')
STEP_MIN=${STEP_MIN:-10}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/impa-demo.XXXXXX") || exit 1
mkdir -p "$tmp/incoming" "$tmp/forecasts" "$tmp/state"
PUB="tcp://127.0.0.1:$PORT"
REQ="tcp://127.0.0.1:$((PORT + 1))"
cat > "$tmp/demo.yaml" <<YAML
# impa-nowcastd configuration written by tools/demo.sh
config_version: 1
domain:
  name: demo
input:
  directory: $tmp/incoming
  # the simulated feed runs ahead of the clock (10 min every PACE s)
  max_ahead_minutes: 525600
output:
  directory: $tmp/forecasts
  prefix: "demo_"
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

daemon_pid=""
listen_pid=""
nap_pid=""
stopping=0
stop_all() {
    [ $stopping -eq 1 ] && return
    stopping=1
    # A second Ctrl-C (or timeout(1) signalling the whole group) must not cut the
    # clean-up short: its trap would run 'exit' before the directory is removed.
    trap '' INT TERM
    # The daemon first (it finishes its cycle), the listener last, so the last
    # cycle can still be printed.
    for p in $nap_pid $daemon_pid $listen_pid; do kill -TERM "$p" 2>/dev/null; done
    for p in $nap_pid $daemon_pid $listen_pid; do wait "$p" 2>/dev/null; done
    if [ "${IMPA_DEMO_KEEP:-0}" = 1 ]; then
        echo "demo: stopped; kept $tmp (forecasts in $tmp/forecasts)"
        echo "      picture: /usr/bin/python3 tools/forecast_png.py --archive \$(ls $tmp/forecasts/*.nc | tail -1) --out forecast.png"
    else
        rm -rf "$tmp"
        echo "demo: stopped (IMPA_DEMO_KEEP=1 keeps the forecasts and logs)"
    fi
}
trap 'stop_all; exit 0' INT TERM
trap 'stop_all' EXIT

if ! "$DAEMON" --check-config "$tmp/demo.yaml" > "$tmp/check.log" 2>&1; then
    echo "demo: the demo configuration was refused:" >&2
    cat "$tmp/check.log" >&2
    exit 1
fi

echo "demo: simulated radar -> impa-nowcastd -> impa-listen   (Ctrl-C stops)"
echo "  config    $tmp/demo.yaml"
echo "  scans     $tmp/incoming  ($T_IN at once, then one every ${PACE}s or per cycle = $STEP_MIN simulated min)"
echo "  forecasts $tmp/forecasts"
echo "  daemon    log in $tmp/daemon.log, publishing on $PUB"
echo

"$DAEMON" --config "$tmp/demo.yaml" > "$tmp/daemon.log" 2>&1 &
daemon_pid=$!
sleep 1
if ! kill -0 "$daemon_pid" 2>/dev/null; then
    echo "demo: impa-nowcastd stopped at start-up:" >&2
    cat "$tmp/daemon.log" >&2
    daemon_pid=""
    exit 1
fi

"$LISTEN" --endpoint "$PUB" &
listen_pid=$!
sleep 0.5  # let the subscription reach the daemon before the first cycle

# Scan times: the newest pre-seeded scan is "now" (rounded down to the step).
STEP_S=$((STEP_MIN * 60))
t=$(( $(date -u +%s) / STEP_S * STEP_S - (T_IN - 1) * STEP_S ))
stamp() { date -u -d "@$1" +%Y%m%dT%H%M%SZ; }
iso() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }

# One scan at a time: every PACE seconds, but never before the daemon has
# archived the forecast of the previous scan, so a slow machine shows every
# cycle instead of piling up a backlog (the simulator's own --pace would not
# wait for the daemon).
simulate() {
    "$SIM" --out "$tmp/incoming" --start "$(iso "$1")" --count "$2" --step-min "$STEP_MIN" --quiet \
        >> "$tmp/simulate.log" 2>&1 || {
        echo "demo: impa-simulate failed:" >&2
        cat "$tmp/simulate.log" >&2
        exit 1
    }
}
alive() {
    kill -0 "$daemon_pid" 2>/dev/null && return 0
    echo "demo: impa-nowcastd stopped; last lines of its log:" >&2
    tail -n 20 "$tmp/daemon.log" >&2
    daemon_pid=""
    exit 1
}
# A background sleep keeps Ctrl-C prompt (the trap runs as soon as wait returns).
nap() {
    sleep "$1" &
    nap_pid=$!
    wait $nap_pid 2>/dev/null
    nap_pid=""
}

simulate "$t" "$T_IN"
t=$((t + (T_IN - 1) * STEP_S))
while :; do
    waited=0
    while [ ! -f "$tmp/forecasts/demo_$(stamp "$t").nc" ] && [ $waited -lt 120 ]; do
        alive
        nap 0.5
        waited=$((waited + 1))
    done
    nap "$PACE"
    alive
    t=$((t + STEP_S))
    simulate "$t" 1
done
