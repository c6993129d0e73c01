#!/bin/bash
# Leave-one-event-out evaluation of the 3.0 recipe (issue 18; docs/training.md,
# "Leave-one-event-out"): for every event with >= 35 dBZ echo (impa.evalnet's
# `events` set), the 3.0 training command with that event held out whole
# (impa.train --holdout-event: every other event trains whole, forward and
# time-reversed, no validation), then every finished fold scored on its own
# held-out event against persistence and the impa-extrap-3 backbone
# (impa.evalnet --set events, --net loeo=RUNS/{event}/model.nc), per event
# and as the mean over the folds done, with the block bootstrap.
#
#   train/loeo.sh [EVENT ...]      (default: every event with >= 35 dBZ echo)
#
# Resumable across sessions: a finished fold's weights are copied to FOLDS
# (train/loeo-folds/3.0/EVENT.nc, committed: the run folders do not survive a
# session) and a fold found there is done; one with a last.pt in RUNS resumes
# where it stopped (impa.train --resume, checkpoint every 3 min, the run fixed
# by --steps and the seed); the evaluation tables are
# cached, so rerunning scores only what is new. About 45-55 min of one core
# per fold (2,200 steps) plus 2-8 min of scoring per event.
# Env: RUNS (default train/runs/loeo-adv3), FOLDS (default train/loeo-folds/3.0),
# STEPS (2200), THREADS (1),
# CACHE (evalnet table cache, default train/cache/evalnet), OUT (docs/eval/loeo),
# PYSTEPS=1 (also pySTEPS LK; needs PYTHONPATH=.../pysteps-1.21.3),
# SCORE_ONLY=1 (train nothing, score the folds that are done), TRAIN_ONLY=1 (train the
# folds, score nothing: for several folds trained side by side, scored once at the end).
set -euo pipefail
cd "$(dirname "$0")"
py=${PYTHON:-/usr/bin/python3}
runs=$(realpath -m "${RUNS:-runs/loeo-adv3}")
folds=$(realpath -m "${FOLDS:-loeo-folds/3.0}")
mkdir -p "$folds"
steps=${STEPS:-2200}
threads=${THREADS:-1}
export OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads
events=("$@")
if [ ${#events[@]} -eq 0 ]; then
    mapfile -t events < <("$py" -c '
from impa import data as D, evalnet as E
root = D.shared_data_root()
if root is None:
    raise SystemExit("loeo: radar sample data not found (IMPA_SHARED_DATA)")
for e in D.EVENTS:
    if E.has_35(D.load_event(e.name, root).dbz):
        print(e.name)')
fi
echo "loeo: folds ${events[*]} in $runs" >&2
done_=()
for ev in "${events[@]}"; do
    dir=$runs/$ev
    if [ -f "$folds/$ev.nc" ]; then
        done_+=("$ev")
        continue
    fi
    if [ ! -f "$dir/model.nc" ] && [ -z "${SCORE_ONLY:-}" ]; then
        # the 3.0 command (models/README.md) plus --holdout-event
        "$py" -m impa.train --out "$dir" --loss mad --advection --scheme impa-extrap-3 \
            --reverse-time --steps "$steps" --budget-min 999 --seed 0 --crop 80 --batch 4 \
            --threads "$threads" --export-which last --model-version 3.0 \
            --holdout-event "$ev" --resume --quiet
    fi
    if [ -f "$dir/model.nc" ]; then
        cp "$dir/model.nc" "$folds/$ev.nc.tmp" && mv "$folds/$ev.nc.tmp" "$folds/$ev.nc"
        done_+=("$ev")
    fi
done
if [ -n "${TRAIN_ONLY:-}" ]; then
    echo "loeo: folds done: ${done_[*]:-none} (TRAIN_ONLY: not scored)" >&2
    exit 0
fi
if [ ${#done_[@]} -eq 0 ]; then
    echo "loeo: no fold finished yet" >&2
    exit 0
fi
list=$(IFS=,; echo "${done_[*]}")
extra=()
[ -n "${PYSTEPS:-}" ] && extra=(--pysteps --diff loeo:pysteps-lk)
"$py" -m impa.evalnet --cache "${CACHE:-cache/evalnet}" --out "${OUT:-../docs/eval/loeo}" \
    --set events --events "$list" --net "loeo=$folds/{event}.nc" \
    --diff loeo:impa-extrap-3 --diff loeo:persistence --diff impa-extrap-3:impa-extrap-1 \
    "${extra[@]}"
