#!/bin/sh
# tools/setup.sh and tools/deps.sh on their failure paths, without root and
# without the network: apt-get, dpkg-query and sudo are fakes on PATH, and the
# project is a one-file meson project (the real meson, ninja and cc), so a run
# takes about a second. Cases:
#   1. fresh: missing packages installed (the lock timeout passed to apt-get),
#      configure and build announced as [1/3] [2/3] [3/3], exit 0;
#   2. the same run again: no apt-get, nothing rebuilt;
#   3. a half-made build directory (interrupted meson setup: meson-private but
#      no coredata, no build.ninja) is recreated; a deleted build.ninja is
#      regenerated with the options kept;
#   4. a foreign build directory is refused, not deleted;
#   5. a compile error stops the script: the failing command, its status and
#      the compiler's message are printed;
#   6. the package lock held by another apt and released after 2 s: setup
#      waits with a message and succeeds;
#   7. the lock never released: setup stops at step 1 with apt-get's error and
#      does not configure.
set -u
SRC=${IMPA_SOURCE_ROOT:?IMPA_SOURCE_ROOT not set}
for t in meson ninja cc; do
    command -v $t >/dev/null 2>&1 || { echo "SKIP: $t not found"; exit 77; }
done
tmp=$(mktemp -d "${TMPDIR:-/tmp}/impa-test-setup.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; [ -f "$tmp/out" ] && sed 's/^/  > /' "$tmp/out"; exit 1; }

# Fake package tools. State: $tmp/state/installed (one package per line),
# $tmp/state/lock (exists = another apt holds the dpkg lock), apt.log (calls).
mkdir -p "$tmp/bin" "$tmp/state"
cat >"$tmp/bin/dpkg-query" <<'FAKE'
#!/bin/sh
# dpkg-query -W -f=FORMAT PKG...: known packages only, exit 1 if any is unknown.
shift 2
rc=0
for p in "$@"; do
    if grep -qx "$p" "$FAKE_STATE/installed"; then echo "$p install ok installed"
    else echo "dpkg-query: no packages found matching $p" >&2; rc=1; fi
done
exit $rc
FAKE
cat >"$tmp/bin/apt-get" <<'FAKE'
#!/bin/sh
# Behaves like apt-get 2.6 on the lock: waits DPkg::Lock::Timeout seconds when
# given (printing apt's "Waiting for cache lock" line), fails at once without.
echo "apt-get $*" >>"$FAKE_STATE/apt.log"
timeout=0
while [ $# -gt 0 ]; do
    case "$1" in
        -o) case "$2" in DPkg::Lock::Timeout=*) timeout=${2#*=} ;; esac; shift 2 ;;
        -*) shift ;;
        *) break ;;
    esac
done
cmd=$1; shift
waited=0
while [ -e "$FAKE_STATE/lock" ]; do
    if [ "$waited" -ge "$timeout" ]; then
        echo "E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 4242 (apt-get)" >&2
        exit 100
    fi
    echo "Waiting for cache lock: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 4242 (apt-get)... ${waited}s"
    sleep 1
    waited=$((waited + 1))
done
case "$cmd" in
    update) echo "Reading package lists... Done" ;;
    install) for p in "$@"; do case "$p" in -*) ;; *) echo "Setting up $p ..."; echo "$p" >>"$FAKE_STATE/installed" ;; esac; done ;;
esac
FAKE
printf '#!/bin/sh\nexec "$@"\n' >"$tmp/bin/sudo"
chmod +x "$tmp/bin/"*
export PATH="$tmp/bin:$PATH" FAKE_STATE="$tmp/state"

# The project: the real tools/setup.sh and tools/deps.sh, a tiny meson project.
P=$tmp/proj
mkdir -p "$P/tools"
cp "$SRC/tools/setup.sh" "$SRC/tools/deps.sh" "$P/tools/"
cat >"$P/meson.build" <<'MB'
project('tiny', 'c')
executable('hello', 'hello.c')
MB
echo 'int main(void) { return 0; }' >"$P/hello.c"
# Every package of deps.sh but two is "installed".
sh -c ". /dev/null; sed -n '/^PKGS=/,/\"\$/p' '$SRC/tools/deps.sh'" | tr -d '"' | sed 's/^PKGS=//' |
    tr ' ' '\n' | grep -v '^$' >"$tmp/all"
