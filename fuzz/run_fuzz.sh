#!/bin/sh
# Runs one or more libFuzzer harnesses from a -Dfuzzing=true build, one after the
# other (the CI and dev machines are small), each for SECONDS:
#   fuzz/run_fuzz.sh BUILD_DIR SECONDS [reader|weights|config ...]
# The working corpus and crash artifacts go to $IMPA_FUZZ_WORK (default
# /tmp/impa-fuzz-work/<harness>/); seeds are read from fuzz/corpus/<harness> and
# never written. A crashing input must be minimised (-minimize_crash=1), copied into
# fuzz/corpus-regression/<harness>/ and reported. Exit status: 0 when no harness found
# anything, 1 otherwise.
set -u
build=${1:?usage: run_fuzz.sh BUILD_DIR SECONDS [harness...]}
secs=${2:?usage: run_fuzz.sh BUILD_DIR SECONDS [harness...]}
shift 2
[ $# -gt 0 ] || set -- reader weights config
src=$(cd "$(dirname "$0")" && pwd)
work=${IMPA_FUZZ_WORK:-/tmp/impa-fuzz-work}
status=0
for h in "$@"; do
    exe="$build/fuzz/fuzz_$h"
    [ -x "$exe" ] || { echo "run_fuzz: $exe missing (build with -Dfuzzing=true)"; status=1; continue; }
    mkdir -p "$work/$h/corpus" "$work/$h/artifacts"
    echo "run_fuzz: $h for ${secs}s, corpus $work/$h/corpus"
    # Halting on the first crash keeps the artifact small and the log readable;
    # -timeout catches hangs (a scan must be parsed well within the 5-min cycle);
    # -rss_limit_mb catches inputs that make a parser allocate without bound.
    # UBSan findings are made fatal so they count as crashes.
    # libnetcdf trusts the name/attribute lengths of a classic header and mallocs
    # them (up to 4 GiB) before reading: allocations above 1500 MiB return NULL
    # (max_allocation_size_mb) so the fuzzer checks that NULL is handled instead
    # of stopping on libFuzzer's malloc limit. See docs/security.md.
    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:allocator_may_return_null=1:max_allocation_size_mb=1500 \
    TMPDIR=${TMPDIR:-/tmp} \
    nice -n 10 "$exe" -max_total_time="$secs" -timeout=10 \
        -rss_limit_mb=2048 -malloc_limit_mb=4096 -max_len=131072 -print_final_stats=1 \
        -artifact_prefix="$work/$h/artifacts/" \
        "$work/$h/corpus" "$src/corpus/$h" > "$work/$h/log.txt" 2>&1
    rc=$?
    grep -E '^stat::number_of_executed_units|^stat::peak_rss|^Done|SUMMARY|ERROR:' "$work/$h/log.txt" | head -20
    if [ $rc -ne 0 ]; then
        echo "run_fuzz: $h FOUND A PROBLEM (exit $rc): $(ls "$work/$h/artifacts")"
        status=1
    fi
done
exit $status
