#!/bin/sh
# Soak test of impa-nowcastd in service mode: usage  tools/soak.sh [CYCLES [RSS_MAX_KB]]  (default 1000, 2048).
#
# impa-simulate writes CYCLES+3 scans of a 32x32 grid into a staging directory
# (the 32x32 golden_c test model: t_in 4, so the first 3 scans only fill the
# window). A python3-zmq driver then renames them one by one into the daemon's
# input directory (write-then-rename, IN_MOVED_TO) as fast as the daemon keeps up:
# the next scan goes in as soon as the previous cycle's cycle_end arrived. The
# driver counts every frame and cycle_end, checks that per-topic seq numbers are
# contiguous (no message lost), samples the daemon's VmRSS and open fds at start,
# every SAMPLE cycles and at the end, prints a table and a verdict.
#
# Exit 0 when: every cycle was published (CYCLES cycle_end messages, each with
# all its frames), no seq gap on any topic, no quarantined scan, the fd count at
# the end equals the one after the first cycle, and RSS grew by less than
# SOAK_RSS_MAX_KB (default 2048) between the first sample after warm-up
# (SOAK_WARMUP cycles, default the larger of 20 and CYCLES/10: the verifier keeps
# the forecasts of the last 2 h, 12 cycles, so memory legitimately grows until
# then) and the end. Exit 1 otherwise,
# 77 when a binary, the model or python3-zmq is missing.
#
# Environment: IMPA_BUILD_ROOT (default ./build), IMPA_SOURCE_ROOT (default .),
# IMPA_PYTHON (default /usr/bin/python3), SOAK_NICE (default 5),
# SOAK_KEEP=1 keeps the temporary directory (daemon log, config).
set -u
CYCLES=${1:-1000}
S=${IMPA_SOURCE_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
B=${IMPA_BUILD_ROOT:-$S/build}
PY=${IMPA_PYTHON:-/usr/bin/python3}
NICE=${SOAK_NICE:-5}
DAEMON=$B/src/daemon/impa-nowcastd
# A throwaway daemon on a temporary directory: allowed to keep root when this is
# run as root (the daemon refuses root otherwise; docs/security.md).
export IMPA_ALLOW_ROOT=${IMPA_ALLOW_ROOT:-1}
SIM=$B/src/tools/impa-simulate
MODEL=$S/tests/data/golden_c_weights.nc
WARMUP=${SOAK_WARMUP:-$((CYCLES / 10))}
[ "$WARMUP" -ge 20 ] || WARMUP=${SOAK_WARMUP:-20}
SAMPLE=${SOAK_SAMPLE:-100}
[ "$CYCLES" -lt 300 ] && SAMPLE=${SOAK_SAMPLE:-10}
RSS_MAX_KB=${2:-${SOAK_RSS_MAX_KB:-2048}}

skip() { echo "SKIP: $*"; exit 77; }
[ -x "$DAEMON" ] || skip "$DAEMON not built"
[ -x "$SIM" ] || skip "$SIM not built"
[ -f "$MODEL" ] || skip "$MODEL missing"
"$PY" -c 'import zmq' 2>/dev/null || skip "$PY has no zmq module (Debian: python3-zmq)"
case $CYCLES in ''|*[!0-9]*) echo "usage: $0 [CYCLES]" >&2; exit 2;; esac

