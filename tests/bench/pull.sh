#!/usr/bin/env bash
# Pull benchmarks (make bench calls tests/bench/run.sh, which runs this):
#   1. limits off: backfill N records of the all-types object (custom_objects.pet) end to end
#      (HTTP + JSON + PostgreSQL): records/s and peak RSS of ghlsync (/usr/bin/time -v);
#   2. the same with a Node.js baseline (HighLevel's official SDK @gohighlevel/api-client + pg,
#      one INSERT per page), installed with npm into tests/bench/node/ at bench time;
#   3. default limits (100 per 10 s): a backfill's duration / the minimum the budget allows.
# Usage: tests/bench/pull.sh [N] [N_LIMITED]   (defaults 100000 and 3000; N_LIMITED=0 skips part 3).
# BUILD=build/rel; NO_BASELINE=1 skips part 2; GHLSYNC_ARGS adds backfill options (e.g.
# "--writes 1", "--snapshot"). The server is tests/support/pg.sh's: fsync=off,
# synchronous_commit=off (printed below).
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build/rel}
N=${1:-100000}
NL=${2:-3000}
dir=$(mktemp -d /tmp/ghlsync-bench-pull-XXXXXX); chmod 755 "$dir"
simpid=
cleanup() { [ -n "$simpid" ] && kill "$simpid" 2>/dev/null; bash tests/support/pg.sh stop "$dir/pg"; rm -rf "$dir"; }
trap cleanup EXIT
eval "$(PG_TEST_PORT=${PG_TEST_PORT:-54351} bash tests/support/pg.sh start "$dir/pg")"
echo "# server: fsync=$(psql -tAc 'SHOW fsync') synchronous_commit=$(psql -tAc 'SHOW synchronous_commit')"
export GHLSYNC_DATADIR=$PWD

start_sim() { # args...
    "$BUILD/hlsim" --port 0 --locations 1 "$@" >"$dir/sim.out" 2>"$dir/sim.err" &
    simpid=$!
    for _ in $(seq 1 600); do grep -q '^admin-token' "$dir/sim.out" 2>/dev/null && break; sleep 0.1; done
    PORT=$(sed -n 's/^listening on 127.0.0.1://p' "$dir/sim.out")
    LOC=$(awk '/^location/{print $2; exit}' "$dir/sim.out")
    TOK=$(awk '/^location/{print $4; exit}' "$dir/sim.out")
}
stop_sim() { kill "$simpid"; wait "$simpid" 2>/dev/null || true; simpid=; }
config() { # db burst
    printf '%s' "$TOK" >"$dir/token"
    cat >"$dir/sync.toml" <<TOML
[api]
base_url = "http://127.0.0.1:$PORT"
insecure_http = true
[database]
url = "host=$PGHOST port=$PGPORT user=postgres dbname=$1"
[rate_limit]
burst = $2
window = "10s"
headroom = 0.02
[log]
level = "warn"
[[locations]]
id = "$LOC"
token_file = "$dir/token"
objects = ["custom_objects.pet"]
TOML
}
measure() { # label -> prints seconds and KB
    /usr/bin/time -v -o "$dir/time.txt" "$@" >/dev/null 2>"$dir/run.err" || { cat "$dir/run.err" >&2; return 1; }
    secs=$(awk -F': ' '/Elapsed \(wall clock\)/{n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$dir/time.txt")
    rss=$(awk -F': ' '/Maximum resident set size/{print $2}' "$dir/time.txt")
    cpu=$(awk -F': ' '/User time|System time/{s+=$2} END{print s}' "$dir/time.txt")
}

echo "# pull benchmark: $N records of custom_objects.pet (all data types), limits off"
start_sim --seed-records "$N" --burst 0 --daily 0
psql -qc "CREATE DATABASE b1"
config b1 100000
# shellcheck disable=SC2086
measure "$BUILD/ghlsync" -c "$dir/sync.toml" backfill ${GHLSYNC_ARGS:-}
rows=$(psql -d b1 -tAc "SELECT count(*) FROM ghl.pet")
g_rate=$(awk -v n="$rows" -v s="$secs" 'BEGIN{printf "%.0f", n/s}')
echo "# figure: ghlsync backfill limits off: $rows records in ${secs}s = $g_rate records/s, peak RSS $((rss / 1024)) MiB, CPU ${cpu}s"

# Node.js baseline (official SDK + pg): installed at bench time, not committed.
b_rate=
if [ -z "${NO_BASELINE:-}" ] && command -v npm >/dev/null && command -v node >/dev/null; then
    if [ ! -d tests/bench/node/node_modules/@gohighlevel ]; then
        (cd tests/bench/node && npm install --silent --no-audit --no-fund >/dev/null 2>&1) || echo "# npm install failed: no baseline"
    fi
    if [ -d tests/bench/node/node_modules/@gohighlevel ]; then
        psql -qc "CREATE DATABASE b2"
        psql -d b2 -qc "CREATE TABLE pet (id text PRIMARY KEY, location_id text, data jsonb, created_at timestamptz, updated_at timestamptz)"
        if measure env HL_BASE="http://127.0.0.1:$PORT" HL_TOKEN="$TOK" HL_LOC="$LOC" PGDATABASE=b2 node tests/bench/node/baseline.js; then
            brows=$(psql -d b2 -tAc "SELECT count(*) FROM pet")
            b_rate=$(awk -v n="$brows" -v s="$secs" 'BEGIN{printf "%.0f", n/s}')
            echo "# figure: node SDK baseline limits off: $brows records in ${secs}s = $b_rate records/s, peak RSS $((rss / 1024)) MiB, CPU ${cpu}s"
            echo "# figure: ghlsync / baseline = $(awk -v a="$g_rate" -v b="$b_rate" 'BEGIN{printf "%.1f", a/b}')x"
        else
            echo "# baseline failed:"; tail -5 "$dir/run.err"
        fi
    fi
fi
stop_sim
[ "$NL" -gt 0 ] || exit 0

echo "# pull benchmark: $NL records with the default limits (100 per 10 s)"
start_sim --seed-records "$NL"
psql -qc "CREATE DATABASE b3"
config b3 100
measure "$BUILD/ghlsync" -c "$dir/sync.toml" backfill
pages=$(( (NL + 99) / 100 + 1 ))   # the last one is the empty page that ends the scan
calls=$(( pages + 1 ))              # + GET /objects/{key}
# 100 requests per ROLLING 10 s: request k (0-based) cannot start before floor(k/100) * 10 s,
# so the last of `calls` requests starts at floor((calls-1)/100) * 10 s at the earliest.
min=$(awk -v c="$calls" 'BEGIN{print int((c-1)/100)*10}')
echo "# figure: ghlsync backfill default limits: $calls requests, $NL records in ${secs}s; minimum the budget allows ${min}s; ratio $(awk -v a="$secs" -v b="$min" 'BEGIN{if(b>0) printf "%.2f", a/b; else print "n/a"}')"
stop_sim
