#!/usr/bin/env bash
# Push benchmarks (bench_push): COMMIT -> applied latency and pushes per second of the real
# binary against the simulator, each with a concurrent backfill and a baseline without.
# Called by tests/bench/run.sh (which has a PostgreSQL running); alone it starts its own.
#   BUILD=build/rel bash tests/bench/push.sh [records per object] [updates]
set -uo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build/rel}
export HLSIM_BIN=$PWD/$BUILD/hlsim GHLSYNC_BIN=$PWD/$BUILD/ghlsync GHLSYNC_TOP=$PWD
if [ ! -x "$BUILD"/bench/bench_push ] || [ ! -x "$HLSIM_BIN" ] || [ ! -x "$GHLSYNC_BIN" ]; then
    echo "== push: skipped (build $BUILD/bench/bench_push, hlsim and ghlsync first: make benchbins)"
    exit 0
fi
if [ -z "${PGHOST:-}" ]; then
    pgdir=$(mktemp -d /tmp/ghlsync-bench-pg.XXXXXX)
    trap 'bash tests/support/pg.sh stop "$pgdir"' EXIT
    eval "$(bash tests/support/pg.sh start "$pgdir")" || { echo "bench: cannot start PostgreSQL"; exit 1; }
fi
echo "== push: latency and throughput of ghlsync run / push (simulator, private PostgreSQL)"
"$BUILD"/bench/bench_push "$@"
