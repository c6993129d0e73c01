#!/bin/sh
# Runs one or more libFuzzer harnesses from a -Dfuzzing=true build, one after the
# other (no parallel jobs: the CI and dev machines are small), each for SECONDS:
#   fuzz/run_fuzz.sh BUILD_DIR SECONDS [reader|weights|config ...]
# The working corpus and crash artifacts go to $IMPA_FUZZ_WORK (default
# /tmp/impa-fuzz-work/<harness>/); seeds are read from fuzz/corpus/<harness> and
# never written.
# libFuzzer runs in fork mode with one worker and keeps going after a crash, an
# out-of-memory or a timeout: libnetcdf itself crashes on some inputs
# (fuzz/corpus-known/README.md), and stopping at the first of those would leave our
# own code unfuzzed. Every finding is saved under artifacts/, replayed and
# classified at the end: inside libnetcdf/libhdf5 (known, reported) or not (fails).
# A finding in impa code must be minimised (fuzz_<h> -minimize_crash=1 FILE),
# copied into fuzz/corpus-regression/<harness>/ and fixed.
# Exit status: 0 when no harness left a finding outside libnetcdf/libhdf5, 1 otherwise.
set -u
build=${1:?usage: run_fuzz.sh BUILD_DIR SECONDS [harness...]}
secs=${2:?usage: run_fuzz.sh BUILD_DIR SECONDS [harness...]}
shift 2
[ $# -gt 0 ] || set -- reader weights config json
src=$(cd "$(dirname "$0")" && pwd)
work=${IMPA_FUZZ_WORK:-/tmp/impa-fuzz-work}
status=0
for h in "$@"; do
    exe="$build/fuzz/fuzz_$h"
    [ -x "$exe" ] || { echo "run_fuzz: $exe missing (build with -Dfuzzing=true)"; status=1; continue; }
    mkdir -p "$work/$h/corpus" "$work/$h/artifacts"
    echo "run_fuzz: $h for ${secs}s, corpus $work/$h/corpus"
    # -timeout catches hangs (a scan must be parsed well within the 5-min cycle);
    # -rss_limit_mb catches inputs that make a parser allocate without bound.
    # UBSan findings are made fatal so they count as crashes.
    # libnetcdf trusts the name/attribute lengths of a classic header and mallocs
    # them (up to 4 GiB) before reading: allocations above 1500 MiB return NULL
    # (max_allocation_size_mb) so the fuzzer checks that NULL is handled instead
    # of stopping on libFuzzer's malloc limit. fuzz/lsan.supp hides the leaks
    # libnetcdf/libhdf5 make on every failed open (see docs/security.md).
    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:allocator_may_return_null=1:max_allocation_size_mb=1500 \
    LSAN_OPTIONS=suppressions=$src/lsan.supp:print_suppressions=0 \
    TMPDIR=${TMPDIR:-/tmp} \
    nice -n 10 "$exe" -fork=1 -ignore_crashes=1 -ignore_ooms=1 -ignore_timeouts=1 \
        -max_total_time="$secs" -timeout=10 \
        -rss_limit_mb=2048 -malloc_limit_mb=4096 -max_len=131072 -print_final_stats=1 \
        -artifact_prefix="$work/$h/artifacts/" \
        "$work/$h/corpus" "$src/corpus/$h" > "$work/$h/log.txt" 2>&1
    rc=$?
    # the last status line: executions, coverage, crashes seen by the fork server
    grep -E '^#[0-9]+: cov' "$work/$h/log.txt" | tail -1
    grep -E 'SUMMARY' "$work/$h/log.txt" | sort | uniq -c | head -10
    # Each finding is replayed and classified by the innermost frame of its
    # report that is not the sanitizer/fuzzer runtime or libc: inside
    # libnetcdf/libhdf5 it is a known library problem (fuzz/corpus-known/README.md:
    # crashes, headers that take seconds or gigabytes), counted but not failing;
    # anywhere else (our code) it fails the run; one that does not crash when
    # replayed alone is listed apart and does not fail the run.
    ours=0 lib=0 unrep=0
    for a in "$work/$h/artifacts"/*; do
        [ -f "$a" ] || continue
        frame=$(UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
            ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1:max_allocation_size_mb=1500 \
            LSAN_OPTIONS=suppressions=$src/lsan.supp:print_suppressions=0 \
            timeout 60 "$exe" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=4096 "$a" 2>&1 |
            grep -E '^ +#[0-9]+ ' |
            grep -vE '__asan|__interceptor|__sanitizer|__ubsan|__lsan|fuzzer::|libclang_rt|libasan|libubsan|/libc\.so| in (malloc|calloc|realloc|free|memcpy|memmove|memset|strlen) ' |
            head -1)
        case $frame in
            *libnetcdf*|*libhdf5*) lib=$((lib + 1)); echo "run_fuzz: $h: known library finding $(basename "$a"): $frame" ;;
            # Replayed alone it passes: the crash needed the state the fuzzing
            # process had built (libhdf5's invalid free corrupts the heap
            # silently and a later allocation falls over, corpus-known/README.md).
            '') unrep=$((unrep + 1)); echo "run_fuzz: $h: $(basename "$a") does not reproduce when replayed alone (kept in $work/$h/artifacts)" ;;
            *) ours=$((ours + 1)); echo "run_fuzz: $h: FINDING $(basename "$a"): $frame" ;;
        esac
    done
    echo "run_fuzz: $h exit $rc, $lib finding(s) inside libnetcdf/libhdf5, $unrep not reproducible alone, $ours elsewhere"
    if [ "$ours" -ne 0 ] || { [ "$rc" -ne 0 ] && [ "$lib" -eq 0 ] && [ "$unrep" -eq 0 ]; }; then
        echo "run_fuzz: $h FAILED: minimise each (fuzz_$h -minimize_crash=1 -exact_artifact_path=OUT FILE), add it to fuzz/corpus-regression/$h/ and fix"
        status=1
    fi
done
exit $status