tmp=$(mktemp -d /tmp/impa-soak.XXXXXX)
daemon_pid=""
cleanup() {
    [ -n "$daemon_pid" ] && kill -KILL "$daemon_pid" 2>/dev/null
    if [ "${SOAK_KEEP:-0}" = 1 ]; then echo "kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM
mkdir -p "$tmp/stage" "$tmp/in" "$tmp/out" "$tmp/state"

# ipc:// endpoints: no port to pick, no clash with other tests.
cat > "$tmp/soak.yaml" <<YAML
domain: {name: soak}
input: {directory: $tmp/in}
output: {directory: $tmp/out, retention_hours: 2}
model: {weights: $MODEL, threads: 1}
publish:
  endpoints: ["ipc://$tmp/pub"]
  request_endpoint: ""
  status_interval_s: 5
verification: {state_directory: $tmp/state}
log: {level: info}
YAML

nscans=$((CYCLES + 3))
if ! "$SIM" --out "$tmp/stage" --seed 7 --count "$nscans" --grid 32x32 --dx-km 8 \
        --prefix soak_ --quiet > "$tmp/sim.log" 2>&1; then
    echo "FAIL: impa-simulate"; cat "$tmp/sim.log"; exit 1
fi

nice -n "$NICE" "$DAEMON" --config "$tmp/soak.yaml" > "$tmp/daemon.log" 2>&1 &
daemon_pid=$!

cat > "$tmp/driver.py" <<'PY'
import json, os, sys, time
import zmq

tmp, pid, cycles, warmup, every, rss_max = sys.argv[1], int(sys.argv[2]), *map(int, sys.argv[3:7])

def sample(settle=0.2):
    # after a cycle_end the daemon still verifies and prunes (an open directory):
    # let it settle so the fd count is the idle one
    time.sleep(settle)
    rss = 0
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    return rss, len(os.listdir("/proc/%d/fd" % pid))

ctx = zmq.Context()
sub = ctx.socket(zmq.SUB)
sub.setsockopt(zmq.SUBSCRIBE, b"impa.")
sub.setsockopt(zmq.LINGER, 0)
sub.setsockopt(zmq.RCVHWM, 0)
sub.connect("ipc://%s/pub" % tmp)
deadline = time.monotonic() + 30
while not os.path.exists("%s/pub" % tmp) and time.monotonic() < deadline:
    time.sleep(0.05)
time.sleep(0.5)  # the subscription must reach the publisher before the first message

stage = "%s/stage" % tmp
scans = sorted(n for n in os.listdir(stage) if n.endswith(".nc"))
seq, lost, counts, frames_ok = {}, 0, {}, 0
cycle_ends, quarantined, status_msgs = 0, 0, 0
rows = [("start", 0) + sample(0)]
t0 = time.monotonic()

def feed(i):
    os.rename(os.path.join(stage, scans[i]), os.path.join(tmp, "in", scans[i]))

def pump(timeout_ms):
    """Reads messages for up to timeout_ms; returns (cycle_end seen, messages read)."""
    global lost, frames_ok, cycle_ends, quarantined, status_msgs
    ends = n = 0
    while sub.poll(timeout_ms):
        timeout_ms = 0
        n += 1
        parts = sub.recv_multipart()
        topic = parts[0].decode()
        hdr = json.loads(parts[1])
        key = (hdr["run_id"], topic)
        if key in seq and hdr["seq"] != seq[key] + 1:
            lost += hdr["seq"] - seq[key] - 1
        seq[key] = hdr["seq"]
        kind = topic.split(".")[1]
        counts[kind] = counts.get(kind, 0) + 1
        if kind == "frame":
            g = hdr["grid"]
            if len(parts[2]) == g["nx"] * g["ny"]:
                frames_ok += 1
        elif kind == "cycle":
            cycle_ends += 1
            ends += 1
        elif kind == "status":
            status_msgs += 1
            quarantined = hdr["quarantined"]
    return ends, n

for i in range(3):
    feed(i)
nxt = 3
while cycle_ends < cycles and time.monotonic() - t0 < 30 + 2.0 * cycles:
    if nxt < len(scans) and nxt - 3 <= cycle_ends:
        feed(nxt)
        nxt += 1
    if pump(2000)[1] == 0 and nxt - 3 > cycle_ends:
        # nothing at all within 2 s: report and go on waiting (the overall
        # deadline above ends the run)
        print("waiting for the cycle of scan %d (%d cycle_end so far)" % (nxt - 1, cycle_ends),
              file=sys.stderr)
    if cycle_ends and (cycle_ends == 1 or cycle_ends % every == 0) and rows[-1][1] != cycle_ends:
        rows.append(("cycle", cycle_ends) + sample())
    if cycle_ends == warmup and not any(r[0] == "warm" for r in rows):
        rows.append(("warm", cycle_ends) + sample())
pump(6000)  # trailing messages and one status (status_interval_s 5)
wall = time.monotonic() - t0
rows.append(("end", cycle_ends) + sample(0))

print("%-6s %7s %10s %5s" % ("sample", "cycles", "VmRSS kB", "fds"))
for r in rows:
    print("%-6s %7d %10d %5d" % r)
warm = next(r for r in rows if r[0] in ("warm", "end"))
first = next((r for r in rows if r[1] >= 1), rows[-1])
end = rows[-1]
rss_growth = end[2] - warm[2]
fd_growth = end[3] - first[3]
frames_expected = 12 * cycles
ok = (cycle_ends == cycles and frames_ok >= frames_expected and lost == 0
      and quarantined == 0 and fd_growth == 0 and rss_growth < rss_max)
print("cycles published %d/%d, frames %d/%d, messages %s, lost %d, quarantined %d, "
      "status messages %d, wall %.1f s (%.1f cycles/s)"
      % (cycle_ends, cycles, frames_ok, frames_expected,
         json.dumps(counts, sort_keys=True), lost, quarantined, status_msgs, wall,
         cycle_ends / wall if wall else 0))
print("RSS %d -> %d kB after warm-up (%d cycles): %+d kB (bound %d); "
      "fds %d at start, %d after cycle 1, %d at end: %+d"
      % (warm[2], end[2], warm[1], rss_growth, rss_max, rows[0][3], first[3], end[3], fd_growth))
print("VERDICT: %s" % ("PASS" if ok else "FAIL"))
sys.exit(0 if ok else 1)
PY

"$PY" "$tmp/driver.py" "$tmp" "$daemon_pid" "$CYCLES" "$WARMUP" "$SAMPLE" "$RSS_MAX_KB"
rc=$?

kill -TERM "$daemon_pid"
n=0
while kill -0 "$daemon_pid" 2>/dev/null && [ $n -lt 300 ]; do sleep 0.1; n=$((n + 1)); done
if kill -0 "$daemon_pid" 2>/dev/null; then
    echo "FAIL: impa-nowcastd still running 30 s after SIGTERM"; rc=1
else
    wait "$daemon_pid"; drc=$?; daemon_pid=""
    [ $drc -eq 0 ] || { echo "FAIL: impa-nowcastd exit status $drc"; rc=1; }
fi
grep -E '^<[0-9]>(stopped|watching)' "$tmp/daemon.log" | sed 's/^<[0-9]>/daemon: /'
errors=$(grep -c '^<[0-3]>' "$tmp/daemon.log")
echo "daemon log: $(wc -l < "$tmp/daemon.log") lines, $errors at error level"
if [ $rc -ne 0 ] || [ "$errors" -ne 0 ]; then
    echo "---- daemon log (last 30 lines)"; tail -30 "$tmp/daemon.log"
    exit 1
fi
exit 0
