#!/bin/sh
# One command-line convention for every installed program (include/impa/cli.h):
# each executable meson installs is run with
#   --help          exit 0, "Usage: NAME" on stdout, --help and --version listed, nothing on stderr
#   --version       exit 0: "NAME VERSION", "git: ...", "build: ..." lines
#   --no-such-opt   exit 2, nothing on stdout, "Try 'NAME --help'." on stderr
#   a stray word    exit 2, the word named on stderr
#   --threads x     (programs that have --threads) exit 2, the option named on stderr
set -u
B=${IMPA_BUILD_ROOT:?}
PY=${IMPA_PYTHON:-/usr/bin/python3}
tmp=$(mktemp -d /tmp/impa-cli.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
VERSION=$(meson introspect "$B" --projectinfo | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["version"])')
progs=$(meson introspect "$B" --targets | "$PY" -c '
import json, sys
for t in json.load(sys.stdin):
    if t["type"] == "executable" and t["installed"]:
        print(t["filename"][0])')
[ -n "$progs" ] || { echo "FAIL: no installed executables found"; exit 1; }
fails=0 n=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
for p in $progs; do
    name=$(basename "$p")
    n=$((n + 1))
    [ -x "$p" ] || { fail "$name: $p not built"; continue; }
    "$p" --help >"$tmp/out" 2>"$tmp/err"; rc=$?
    [ $rc -eq 0 ] || fail "$name --help exited $rc"
    head -1 "$tmp/out" | grep -q "^Usage: $name" || fail "$name --help: first line is not 'Usage: $name ...'"
    grep -q -- "--version" "$tmp/out" && grep -q -- "--help" "$tmp/out" ||
        fail "$name --help does not list --version and --help"
    [ -s "$tmp/err" ] && fail "$name --help wrote to stderr"
    "$p" --version >"$tmp/out" 2>"$tmp/err"; rc=$?
    [ $rc -eq 0 ] || fail "$name --version exited $rc"
    [ "$(sed -n 1p "$tmp/out")" = "$name $VERSION" ] || fail "$name --version: '$(sed -n 1p "$tmp/out")'"
    sed -n 2p "$tmp/out" | grep -q "^git: ." || fail "$name --version: no git describe line"
    sed -n 3p "$tmp/out" | grep -q "^build: buildtype=" || fail "$name --version: no build options line"
    "$p" --no-such-option >"$tmp/out" 2>"$tmp/err"; rc=$?
    [ $rc -eq 2 ] || fail "$name --no-such-option exited $rc, not 2"
    [ -s "$tmp/out" ] && fail "$name --no-such-option wrote to stdout"
    grep -q "Try '$name --help'" "$tmp/err" || fail "$name --no-such-option: no \"Try '$name --help'\" on stderr"
    "$p" stray-word >"$tmp/out" 2>"$tmp/err"; rc=$?
    [ $rc -eq 2 ] || fail "$name stray-word exited $rc, not 2"
    grep -q "stray-word\|required" "$tmp/err" || fail "$name stray-word: not named on stderr"
    if "$p" --help 2>/dev/null | grep -q -- "--threads"; then
        "$p" --threads x >"$tmp/out" 2>"$tmp/err"; rc=$?
        [ $rc -eq 2 ] || fail "$name --threads x exited $rc, not 2"
        grep -q -- "--threads" "$tmp/err" || fail "$name --threads x: the option is not named on stderr"
    fi
done
[ $fails -eq 0 ] || { echo "$fails failure(s) over $n programs"; exit 1; }
echo "OK: $n programs: --help, --version, usage errors"
