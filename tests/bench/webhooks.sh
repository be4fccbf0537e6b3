#!/usr/bin/env bash
# Webhooks as an accelerator: remote edit -> row committed, with webhooks on against poll-only,
# both at the default 60 s poll interval, in the same run (two simulators, two engines, two
# databases, the same edit schedule at the same moments). An edit's lag is the row's
# _synced_at (the committing transaction) minus its updated_at (the simulator's clock at the
# edit; same machine). Each edited record is edited once.
#   BUILD=build/rel bash tests/bench/webhooks.sh [edits] [span seconds]   (default 200 over 120 s)
# Called by tests/bench/run.sh (which has a PostgreSQL running); alone it starts its own.
set -uo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build/rel}
EDITS=${1:-200}
SPAN=${2:-120}
HLSIM=$PWD/$BUILD/hlsim
GHLSYNC=$PWD/$BUILD/ghlsync
if [ ! -x "$HLSIM" ] || [ ! -x "$GHLSYNC" ]; then
    echo "== webhooks: skipped (build $BUILD/hlsim and $BUILD/ghlsync first)"
    exit 0
fi
dir=$(mktemp -d /tmp/ghlsync-bench-hooks.XXXXXX); chmod 755 "$dir"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    [ -n "${pgdir:-}" ] && bash tests/support/pg.sh stop "$pgdir"
    rm -rf "$dir"
}
trap cleanup EXIT
if [ -z "${PGHOST:-}" ]; then
    pgdir=$dir/pg
    eval "$(bash tests/support/pg.sh start "$pgdir")" || { echo "bench: cannot start PostgreSQL"; exit 1; }
fi

# start_side NAME HOOKS(0|1): a simulator, a database and `ghlsync run`; sets NAME_* variables
start_side() {
    local n=$1 hooks=$2 out=$dir/$1.sim
    "$HLSIM" --port 0 --locations 1 --seed-records $((EDITS + 20)) >"$out" 2>"$dir/$n.simerr" &
    pids+=($!)
    for _ in $(seq 100); do grep -q '^admin-token ' "$out" && break; sleep 0.1; done
    local port loc tok adm key
    port=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\)/\1/p' "$out")
    loc=$(awk '/^location /{print $2; exit}' "$out")
    tok=$(awk '/^location /{print $4; exit}' "$out")
    key=$(awk '/^webhook-key /{print $2}' "$out")
    adm=$(awk '/^admin-token /{print $2}' "$out")
    printf '%s\n' "$tok" >"$dir/$n.token"
    psql -qX -c "CREATE DATABASE bench_hooks_$n" >/dev/null
    {
        printf '[api]\nbase_url = "http://127.0.0.1:%s"\ninsecure_http = true\n\n' "$port"
        printf '[database]\nurl = "dbname=bench_hooks_%s"\n\n[log]\nlevel = "info"\n\n' "$n"
        if [ "$hooks" = 1 ]; then
            printf '[webhooks]\nlisten = "127.0.0.1:0"\npublic_key = "%s"\n\n' "$key"
        fi
        printf '[[locations]]\nid = "%s"\ntoken_file = "%s"\n' "$loc" "$dir/$n.token"
    } >"$dir/$n.toml"
    GHLSYNC_DATADIR=$PWD "$GHLSYNC" -c "$dir/$n.toml" --log-format json run 2>"$dir/$n.log" &
    pids+=($!)
    eval "${n}_port=$port ${n}_loc=$loc ${n}_adm=$adm"
}

backfilled() { # NAME
    [ "$(psql -qXtA -d "bench_hooks_$1" -c "SELECT count(*) >= 1 AND bool_and(complete) FROM ghlsync.pull_state" 2>/dev/null)" = t ]
}

