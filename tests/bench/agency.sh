#!/usr/bin/env bash
# Agency-scale benchmarks (bench_agency): an idle mirror of AGENCY_N (2000) locations x 3
# objects in one process against a 100-location baseline in the same run, then three processes
# sharing AGENCY_SPLIT_N (300) locations through leases (split, takeover after kill -9).
# Called by tests/bench/run.sh (which has a PostgreSQL running); alone it starts its own.
#   BUILD=build/rel bash tests/bench/agency.sh
set -uo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build/rel}
export HLSIM_BIN=$PWD/$BUILD/hlsim GHLSYNC_BIN=$PWD/$BUILD/ghlsync GHLSYNC_TOP=$PWD
if [ ! -x "$BUILD"/bench/bench_agency ] || [ ! -x "$HLSIM_BIN" ] || [ ! -x "$GHLSYNC_BIN" ]; then
    echo "== agency: skipped (build $BUILD/bench/bench_agency, hlsim and ghlsync first: make benchbins)"
    exit 0
fi
if [ -z "${PGHOST:-}" ]; then
    pgdir=$(mktemp -d /tmp/ghlsync-bench-pg.XXXXXX)
    trap 'bash tests/support/pg.sh stop "$pgdir"' EXIT
    eval "$(bash tests/support/pg.sh start "$pgdir")" || { echo "bench: cannot start PostgreSQL"; exit 1; }
fi
rc=0
"$BUILD"/bench/bench_agency split "${AGENCY_SPLIT_N:-300}" || rc=1
"$BUILD"/bench/bench_agency idle "${AGENCY_N:-2000}" 100 "${AGENCY_WINDOW_S:-120}" || rc=1
exit $rc
