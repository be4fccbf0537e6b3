#!/usr/bin/env bash
# Runs every test program under $BUILD/tests against one private PostgreSQL server and prints
# the totals as the last line: "N passed, M failed" (", K skipped" when any were skipped).
#
#   BUILD=build/san bash tests/run.sh [NAME-FILTER]
#
# A program that crashes or exits non-zero without reporting a failed case counts as one failure.
# Full output of each program is kept in $BUILD/test-logs/. Lines a program prints starting with
# "# figure: " are shown on the console under its summary line.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build/san}
filter=${1:-}
per_test_timeout=${TEST_TIMEOUT:-600}

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/tests/support/lsan.supp:print_suppressions=0}
export GHLSYNC_TOP=$PWD HLSIM_BIN=$PWD/$BUILD/hlsim GHLSYNC_BIN=$PWD/$BUILD/ghlsync TOOLS_DIR=$PWD/$BUILD/tools

pgdir=$(mktemp -d /tmp/ghlsync-test-pg.XXXXXX)
# Scratch files of every test program go to a directory of this run, removed with the server.
scratch=$(mktemp -d /tmp/ghlsync-test-tmp.XXXXXX)
chmod 755 "$scratch"
cleanup() {
    bash tests/support/pg.sh stop "$pgdir"
    rm -rf "$scratch"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
eval "$(bash tests/support/pg.sh start "$pgdir")" || { echo "0 passed, 1 failed"; exit 1; }
export TMPDIR=$scratch

logs=$BUILD/test-logs
mkdir -p "$logs"
pass=0; fail=0; skip=0; ran=0
for t in "$BUILD"/tests/test_*; do
    [ -x "$t" ] || continue
    name=$(basename "$t")
    [ -n "$filter" ] && [[ "$name" != *"$filter"* ]] && continue
    log=$logs/$name.log
    ran=$((ran + 1))
    start=$(date +%s.%N)
    timeout --kill-after=10 "$per_test_timeout" "$t" >"$log" 2>&1 </dev/null
    rc=$?
    secs=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN{printf "%.1f", e-s}')
    p=$(grep -c '^ok - ' "$log" || true)
    s=$(grep -c '^ok - .* # SKIP' "$log" || true)
    f=$(grep -c '^not ok - ' "$log" || true)
    p=$((p - s))
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        f=1
        echo "not ok - $name exited with status $rc without reporting a failure (crash or timeout)" >>"$log"
    fi
    pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
    printf '%-40s %4d passed %3d failed %3d skipped  %6ss\n' "$name" "$p" "$f" "$s" "$secs"
    # Figures a test wants on the console (conformance counts, measured rates) start with
    # "# figure: " (or "# toml-test " for the TOML conformance suite).
    grep -E '^# (figure: |toml-test )' "$log" | sed 's/^# \(figure: \)\{0,1\}/    /'
    if [ "$f" -gt 0 ]; then
        # Show the failing cases with their check lines, and sanitizer reports, not the whole log.
        grep -E '^(not ok|#   )|ERROR: (Address|Leak|Undefined)Sanitizer|runtime error:' "$log" | head -60 | sed 's/^/    /'
        echo "    (full log: $log)"
    fi
done
if [ "$ran" -eq 0 ]; then
    echo "no test program found under $BUILD/tests${filter:+ matching '$filter'} (build them: make SANITIZE=1 tests)"
    fail=1
fi
if [ "$skip" -gt 0 ]; then
    echo "$pass passed, $fail failed, $skip skipped"
else
    echo "$pass passed, $fail failed"
fi
[ "$fail" -eq 0 ]
