#!/bin/sh
# `meson install` into a DESTDIR, checked as a user would meet the result:
#   1. every program, the configuration, the units, the model and its card, the
#      documents, consumer.py, forecast_png.py and the man pages are there;
#   2. every relative link of every installed Markdown document, and the units'
#      Documentation= paths, resolve inside the installed tree;
#   3. no installed file (binaries included) holds the source or build
#      directory's path; the installed programs carry the installed model and
#      configuration directories instead;
#   4. the man pages render without a groff warning and name every option their
#      program's --help lists; the installed Python tools run (--help) from
#      where they are installed.
set -u
B=${IMPA_BUILD_ROOT:?}
S=${IMPA_SOURCE_ROOT:?}
PY=${IMPA_PYTHON:-/usr/bin/python3}
tmp=$(mktemp -d /tmp/impa-install.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

meson install -C "$B" --destdir "$tmp/root" --no-rebuild >"$tmp/install.log" 2>&1 ||
    { cat "$tmp/install.log"; echo "FAIL: meson install"; exit 1; }
cfg=$B/impa_build_config.h
q() { sed -n "s/^#define $1 \"\(.*\)\"$/\1/p" "$cfg"; }
MODELDIR=$(q IMPA_MODELDIR)
SYSCONFDIR=$(q IMPA_SYSCONFDIR)
PREFIX=$(meson introspect "$B" --buildoptions | "$PY" -c 'import json,sys; print([o["value"] for o in json.load(sys.stdin) if o["name"] == "prefix"][0])')
R=$tmp/root$PREFIX
DOC=$R/share/doc/impa-nowcast

# 1. what must be there
for p in bin/impa-nowcastd bin/impa-listen bin/impa-simulate bin/impa-bench bin/impa-infer \
         bin/impa-bench-extrap bin/impa-extrapolate bin/impa-verify bin/impa-prob \
         share/man/man8/impa-nowcastd.8 share/man/man1/impa-listen.1 \
         share/impa-nowcast/tools/forecast_png.py \
         share/doc/impa-nowcast/README.md share/doc/impa-nowcast/docs/deploy.md \
         share/doc/impa-nowcast/docs/daemon.md share/doc/impa-nowcast/docs/configuration.md \
         share/doc/impa-nowcast/docs/protocol.md share/doc/impa-nowcast/docs/security.md \
         share/doc/impa-nowcast/docs/io.md share/doc/impa-nowcast/docs/forecast.png \
         share/doc/impa-nowcast/models/README.md share/doc/impa-nowcast/examples/consumer.py; do
    [ -f "$R/$p" ] || fail "$PREFIX/$p not installed"
done
[ -f "$tmp/root$MODELDIR/impa-net.nc" ] || fail "model not installed in $MODELDIR"
[ -f "$tmp/root$SYSCONFDIR/impa-nowcast.yaml" ] || fail "configuration not installed in $SYSCONFDIR"
for t in share/impa-nowcast/tools/forecast_png.py share/doc/impa-nowcast/examples/consumer.py; do
    [ -x "$R/$t" ] || fail "$t not executable"
done

# 2. links
"$PY" - "$tmp/root" <<'PY' || fails=$((fails + 1))
import os, re, sys
root = sys.argv[1]
bad = 0
n = 0
for d, _, files in os.walk(root):
    for f in files:
        p = os.path.join(d, f)
        if f.endswith(".md"):
            text = open(p, encoding="utf-8").read()
            text = re.sub(r"```.*?```", "", text, flags=re.S)       # code blocks
            for target in re.findall(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)", text):
                if re.match(r"^[a-z]+:", target) or target.startswith("#"):
                    continue
                n += 1
                t = os.path.normpath(os.path.join(d, target.split("#")[0]))
                if not os.path.exists(t):
                    print("FAIL: %s links to %s: not installed" % (p[len(root):], target))
                    bad += 1
        elif f.endswith(".service"):
            for line in open(p):
                if line.startswith("Documentation="):
                    for uri in line.split("=", 1)[1].split():
                        if uri.startswith("file://") and not os.path.exists(root + uri[7:]):
                            print("FAIL: %s: Documentation %s not installed" % (f, uri))
                            bad += 1
print("links: %d relative links checked, %d dangling" % (n, bad))
sys.exit(1 if bad else 0)
PY

# 3. no build-tree paths; the installed directories instead. Debug information
# (a -g build's DW_AT_comp_dir) is left out: it names the build directory by
# design, and packages strip it into -dbgsym files.
mkdir -p "$tmp/nodebug"
for f in $(find "$tmp/root" -type f); do
    c=$tmp/nodebug/$(echo "$f" | sed "s|$tmp/root||; s|/|_|g")
    if [ "$(head -c 4 "$f" | od -An -c | tr -d ' ')" = "177ELF" ]; then
        objcopy --strip-debug "$f" "$c" 2>/dev/null || cp "$f" "$c"
    else
        cp "$f" "$c"
    fi
done
for d in "$S" "$B" "$(cd "$S" && pwd -P)" "$(cd "$B" && pwd -P)"; do
    hits=$(grep -rlaF "$d" "$tmp/nodebug" 2>/dev/null)
    [ -z "$hits" ] || fail "installed files hold the path $d: $(echo $hits | sed "s|$tmp/nodebug/||g")"
done
grep -qaF "$MODELDIR" "$R/bin/impa-nowcastd" || fail "impa-nowcastd does not carry $MODELDIR"
grep -qaF "$MODELDIR" "$R/bin/impa-bench" || fail "impa-bench does not carry $MODELDIR"
grep -qaF "$SYSCONFDIR" "$R/bin/impa-nowcastd" || fail "impa-nowcastd does not carry $SYSCONFDIR"

# 4. man pages and the Python tools
for m in "$R/share/man/man8/impa-nowcastd.8" "$R/share/man/man1/impa-listen.1"; do
    w=$(LC_ALL=C.UTF-8 groff -man -Tutf8 -ww -z "$m" 2>&1)
    [ -z "$w" ] || fail "$(basename "$m"): groff warnings: $w"
    prog=$(basename "$m" | sed 's/\.[0-9]$//')
    text=$(LC_ALL=C.UTF-8 groff -man -Tascii "$m" 2>/dev/null | sed 's/.\x08//g')
    for opt in $("$R/bin/$prog" --help 2>/dev/null | grep -o -- '--[a-z][a-z-]*' | sort -u); do
        echo "$text" | grep -q -- "$opt" || fail "$prog(8/1) does not describe $opt (in --help)"
    done
done
"$PY" "$R/share/impa-nowcast/tools/forecast_png.py" --help >/dev/null 2>&1 ||
    fail "installed forecast_png.py --help"
if "$PY" -c 'import zmq' 2>/dev/null; then
    "$PY" "$DOC/examples/consumer.py" --help >/dev/null 2>&1 || fail "installed consumer.py --help"
fi
[ $fails -eq 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "OK: install tree under $PREFIX"
