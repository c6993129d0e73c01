#!/bin/sh
# The README's first command: tools/demo.sh shows frames and a >= 45 dBZ alert (storm line)
# within a minute, and Ctrl-C (SIGINT to its whole process group, as a terminal
# sends it) stops everything: exit 0, no process of the group left, temporary
# directory removed. Skips (77) when a binary or the model is missing.
set -u
B=${IMPA_BUILD_ROOT:?}
S=${IMPA_SOURCE_ROOT:?}
PY=${IMPA_PYTHON:-/usr/bin/python3}
skip() { echo "SKIP: $*"; exit 77; }
for b in src/daemon/impa-nowcastd src/tools/impa-simulate src/tools/impa-listen; do
    [ -x "$B/$b" ] || skip "$B/$b not built"
done
[ -f "$S/models/impa-net.nc" ] || skip "models/impa-net.nc missing"

out=$(mktemp /tmp/impa-test-demo.XXXXXX)
port=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# Like a terminal: the demo leads its own process group and SIGINT has its default
# disposition (a background job of this script would inherit SIGINT ignored, and
# a shell cannot trap a signal ignored on entry).
IMPA_BUILD="$B" IMPA_DEMO_PORT="$port" "$PY" -c '
import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
os.setsid()
os.execvp("sh", ["sh", sys.argv[1]])' "$S/tools/demo.sh" > "$out" 2>&1 &
pid=$!
# dash's kill has no process-group form: signal the group through python.
killpg() { "$PY" -c 'import os, sys; os.killpg(int(sys.argv[1]), int(sys.argv[2]))' "$pid" "$1" 2>/dev/null; }
trap 'killpg 9; rm -f "$out"' EXIT

n=0
while [ $n -lt 600 ]; do
    grep -q '^frame ' "$out" && grep -q '^storm .*event=new' "$out" && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
    n=$((n + 1))
done
fail=0
if ! grep -q '^frame ' "$out" || ! grep -q '^storm .*event=new' "$out"; then
    echo "FAIL: no frame and new alert within 60 s"
    fail=1
else
    echo "frames and alerts after $((n / 10)) s"
fi
killpg 2  # SIGINT, as Ctrl-C
wait "$pid"
rc=$?
if [ $rc -ne 0 ]; then echo "FAIL: demo exit status $rc after SIGINT"; fail=1; fi
# A process of the group that died as the demo ended (a `date` of a command
# substitution cut short by the Ctrl-C) is a zombie until init reaps it: only
# one still there after 2 s is left.
n=0
while killpg 0 && [ $n -lt 20 ]; do sleep 0.1; n=$((n + 1)); done
if killpg 0; then echo "FAIL: processes left in the demo's group"; fail=1; fi
grep -q '^demo: stopped' "$out" || { echo "FAIL: no 'demo: stopped' line"; fail=1; }
tmp=$(sed -n 's/^  config *\(.*\)\/demo.yaml$/\1/p' "$out")
if [ -z "$tmp" ] || [ -e "$tmp" ]; then echo "FAIL: temporary directory '$tmp' not removed"; fail=1; fi
if [ $fail -ne 0 ]; then
    echo "---- demo output (head)"; head -40 "$out"
    exit 1
fi
echo "PASS"
