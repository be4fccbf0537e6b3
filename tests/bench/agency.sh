#!/usr/bin/env bash
# Agency-scale benchmarks (bench_agency): an idle mirror of AGENCY_N (2000) locations x 3
# objects in one process against a 100-location baseline in the same run, then three processes
# sharing AGENCY_SPLIT_N (300) locations through leases (split, takeover after kill -9), then
# the saturated ladder: the largest N one process keeps at >= 0.97 utilization with 0 x 429, every
# location backfilling (N doubling from AGENCY_SAT_START (20) to AGENCY_SAT_MAX (640), then
# bisected twice; AGENCY_SAT_WINDOW_S (30) per step, page_size AGENCY_SAT_PAGE (10): about 8
# minutes; AGENCY_SAT=0 skips it).
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
if [ "${AGENCY_SAT:-1}" != 0 ]; then
    "$BUILD"/bench/bench_agency saturated "${AGENCY_SAT_START:-20}" "${AGENCY_SAT_MAX:-640}" \
        "${AGENCY_SAT_WINDOW_S:-30}" "${AGENCY_SAT_PAGE:-10}" || rc=1
fi
exit $rc
