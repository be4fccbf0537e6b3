#!/usr/bin/env bash
# Relations listing cost (tests/bench/run.sh runs it): a backfill of N pets, N vaccinations,
# N businesses and 2N contacts with N relations in each of the simulator's two associations
# (pet_owner: pet -> contact, vaccination_pet: vaccination -> pet), limits off. Prints the
# requests relation listing spent (the simulator's counters) per 1,000 records of the mirrored
# ends, against the baseline of the same run: listing every record of every end once (what a
# lister that does not pick the smaller side, nor share a side between associations, spends),
# and the wall time of the relations part against the records' backfill.
# Usage: tests/bench/relations.sh [N]   (default 20000). BUILD=build/rel.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build/rel}
N=${1:-20000}
dir=$(mktemp -d /tmp/ghlsync-bench-rel-XXXXXX); chmod 755 "$dir"
simpid=
cleanup() { [ -n "$simpid" ] && kill "$simpid" 2>/dev/null; bash tests/support/pg.sh stop "$dir/pg" >/dev/null 2>&1; rm -rf "$dir"; }
trap cleanup EXIT
eval "$(PG_TEST_PORT=${PG_TEST_PORT:-54356} bash tests/support/pg.sh start "$dir/pg")"
export GHLSYNC_DATADIR=$PWD
"$BUILD/hlsim" --port 0 --locations 1 --seed-records "$N" --seed-contacts "$((2 * N))" --seed-relations "$N" \
    --burst 0 --daily 0 >"$dir/sim.out" 2>"$dir/sim.err" &
simpid=$!
for _ in $(seq 1 6000); do grep -q '^admin-token' "$dir/sim.out" 2>/dev/null && break; sleep 0.1; done
PORT=$(sed -n 's/^listening on 127.0.0.1://p' "$dir/sim.out")
LOC=$(awk '/^location/{print $2; exit}' "$dir/sim.out")
ADM=$(awk '/^admin-token/{print $2}' "$dir/sim.out")
printf '%s' "$(awk '/^location/{print $4; exit}' "$dir/sim.out")" >"$dir/token"
psql -qc "CREATE DATABASE rel"
cat >"$dir/sync.toml" <<TOML
[api]
base_url = "http://127.0.0.1:$PORT"
insecure_http = true
[database]
url = "host=$PGHOST port=$PGPORT user=postgres dbname=rel"
[rate_limit]
burst = 100000
window = "10s"
daily = 100000000
[log]
level = "info"
[[locations]]
id = "$LOC"
token_file = "$dir/token"
objects = ["custom_objects.pet", "custom_objects.vaccination", "contact"]
TOML
t0=$(date +%s.%N)
"$BUILD/ghlsync" -c "$dir/sync.toml" backfill >/dev/null 2>"$dir/run.err" || { cat "$dir/run.err" >&2; exit 1; }
t1=$(date +%s.%N)
counters=$(curl -s -H "Authorization: Bearer $ADM" "http://127.0.0.1:$PORT/_admin/counters")
req=$(printf '%s' "$counters" | python3 -c 'import json,sys; e=json.load(sys.stdin)["byEndpoint"]; print(sum(e.get(k,{}).get("total",0) for k in ("GET /associations/relations/{recordId}","GET /associations/")))')
q() { psql -d rel -tAc "$1"; }
pets=$(q "SELECT count(*) FROM ghl.pet"); vacs=$(q "SELECT count(*) FROM ghl.vaccination"); cons=$(q "SELECT count(*) FROM ghl.contacts")
rels=$(q "SELECT count(*) FROM ghl.relations WHERE _deleted_at IS NULL")
sim=$(curl -s -H "Authorization: Bearer $ADM" "http://127.0.0.1:$PORT/_admin/relations?locationId=$LOC" | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"])')
listed=$(q "SELECT last_full_records FROM ghlsync.relation_state")
# the relations part: from the pass's start to its end (log lines)
rel_s=$(python3 - "$dir/run.err" <<'PY'
import re, sys, datetime
t = {}
for line in open(sys.argv[1]):
    m = re.match(r'(\S+) .*relations\.pass_(started|done)', line)
    if m: t[m.group(2)] = datetime.datetime.fromisoformat(m.group(1).replace('Z', '+00:00'))
print("%.2f" % ((t['done'] - t['started']).total_seconds()) if len(t) == 2 else "?")
PY
)
naive=$((pets + cons + vacs + pets))
echo "relations: $rels rows (simulator $sim); listed $listed records of the smaller side with $req requests"
awk -v r="$req" -v l="$listed" -v n="$naive" 'BEGIN{printf "  %.0f requests per 1,000 records listed; baseline (every end of every association): %d requests, ratio %.2f\n", 1000*r/l, n, r/n}'
awk -v a="$t0" -v b="$t1" -v s="$rel_s" 'BEGIN{printf "  backfill %.1f s in all, of which relations %s s\n", b-a, s}'
[ "$rels" = "$sim" ] || { echo "relations differ from the simulator" >&2; exit 1; }
