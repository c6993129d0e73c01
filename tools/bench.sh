#!/bin/sh
# The bench command: C engine latency/GFLOP/s/RSS at 256x256 and 512x512, the same
# weights through the PyTorch reference (ratio C/PyTorch), and the optical-flow
# extrapolation at 512x512; the daemon's 80 x 80 windows (overlap 32) against one
# whole-grid forward in the same run. Prints figures only; nothing here is a pass/fail test.
#   sh tools/bench.sh [THREADS] [WEIGHTS]
set -eu
cd "$(dirname "$0")/.."
THREADS=${1:-2}
WEIGHTS=${2:-models/impa-net.nc}
[ -x build/src/tools/impa-bench ] || sh tools/setup.sh
echo "== C engine (impa-bench) =="
build/src/tools/impa-bench --weights "$WEIGHTS" --grid 256x256 --grid 512x512 \
    --threads "$THREADS" --runs 5 --tile 80 --tile-overlap 32
echo "== PyTorch reference on the same weights, and the ratio C/PyTorch =="
for g in 256x256 512x512; do
    PYTHONPATH=train /usr/bin/python3 -m impa.bench_torch --weights "$WEIGHTS" --grid "$g" \
        --threads "$THREADS" --runs 3 --c-bench build/src/tools/impa-bench
done
if [ -x build/src/tools/impa-bench-extrap ]; then
    echo "== Optical-flow extrapolation (impa-bench-extrap) =="
    build/src/tools/impa-bench-extrap --grid 512x512 --leads 12 --threads "$THREADS"
fi
