#!/bin/sh
# Daemon memory with one subscriber that never reads, against the same run without
# it: usage  tools/rss_stuck.sh [CYCLES [GRID [ENCODING [MODEL]]]]
# (default 8, 512x512, float32, tests/data/golden_c_weights.nc).
#
# Runs impa-nowcastd twice in service mode on the same CYCLES+3 simulated scans:
# once with a reading subscriber only, once with the reading subscriber plus one
# that connects, subscribes to everything and never reads (RCVHWM 1, 4 KiB
# RCVBUF). Samples VmRSS after every cycle and prints both series, the peak of
# each and their ratio. Exit 0 when the peak with the stuck subscriber is within
# RSS_STUCK_MAX_PCT (default 10) percent of the peak without it, 1 otherwise,
# 77 when a binary, the model or python3-zmq is missing. docs/reliability.md
# quotes its figures. Environment: IMPA_BUILD_ROOT (default ./build),
# IMPA_PYTHON, RSS_STUCK_EXTRA (YAML added to the publish section), RSS_KEEP=1.
set -u
CYCLES=${1:-8}
GRID=${2:-512x512}
ENC=${3:-float32}
S=$(cd "$(dirname "$0")/.." && pwd)
MODEL=${4:-$S/tests/data/golden_c_weights.nc}
B=${IMPA_BUILD_ROOT:-$S/build}
PY=${IMPA_PYTHON:-/usr/bin/python3}
MAXPCT=${RSS_STUCK_MAX_PCT:-10}
DAEMON=$B/src/daemon/impa-nowcastd
# A throwaway daemon on a temporary directory: allowed to keep root when this is
# run as root (the daemon refuses root otherwise; docs/security.md).
export IMPA_ALLOW_ROOT=${IMPA_ALLOW_ROOT:-1}
SIM=$B/src/tools/impa-simulate
skip() { echo "SKIP: $*"; exit 77; }
[ -x "$DAEMON" ] || skip "$DAEMON not built"
[ -x "$SIM" ] || skip "$SIM not built"
[ -f "$MODEL" ] || skip "$MODEL missing"
"$PY" -c 'import zmq' 2>/dev/null || skip "$PY has no zmq module (Debian: python3-zmq)"
tmp=$(mktemp -d /tmp/impa-rss.XXXXXX)
trap '[ "${RSS_KEEP:-0}" = 1 ] && echo "kept $tmp" || rm -rf "$tmp"' EXIT
"$SIM" --out "$tmp/scans" --seed 3 --count $((CYCLES + 3)) --grid "$GRID" --dx-km 1 \
    --prefix rss_ --quiet > "$tmp/sim.log" 2>&1 || { cat "$tmp/sim.log"; exit 1; }

cat > "$tmp/driver.py" <<'PY'
import os, shutil, subprocess, sys, time
import zmq
tmp, daemon, stuck, cycles = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
run = "%s/run%d" % (tmp, stuck)
for d in ("in", "out", "state", "stage"):
    os.makedirs("%s/%s" % (run, d))
for n in os.listdir("%s/scans" % tmp):
    shutil.copy("%s/scans/%s" % (tmp, n), "%s/stage/%s" % (run, n))
with open("%s/impa.yaml" % run, "w") as f:
    f.write("domain: {name: rss}\ninput: {directory: %s/in}\n"
            "output: {directory: %s/out, retention_hours: 0}\n"
            "verification: {state_directory: %s/state}\n"
            "model: {weights: %s, threads: 1}\n"
            "publish: {endpoints: ['ipc://%s/pub'], request_endpoint: '', encoding: %s,\n"
            "          status_interval_s: 5%s}\n"
            % (run, run, run, sys.argv[5], run, sys.argv[6], sys.argv[7]))
log = open("%s/daemon.log" % run, "w")
p = subprocess.Popen([daemon, "--config", "%s/impa.yaml" % run], stderr=log, stdout=log)
def rss():
    with open("/proc/%d/status" % p.pid) as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
ctx = zmq.Context()
def sub(hwm, buf):
    s = ctx.socket(zmq.SUB)
    s.setsockopt(zmq.SUBSCRIBE, b"impa.")
    s.setsockopt(zmq.LINGER, 0)
    if hwm:
        s.setsockopt(zmq.RCVHWM, hwm)
    if buf:
        s.setsockopt(zmq.RCVBUF, buf)
    s.connect("ipc://%s/pub" % run)
    return s
reader = sub(0, 0)
slow = sub(1, 4096) if stuck else None
while not os.path.exists("%s/pub" % run):
    time.sleep(0.05)
time.sleep(1.0)
scans = sorted(os.listdir("%s/stage" % run))
def feed(i):
    os.rename("%s/stage/%s" % (run, scans[i]), "%s/in/%s" % (run, scans[i]))
for i in range(3):
    feed(i)
ends, samples, t0 = 0, [], time.monotonic()
nxt = 3
while ends < cycles and time.monotonic() - t0 < 120 + 60 * cycles:
    if nxt < len(scans) and nxt - 3 <= ends:
        feed(nxt)
        nxt += 1
    if reader.poll(1000):
        parts = reader.recv_multipart()
        if parts[0].startswith(b"impa.cycle."):
            ends += 1
            time.sleep(0.3)
            samples.append(rss())
time.sleep(2)
samples.append(rss())
p.terminate()
p.wait()
print("stuck=%d rss_kB=%s peak=%d" % (stuck, " ".join(map(str, samples)), max(samples)))
PY
peaks=""
for stuck in 0 1; do
    out=$("$PY" "$tmp/driver.py" "$tmp" "$DAEMON" $stuck "$CYCLES" "$MODEL" "$ENC" \
          "${RSS_STUCK_EXTRA:-}") || { echo "FAIL: driver"; exit 1; }
    echo "$out"
    peaks="$peaks ${out##*peak=}"
done
set -- $peaks
pct=$(( ($2 - $1) * 100 / $1 ))
echo "grid $GRID $ENC, $CYCLES cycles: peak VmRSS $1 kB without, $2 kB with one stuck subscriber (${pct} %)"
[ "$pct" -le "$MAXPCT" ] && { echo "VERDICT: PASS"; exit 0; }
echo "VERDICT: FAIL (more than $MAXPCT %)"; exit 1