grep -v -e '^meson$' -e '^libproj-dev$' "$tmp/all" >"$tmp/state/installed"

setup() { IMPA_LOCK_TIMEOUT=${LT:-30} sh "$P/tools/setup.sh" "$@" >"$tmp/out" 2>&1; }
has() { grep -q -- "$1" "$tmp/out" || fail "output lacks '$1'"; }

# 1. fresh
setup || fail "fresh setup failed"
for s in '\[1/3\] packages' '\[2/3\] configure' '\[3/3\] build' 'installing 2 of' 'Setting up meson' \
         'DPkg::Lock::Timeout=30' 'setup: done'; do has "$s"; done
grep -q 'DPkg::Lock::Timeout=30 install' "$tmp/state/apt.log" || fail "apt-get install without the lock timeout"
[ -x "$P/build/hello" ] || fail "no build/hello after setup"

# 2. again: a no-op
: >"$tmp/state/apt.log"
stamp=$(stat -c %Y "$P/build/build.ninja")
sleep 1
setup || fail "second setup failed"
[ -s "$tmp/state/apt.log" ] && fail "second run called apt-get"
has 'all [0-9]* Debian packages are installed'
has 'build is configured'
has 'no work to do'
[ "$(stat -c %Y "$P/build/build.ninja")" = "$stamp" ] || fail "second run regenerated build.ninja"

# 3a. interrupted meson setup: meson-private exists, nothing usable
rm -rf "$P/build"
mkdir -p "$P/build/meson-private" "$P/build/meson-logs"
echo "half" >"$P/build/meson-logs/meson-log.txt"
setup || fail "setup did not recover an interrupted meson setup"
has 'half-made'
has 'recreating'
[ -x "$P/build/hello" ] || fail "no build/hello after recovery"
# 3b. build.ninja lost: regenerated, options kept
meson configure "$P/build" -Doptimization=s >/dev/null || fail "meson configure"
rm -f "$P/build/build.ninja"
setup || fail "setup did not regenerate a lost build.ninja"
has 'regenerating'
meson introspect "$P/build" --buildoptions | grep -q '"name": "optimization", "value": "s"' ||
    fail "options lost when build.ninja was regenerated"
# 3c. a corrupt build.ninja
echo "garbage ::: not ninja" >"$P/build/build.ninja"
setup || fail "setup did not repair a corrupt build.ninja"
has 'half-made'

# 4. a directory called build that meson did not make: refused, kept
rm -rf "$P/build"; mkdir "$P/build"; echo mine >"$P/build/notes.txt"
setup && fail "setup accepted a foreign build directory"
has 'not a meson build directory'
[ -f "$P/build/notes.txt" ] || fail "setup deleted a foreign build directory"
rm -rf "$P/build"

# 5. compile error: command, status, compiler message
echo 'int main(void) { return undeclared_thing; }' >"$P/hello.c"
setup && fail "setup succeeded on a compile error"
has "FAILED at step 3/3: 'meson compile -C build' exited with status"
has 'undeclared_thing'
has 'whole log:'
echo 'int main(void) { return 0; }' >"$P/hello.c"

# 6. lock held by another apt for 2 s: waited for, with messages
grep -v -x meson "$tmp/state/installed" >"$tmp/i" && mv "$tmp/i" "$tmp/state/installed"
touch "$tmp/state/lock"
( sleep 2; rm -f "$tmp/state/lock" ) &
setup || fail "setup did not wait for a held lock"
wait
has 'waits up to 30 s for the package lock'
has 'Waiting for cache lock'
has 'setup: done'

# 7. lock never released: stops at packages, configures nothing
grep -v -x meson "$tmp/state/installed" >"$tmp/i" && mv "$tmp/i" "$tmp/state/installed"
rm -rf "$P/build"
touch "$tmp/state/lock"
LT=2 setup && fail "setup succeeded with the lock never released"
has "FAILED at step 1/3: 'sh tools/deps.sh' exited with status 100"
has 'E: Could not get lock'
has 'still held after 2 s'
[ -d "$P/build" ] && fail "setup configured although the packages step failed"
rm -f "$tmp/state/lock"
echo "OK: setup.sh: fresh, no-op rerun, half-made/lost/corrupt build dir, foreign dir, compile error, held lock, lock timeout"