start_side hooks 1
start_side poll 0
for _ in $(seq 600); do backfilled hooks && backfilled poll && break; sleep 0.1; done
if ! backfilled hooks || ! backfilled poll; then echo "== webhooks: the backfill did not finish"; exit 1; fi
hport=$(grep -o '"webhooks.listen".*' "$dir/hooks.log" | grep -o '"port":"*[0-9]*' | grep -o '[0-9]*$' | head -1)
curl -sf -X PUT -H "Authorization: Bearer $hooks_adm" \
    -d "{\"url\":\"http://127.0.0.1:$hport/webhooks/highlevel\"}" \
    "http://127.0.0.1:$hooks_port/_admin/webhooks" >/dev/null || { echo "== webhooks: cannot set the URL"; exit 1; }
sleep 2 # the poll that follows each backfill at once; the next one is 60 s away

ids() { psql -qXtA -d "bench_hooks_$1" -c "SELECT id FROM ghl.pet WHERE id IS NOT NULL ORDER BY id LIMIT $EDITS"; }
mapfile -t hids < <(ids hooks)
mapfile -t pids_ < <(ids poll)
[ "${#hids[@]}" -ge "$EDITS" ] && [ "${#pids_[@]}" -ge "$EDITS" ] || { echo "== webhooks: not enough records"; exit 1; }

echo "== webhooks: remote edit -> row committed, $EDITS edits over ${SPAN}s, default 60 s poll"
gap=$(awk -v s="$SPAN" -v n="$EDITS" 'BEGIN{printf "%.3f", s/n}')
edit() { # port admin loc id name
    curl -sf -o /dev/null -X PUT -H "Authorization: Bearer $2" -d "{\"properties\":{\"name\":\"$5\"}}" \
        "http://127.0.0.1:$1/_admin/records/custom_objects.pet/$4?locationId=$3"
}
for i in $(seq 0 $((EDITS - 1))); do
    edit "$hooks_port" "$hooks_adm" "$hooks_loc" "${hids[$i]}" "bench-$i" &
    edit "$poll_port" "$poll_adm" "$poll_loc" "${pids_[$i]}" "bench-$i" &
    sleep "$gap"
done
wait_all() { # NAME: every edit mirrored (poll-only needs up to one interval after the last)
    for _ in $(seq 900); do
        [ "$(psql -qXtA -d "bench_hooks_$1" -c "SELECT count(*) FROM ghl.pet WHERE name LIKE 'bench-%'")" = "$EDITS" ] && return 0
        sleep 0.1
    done
    return 1
}
wait_all hooks || echo "# webhooks on: not every edit arrived"
wait_all poll || echo "# poll-only: not every edit arrived"
q="SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY l)::numeric, 3) || ' ' || round(percentile_cont(0.99) WITHIN GROUP (ORDER BY l)::numeric, 3) || ' ' || count(*) FROM (SELECT extract(epoch FROM _synced_at - updated_at) AS l FROM ghl.pet WHERE name LIKE 'bench-%') s"
read -r hp50 hp99 hn <<<"$(psql -qXtA -d bench_hooks_hooks -c "$q")"
read -r pp50 pp99 pn <<<"$(psql -qXtA -d bench_hooks_poll -c "$q")"
printf '%-22s %8s %8s %6s\n' "case" "p50 s" "p99 s" "rows"
printf '%-22s %8s %8s %6s\n' "poll-only (baseline)" "$pp50" "$pp99" "$pn"
printf '%-22s %8s %8s %6s\n' "webhooks on" "$hp50" "$hp99" "$hn"
awk -v a="$hp50" -v b="$pp50" -v c="$hp99" -v d="$pp99" \
    'BEGIN{printf "ratio webhooks/poll-only: p50 %.4f, p99 %.4f\n", a/b, c/d}'
awk -v a="$hp50" -v c="$hp99" 'BEGIN{ if (a < 1 && c < 3) print "target p50 < 1 s, p99 < 3 s: met"; else { print "target p50 < 1 s, p99 < 3 s: NOT met"; exit 1 } }'
