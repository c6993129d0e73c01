#!/bin/sh
# Installs every build, run and test dependency from Debian 12's archive.
# Idempotent; needs root (or sudo). Used by the README's commands and by CI.
set -eu
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
PKGS="gcc libc6-dev pkg-config meson ninja-build
 libzmq3-dev libnetcdf-dev netcdf-bin libopenblas-dev libyaml-dev libcmocka-dev libsystemd-dev
 python3-torch python3-numpy python3-netcdf4 python3-zmq python3-matplotlib python3-scipy python3-pil python3-h5py
 libxml2-utils systemd"
# CI also runs the sanitizer suite and a libFuzzer smoke run (clang).
[ "${1:-}" = "--ci" ] && PKGS="$PKGS clang libclang-rt-14-dev valgrind"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "deps: installing$missing" >&2
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
