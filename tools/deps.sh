#!/bin/sh
# Installs every build, run and test dependency from Debian 12's archive.
#   sh tools/deps.sh [--ci]
# Idempotent (nothing is run when every package is installed); needs root or sudo
# otherwise. Used by tools/setup.sh (the README's commands) and by .ci/run.
#
# Another apt or dpkg (unattended-upgrades on a fresh machine, a colleague) may
# hold the package lock: apt-get is told to wait for it (DPkg::Lock::Timeout) and
# a lock that apt-get does not wait for (package lists) is retried, both up to
# IMPA_LOCK_TIMEOUT seconds (default 600). apt-get's own output is shown: it is
# the progress of this step.
set -eu
LOCK_TIMEOUT=${IMPA_LOCK_TIMEOUT:-600}

# One line per package group.
PKGS="gcc libc6-dev pkg-config meson ninja-build
 libzmq3-dev libnetcdf-dev netcdf-bin libopenblas-dev libyaml-dev libcmocka-dev libsystemd-dev
 libproj-dev proj-data nettle-dev libudunits2-dev libgeos-dev libjansson-dev libxml2-dev
 python3-torch python3-numpy python3-netcdf4 python3-zmq python3-matplotlib python3-scipy python3-pil python3-h5py
 python3-xarray python3-pyproj
 libxml2-utils systemd groff-base"
# CI also runs the sanitizer suite and a libFuzzer smoke run (clang).
[ "${1:-}" = "--ci" ] && PKGS="$PKGS clang libclang-rt-14-dev valgrind"

# One dpkg-query for all packages (it prints nothing for unknown ones and exits 1).
installed=$(dpkg-query -W -f='${Package} ${Status}\n' $PKGS 2>/dev/null |
            awk '$NF == "installed" && $(NF-1) == "ok" { print $1 }') || true
missing="" n=0 nmiss=0
for p in $PKGS; do
    n=$((n + 1))
    case " $(echo $installed) " in
        *" $p "*) ;;
        *) missing="$missing $p" nmiss=$((nmiss + 1)) ;;
    esac
done
if [ -z "$missing" ]; then
    echo "deps: all $n Debian packages are installed"
    exit 0
fi
echo "deps: installing $nmiss of $n Debian packages:$missing"

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null 2>&1; then
        echo "deps: need root or sudo to install:$missing" >&2
        exit 1
    fi
    SUDO="sudo"
fi

# Runs apt-get with the lock timeout; retries while it reports a lock it did not
# wait for, until LOCK_TIMEOUT has passed. Output is shown and kept in $out.
out=$(mktemp "${TMPDIR:-/tmp}/impa-deps.XXXXXX")
trap 'rm -f "$out" "$out.rc"' EXIT
apt() {
    start=$(date +%s)
    while :; do
        { r=0; $SUDO env DEBIAN_FRONTEND=noninteractive \
              apt-get -o DPkg::Lock::Timeout="$LOCK_TIMEOUT" "$@" || r=$?; echo $r >"$out.rc"; } 2>&1 |
            tee "$out"
        rc=$(cat "$out.rc")
        [ "$rc" -eq 0 ] && return 0
        waited=$(( $(date +%s) - start ))
        if grep -q "Could not get lock" "$out" && [ "$waited" -lt "$LOCK_TIMEOUT" ]; then
            echo "deps: another package manager holds the lock; waiting (${waited} s of ${LOCK_TIMEOUT} s)"
            sleep 5
            continue
        fi
        if grep -q "Could not get lock" "$out"; then
            echo "deps: the package lock was still held after ${LOCK_TIMEOUT} s" \
                 "(IMPA_LOCK_TIMEOUT); wait for the other apt/dpkg to finish and run again" >&2
        fi
        return "$rc"
    done
}

echo "deps: apt-get waits up to ${LOCK_TIMEOUT} s for the package lock" \
     "(-o DPkg::Lock::Timeout=${LOCK_TIMEOUT}) if another apt or dpkg is running"
echo "deps: apt-get update"
apt update
echo "deps: apt-get install"
apt install -y --no-install-recommends $missing
echo "deps: installed$missing"
