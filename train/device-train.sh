#!/bin/bash
# Trains the advection-guided IMPA-Net variants side by side on one GPU, from a
# training pack (python3 -m impa.pack), for a machine that has PyTorch with CUDA
# but neither the radar sample data, netCDF4 nor the C tools
# (docs/training.md, "Training on a GPU").
#
#   train/device-train.sh PACK OUT BUDGET_MIN [NAME ...]
#
# Each run writes OUT/NAME/{last,best}.pt, val.jsonl, meta.json and OUT/NAME.log
# (validation lines). Export to NetCDF weights happens on the development
# machine: python3 -m impa.train --out OUT/NAME --export-only --export-which last
# PYTHON picks the interpreter (default /usr/bin/python3; on the GPU machine
# the one that holds PyTorch with CUDA).
set -euo pipefail
if [ $# -lt 3 ]; then
    echo "usage: $0 PACK OUT BUDGET_MIN [NAME ...]" >&2
    exit 2
fi
pack=$(realpath "$1")
out=$(realpath -m "$2")
budget=$3
shift 3
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(adv-mad adv-mse adv-mad-csi adv-mad-local)
py=${PYTHON:-/usr/bin/python3}
device=${DEVICE:-cuda}
mkdir -p "$out"
cd "$(dirname "$0")"

# The flags of each variant; everything else is common (seed 0, the clock
# budget, validation every minute on the validation event).
flags() {
    case $1 in
        adv-mad)       echo "--loss mad --crop 80 --batch 32" ;;
        adv-mse)       echo "--loss mse --crop 80 --batch 32" ;;
        adv-mad-csi)   echo "--loss mad --crop 80 --batch 32 --csi-weight 0.3" ;;
        adv-mad-local) echo "--loss mad --crop 128 --batch 16 --local-norm" ;;
        adv-mse-local) echo "--loss mse --crop 128 --batch 16 --local-norm" ;;
        adv-mad-nomixer) echo "--loss mad --crop 80 --batch 32 --no-mixer" ;;
        *) echo "device-train: unknown variant $1" >&2; return 1 ;;
    esac
}

pids=()
for n in "${names[@]}"; do
    f=$(flags "$n")
    # shellcheck disable=SC2086
    "$py" -m impa.train --out "$out/$n" --pack "$pack" --device "$device" --advection \
        --seed 0 --budget-min "$budget" --threads 1 --val-min 1 --ckpt-min 1 \
        --export-which last --no-export --quiet $f > "$out/$n.log" 2>&1 &
    pids+=($!)
done
rc=0
for i in "${!pids[@]}"; do
    if ! wait "${pids[$i]}"; then
        echo "device-train: ${names[$i]} failed:" >&2
        tail -5 "$out/${names[$i]}.log" >&2
        rc=1
    fi
done
for n in "${names[@]}"; do
    echo "== $n"
    tail -2 "$out/$n.log"
done
exit $rc
