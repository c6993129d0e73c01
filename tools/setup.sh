#!/bin/sh
# One-shot setup: Debian packages, then a release build in ./build.
#   sh tools/setup.sh [MESON_OPTIONS...]      e.g. -Dnative=true
#
# Three steps, each announced and its output shown as it runs:
#   1/3 packages   tools/deps.sh (waits for a package lock another apt holds)
#   2/3 configure  meson setup; a half-made build directory (an interrupted
#                  setup, a corrupt build.ninja) is repaired or recreated
#   3/3 build      meson compile
# The first failing step stops the script: it names the command, its exit
# status and shows its last lines (the whole log is kept). Run twice, the second
# run checks and does nothing (1-4 s).
#
# Environment: IMPA_BUILD (build directory, default build), IMPA_LOCK_TIMEOUT
# (seconds to wait for the package lock, default 600).
set -u
cd "$(dirname "$0")/.." || exit 1
BUILD=${IMPA_BUILD:-build}
T0=$(date +%s)
LOGDIR=$(mktemp -d "${TMPDIR:-/tmp}/impa-setup.XXXXXX") || exit 1

say() { echo "setup: $*"; }

# Runs a step's command with its output shown and logged; on failure reports
# the command, its status and its last lines, then exits.
run() {
    step=$1 log=$LOGDIR/$2.log
    shift 2
    { r=0; "$@" || r=$?; echo $r >"$log.rc"; } 2>&1 | tee "$log"
    rc=$(cat "$log.rc" 2>/dev/null || echo 1)
    if [ "$rc" -ne 0 ]; then
        {
            echo
            echo "setup: FAILED at step $step: '$*' exited with status $rc"
            echo "setup: its last lines (whole log: $log):"
            tail -n 25 "$log" | sed 's/^/  | /'
        } >&2
        exit "$rc"
    fi
}

# A usable meson build directory: configured (coredata readable) and a
# build.ninja that ninja can parse.
healthy() {
    [ -f "$BUILD/meson-private/coredata.dat" ] && [ -f "$BUILD/build.ninja" ] &&
        meson introspect "$BUILD" --buildoptions >/dev/null 2>&1 &&
        ninja -C "$BUILD" -n >/dev/null 2>&1
}

say "[1/3] packages (tools/deps.sh)"
run 1/3 packages sh tools/deps.sh

if [ ! -d "$BUILD" ] || [ -z "$(ls -A "$BUILD" 2>/dev/null)" ]; then
    say "[2/3] configure: meson setup $BUILD $*"
    run 2/3 configure meson setup "$BUILD" "$@"
elif healthy; then
    if [ $# -gt 0 ]; then
        say "[2/3] configure: meson configure $BUILD $*"
        run 2/3 configure meson configure "$BUILD" "$@"
    else
        say "[2/3] configure: $BUILD is configured"
    fi
elif [ -d "$BUILD/meson-private" ] || [ -d "$BUILD/meson-logs" ] || [ -d "$BUILD/meson-info" ]; then
    if [ -f "$BUILD/meson-private/coredata.dat" ] &&
        meson introspect "$BUILD" --buildoptions >/dev/null 2>&1; then
        say "[2/3] configure: $BUILD is half-made (build.ninja missing or unreadable);" \
            "regenerating it with its options kept (meson setup --wipe)"
        run 2/3 configure meson setup --wipe "$BUILD" "$@"
    else
        say "[2/3] configure: $BUILD is half-made (no readable configuration: an" \
            "interrupted meson setup?); recreating it"
        rm -rf "$BUILD"
        run 2/3 configure meson setup "$BUILD" "$@"
    fi
else
    echo "setup: FAILED at step 2/3: $BUILD exists but is not a meson build directory;" \
         "move it away or set IMPA_BUILD to another directory" >&2
    exit 1
fi

say "[3/3] build: meson compile -C $BUILD"
run 3/3 build meson compile -C "$BUILD"

rm -rf "$LOGDIR"
say "done in $(( $(date +%s) - T0 )) s: $BUILD/src/daemon/impa-nowcastd and the tools are built"
