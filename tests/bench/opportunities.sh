#!/usr/bin/env bash
# Opportunities pull benchmark (tests/bench/run.sh runs it): a backfill of N opportunities
# (the simulator's 6 opportunity custom fields, on N/5 seeded contacts), limits off, end to end
# (HTTP + JSON + PostgreSQL): records/s and peak RSS of ghlsync (/usr/bin/time -v), then the
# Node.js baseline in the same run (HighLevel's official SDK searchOpportunitiesAdvanced + pg,
# one INSERT per page: tests/bench/node/baseline_opportunities.js), npm-installed at bench time,
# with the ratio. NO_BASELINE=1 skips it.
# Usage: tests/bench/opportunities.sh [N]   (default 500000). BUILD=build/rel.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build/rel}
N=${1:-500000}
dir=$(mktemp -d /tmp/ghlsync-bench-opps-XXXXXX); chmod 755 "$dir"
simpid=
cleanup() { [ -n "$simpid" ] && kill "$simpid" 2>/dev/null; bash tests/support/pg.sh stop "$dir/pg" >/dev/null 2>&1; rm -rf "$dir"; }
trap cleanup EXIT
eval "$(PG_TEST_PORT=${PG_TEST_PORT:-54354} bash tests/support/pg.sh start "$dir/pg")"
export GHLSYNC_DATADIR=$PWD
"$BUILD/hlsim" --port 0 --locations 1 --seed-records 0 --seed-contacts "$((N / 5 > 0 ? N / 5 : 1))" --seed-opportunities "$N" --burst 0 --daily 0 \
    >"$dir/sim.out" 2>"$dir/sim.err" &
simpid=$!
for _ in $(seq 1 6000); do grep -q '^admin-token' "$dir/sim.out" 2>/dev/null && break; sleep 0.1; done
PORT=$(sed -n 's/^listening on 127.0.0.1://p' "$dir/sim.out")
LOC=$(awk '/^location/{print $2; exit}' "$dir/sim.out")
printf '%s' "$(awk '/^location/{print $4; exit}' "$dir/sim.out")" >"$dir/token"
run() { # object table db
    psql -qc "CREATE DATABASE $3"
    cat >"$dir/sync.toml" <<TOML
[api]
base_url = "http://127.0.0.1:$PORT"
insecure_http = true
[database]
url = "host=$PGHOST port=$PGPORT user=postgres dbname=$3"
[rate_limit]
burst = 100000
window = "10s"
headroom = 0.02
[log]
level = "warn"
[[locations]]
id = "$LOC"
token_file = "$dir/token"
objects = ["$1"]
TOML
    /usr/bin/time -v -o "$dir/time.txt" "$BUILD/ghlsync" -c "$dir/sync.toml" backfill >/dev/null 2>"$dir/run.err" ||
        { cat "$dir/run.err" >&2; return 1; }
    secs=$(awk -F': ' '/Elapsed \(wall clock\)/{n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$dir/time.txt")
    rss=$(awk -F': ' '/Maximum resident set size/{print $2}' "$dir/time.txt")
    rows=$(psql -d "$3" -tAc "SELECT count(*) FROM ghl.$2")
    rate=$(awk -v n="$rows" -v s="$secs" 'BEGIN{printf "%.0f", n/s}')
    echo "# figure: ghlsync backfill limits off, $1: $rows in ${secs}s = $rate records/s, peak RSS $((rss / 1024)) MiB"
}
run opportunity opportunities o1
c_rate=$rate
c_rss=$rss

if [ -z "${NO_BASELINE:-}" ] && command -v npm >/dev/null && command -v node >/dev/null; then
    if [ ! -d tests/bench/node/node_modules/@gohighlevel ]; then
        (cd tests/bench/node && npm install --silent --no-audit --no-fund >/dev/null 2>&1) ||
            echo "# npm install failed: no baseline"
    fi
    if [ -d tests/bench/node/node_modules/@gohighlevel ]; then
        psql -qc "CREATE DATABASE o3"
        psql -d o3 -qc "CREATE TABLE opportunities (id text PRIMARY KEY, location_id text, data jsonb, created_at timestamptz, updated_at timestamptz)"
        if /usr/bin/time -v -o "$dir/time.txt" env HL_BASE="http://127.0.0.1:$PORT" HL_TOKEN="$(cat "$dir/token")" \
            HL_LOC="$LOC" PGDATABASE=o3 node tests/bench/node/baseline_opportunities.js >/dev/null 2>"$dir/run.err"; then
            secs=$(awk -F': ' '/Elapsed \(wall clock\)/{n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$dir/time.txt")
            rss=$(awk -F': ' '/Maximum resident set size/{print $2}' "$dir/time.txt")
            brows=$(psql -d o3 -tAc "SELECT count(*) FROM opportunities")
            b_rate=$(awk -v n="$brows" -v s="$secs" 'BEGIN{printf "%.0f", n/s}')
            echo "# figure: node SDK baseline limits off, opportunities: $brows in ${secs}s = $b_rate records/s, peak RSS $((rss / 1024)) MiB"
            echo "# figure: ghlsync / baseline (opportunities) = $(awk -v a="$c_rate" -v b="$b_rate" 'BEGIN{printf "%.1f", a/b}')x records/s, RSS $((c_rss / 1024)) vs $((rss / 1024)) MiB"
        else
            echo "# baseline failed:"; tail -5 "$dir/run.err"
        fi
    fi
fi
