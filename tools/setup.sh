#!/bin/sh
# One-shot setup: Debian dependencies, then a release build in ./build.
set -eu
cd "$(dirname "$0")/.."
sh tools/deps.sh
[ -d build ] || meson setup build "$@" >/dev/null
meson compile -C build >/dev/null
echo "setup: built in ./build" >&2
