#!/usr/bin/env bash
# Benchmarks (make bench): a private PostgreSQL for the database figures, the simulator for the
# HTTP/scheduler figures. Every figure is printed with a ratio against a baseline measured in
# the same run. BUILD defaults to build/rel.
set -uo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build/rel}
export HLSIM_BIN=$PWD/$BUILD/hlsim GHLSYNC_TOP=$PWD
rc=0

pgdir=$(mktemp -d /tmp/ghlsync-bench-pg.XXXXXX)
trap 'bash tests/support/pg.sh stop "$pgdir"' EXIT
eval "$(bash tests/support/pg.sh start "$pgdir")" || { echo "bench: cannot start PostgreSQL"; exit 1; }

echo "== PostgreSQL access: loop vs worker thread"
"$BUILD"/bench/bench_pgasync 20000 || rc=1

if [ -x "$HLSIM_BIN" ] && [ -x "$BUILD"/bench/bench_sched ]; then
    echo "== rate scheduler against the simulator (default limits 100 / 10 s)"
    "$BUILD"/bench/bench_sched || rc=1
    echo "== rate scheduler alone, 100 and 5,000 locations (no HTTP, no database)"
    "$BUILD"/bench/bench_dispatch 5 20 100 5000 || rc=1
else
    echo "== rate scheduler: skipped (no simulator binary at $HLSIM_BIN)"
fi
BUILD=$BUILD bash tests/bench/push.sh || rc=1
# Pull end to end (1,000,000 records, limits off, against the official Node SDK + pg baseline;
# then a rate-limited backfill against the floor the limit allows). PULL_N / PULL_N_LIMITED
# shrink it for a quick look.
BUILD=$BUILD bash tests/bench/pull.sh "${PULL_N:-1000000}" "${PULL_N_LIMITED:-25000}" || rc=1
# Contacts (12 custom fields of every type) and objects in one run (CONTACTS_N shrinks it).
BUILD=$BUILD bash tests/bench/contacts.sh "${CONTACTS_N:-1000000}" || rc=1
# The write path against PostgreSQL's COPY floor and the Node baseline (issue 17; COPY_N and
# COPY_INC_N shrink it).
BUILD=$BUILD bash tests/bench/copy.sh "${COPY_N:-200000}" "${COPY_INC_N:-20000}" || rc=1
# Opportunities against the Node SDK baseline (OPPS_N shrinks it).
BUILD=$BUILD bash tests/bench/opportunities.sh "${OPPS_N:-500000}" || rc=1
# Relations: requests per 1,000 records against listing every end (REL_N shrinks it).
BUILD=$BUILD bash tests/bench/relations.sh "${REL_N:-20000}" || rc=1
# Agency scale: idle mirror of 2,000 locations, three processes sharing 300, the saturated
# ladder (AGENCY_N, AGENCY_SPLIT_N, AGENCY_WINDOW_S shrink it; AGENCY_SAT=0 skips the ladder).
BUILD=$BUILD bash tests/bench/agency.sh || rc=1
# Webhooks on against poll-only at the default 60 s poll (WH_EDITS / WH_SPAN shrink it).
BUILD=$BUILD bash tests/bench/webhooks.sh "${WH_EDITS:-200}" "${WH_SPAN:-120}" || rc=1
exit $rc
