#!/usr/bin/env bash
# Run the kill -9 / resume tool (tests/tools/killtest.c) against a private PostgreSQL.
#   tests/tools/killtest.sh [RUNS [RECORDS]]      BUILD=build/rel by default
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build/rel}
make --no-print-directory "$BUILD/tools/killtest" >/dev/null 2>&1 || make --no-print-directory tools
dir=$(mktemp -d /tmp/ghlsync-killtest-XXXXXX); chmod 755 "$dir"
trap 'bash tests/support/pg.sh stop "$dir"' EXIT
eval "$(PG_TEST_PORT=${PG_TEST_PORT:-54341} bash tests/support/pg.sh start "$dir")"
export GHLSYNC_TOP=$PWD HLSIM_BIN=$PWD/$BUILD/hlsim GHLSYNC_BIN=$PWD/$BUILD/ghlsync
"$BUILD/tools/killtest" "$@"
