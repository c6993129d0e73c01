#!/bin/sh
# Sanitizer stage of CI (called from .ci/run):
#   1. builds the whole project with -Dsanitize_all=true (ASan + UBSan) in
#      build-asan and runs every test suite with undefined behaviour, leaks and
#      memory errors made fatal;
#   2. when clang with libFuzzer is available, builds the fuzz harnesses in
#      build-fuzz and runs each for IMPA_FUZZ_SECONDS (default 60) seconds.
# Usage: .ci/sanitize.sh [extra 'meson test' arguments, e.g. --suite io]
# Environment: IMPA_JOBS (default 2), IMPA_FUZZ_SECONDS (0 = skip fuzzing),
#              IMPA_FUZZ_HARNESSES (default "reader weights config json"),
#              IMPA_ASAN_BUILD, IMPA_FUZZ_BUILD (build directories).
# Exit status: 0 all clean, 1 a test or a fuzz run failed, 2 setup/build failed.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
jobs=${IMPA_JOBS:-2}
asan=${IMPA_ASAN_BUILD:-$root/build-asan}
fuzzb=${IMPA_FUZZ_BUILD:-$root/build-fuzz}
secs=${IMPA_FUZZ_SECONDS:-60}
status=0

# -- 1. test suite under ASan + UBSan -------------------------------------------
# Not -Dwerror_ci: sanitizer instrumentation changes GCC's flow analysis and can
# raise -Wmaybe-uninitialized noise; warnings are CI's plain build's job.
if [ ! -f "$asan/build.ninja" ]; then
    meson setup "$asan" "$root" -Dsanitize_all=true -Dbuildtype=debugoptimized \
        -Db_lundef=false || exit 2
fi
ninja -C "$asan" -j "$jobs" || exit 2

# halt_on_error/abort_on_error: the first finding fails the test (UBSan alone only
# prints); detect_leaks: a test that leaks fails; strict_string_checks and
# detect_stack_use_after_return catch what plain runs miss; allocator_may_return_null
# stays 0 so an absurd allocation is reported, not silently NULL.
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:halt_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1:detect_invalid_pointer_pairs=1}
UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:abort_on_error=1:print_stacktrace=1}
# OpenBLAS's worker pool and libhdf5 keep process-lifetime allocations that LSan
# sees as leaks; those are in system libraries, not ours.
LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$root/.ci/lsan.supp:print_suppressions=0}
# HDF5 1.12+ locks files; tests reopen files they wrote.
HDF5_USE_FILE_LOCKING=FALSE
export ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS HDF5_USE_FILE_LOCKING
# Sanitized code runs 2-5x slower: stretch meson's per-test timeouts.
meson test -C "$asan" --no-rebuild --print-errorlogs --num-processes "$jobs" \
    --timeout-multiplier 4 "$@" || status=1

# -- 2. fuzz smoke run ----------------------------------------------------------
if [ "$secs" -gt 0 ] 2>/dev/null; then
    if ! command -v clang >/dev/null 2>&1; then
        echo "sanitize: clang not installed, fuzz smoke run skipped (apt-get install clang libclang-rt-14-dev)"
    elif ! echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n){return 0;}' |
            clang -x c -fsanitize=fuzzer - -o /dev/null 2>/dev/null; then
        echo "sanitize: clang lacks libFuzzer, fuzz smoke run skipped (apt-get install libclang-rt-14-dev)"
    else
        if [ ! -f "$fuzzb/build.ninja" ]; then
            CC=clang meson setup "$fuzzb" "$root" -Dfuzzing=true -Db_lundef=false \
                -Dbuildtype=debugoptimized \
                -Dc_args="-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer" \
                -Dc_link_args="-fsanitize=address,undefined" || exit 2
        fi
        harnesses=${IMPA_FUZZ_HARNESSES:-reader weights config json}
        targets=""
        for h in $harnesses; do targets="$targets fuzz/fuzz_$h"; done
        ninja -C "$fuzzb" -j "$jobs" $targets || exit 2
        # The smoke run's own ASAN_OPTIONS are set by run_fuzz.sh.
        env -u ASAN_OPTIONS -u UBSAN_OPTIONS "$root/fuzz/run_fuzz.sh" "$fuzzb" "$secs" \
            $harnesses || status=1
    fi
fi
[ $status -eq 0 ] && echo "sanitize: all clean" || echo "sanitize: FAILURES (see above)"
exit $status
