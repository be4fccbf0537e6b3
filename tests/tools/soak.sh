#!/usr/bin/env bash
# Soak: `ghlsync run` for MINUTES (default 2) against the simulator with another user editing,
# local random edits through libpq, injected faults (5xx, resets, stalls), a 30 s API outage and
# two PostgreSQL restarts (-m fast, then -m immediate); then it waits for quiet and checks that
# the tables and the simulator are equal value for value, with no duplicate and no stranded
# claim, and reports the engine's RSS growth after the warm-up (sampled every 10 s).
# The run itself is tests/tools/soak.c; this script gives it a private PostgreSQL of its own
# (it is restarted, so never the one of tests/run.sh).
#
#   tests/tools/soak.sh [MINUTES]          BUILD=build/rel by default (make test: build/san)
#   SOAK_RESTARTS=0 tests/tools/soak.sh    without the PostgreSQL restarts
#   SOAK_KEEP=1 tests/tools/soak.sh        keep the run's directory (kept anyway on failure)
#
# Exit 0 when everything matched; the last line is "ok - soak" or "not ok - soak".
set -euo pipefail
cd "$(dirname "$0")/../.."

find_bin() {
    for d in /usr/lib/postgresql/*/bin; do [ -x "$d/pg_ctl" ] && bindir=$d; done
    [ -n "${bindir:-}" ] || bindir=$(dirname "$(command -v pg_ctl)")
}
as_owner() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

if [ "${1:-}" = "--restart-pg" ]; then # internal: DIR MODE (called by soak.c)
    find_bin
    as_owner "$bindir/pg_ctl" -D "$2/data" -m "$3" -w -t 60 restart -l "$2/server.log" >/dev/null
    exit
fi

MINUTES=${1:-2}
BUILD=${BUILD:-build/rel}
[ -x "$BUILD/tools/soak" ] && [ -x "$BUILD/ghlsync" ] && [ -x "$BUILD/hlsim" ] ||
    make --no-print-directory -j2 $([ "$BUILD" = build/san ] && echo SANITIZE=1) tests >/dev/null
dir=$(mktemp -d /tmp/ghlsync-soak-XXXXXX); chmod 755 "$dir"
# A failed run keeps its directory (engine log, simulator log, PostgreSQL log) for the post-mortem;
# SOAK_KEEP=1 keeps it always.
cleanup() {
    rc=$?
    bash tests/support/pg.sh stop "$dir/pg"
    if [ "$rc" -ne 0 ] || [ "${SOAK_KEEP:-0}" = 1 ]; then
        echo "# soak directory kept: $dir"
    else
        rm -rf "$dir"
    fi
}
trap cleanup EXIT
eval "$(PG_TEST_PORT=${SOAK_PG_PORT:-54371} bash tests/support/pg.sh start "$dir/pg")"
case $BUILD in /*) B=$BUILD ;; *) B=$PWD/$BUILD ;; esac
export GHLSYNC_TOP=$PWD HLSIM_BIN=$B/hlsim GHLSYNC_BIN=$B/ghlsync
export TMPDIR=$dir
if [ "${SOAK_RESTARTS:-1}" = 1 ]; then
    export SOAK_RESTART_CMD="bash $PWD/tests/tools/soak.sh --restart-pg $dir/pg"
else
    export SOAK_RESTART_CMD=
fi
"$B/tools/soak" "$MINUTES"
