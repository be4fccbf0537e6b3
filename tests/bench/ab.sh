#!/usr/bin/env bash
# A/B of two ghlsync binaries on the same backfill (how a change to the write path is judged on a
# noisy shared machine): one simulator, one PostgreSQL, ROUNDS alternating backfills of N records
# of OBJECT into a fresh database each (A, B, A, B, ...), limits off. Per round: CPU of the
# client (/usr/bin/time), CPU of PostgreSQL (the postmaster with its reaped children plus its
# live children, from /proc, as copy.sh), wall. Then the medians and B / A of each.
# Usage: tests/bench/ab.sh BINARY_A BINARY_B [N] [OBJECT] [ROUNDS]
#   defaults 200000, custom_objects.pet (the all-types object; "contact" for contacts), 3.
#   ARGS="--writes 2" is passed to both backfills; SIMARGS="--latency-ms 20" to the simulator.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ $# -ge 2 ] || { sed -n '2,9p' "$0"; exit 2; }
A=$(realpath "$1") B=$(realpath "$2") N=${3:-200000} OBJ=${4:-custom_objects.pet} R=${5:-3}
BUILD=${BUILD:-build/rel}
dir=$(mktemp -d /tmp/ghlsync-bench-ab-XXXXXX); chmod 755 "$dir"; simpid=
cleanup() { [ -n "$simpid" ] && kill "$simpid" 2>/dev/null; bash tests/support/pg.sh stop "$dir/pg" >/dev/null 2>&1; rm -rf "$dir"; }
trap cleanup EXIT
eval "$(PG_TEST_PORT=${PG_TEST_PORT:-54358} bash tests/support/pg.sh start "$dir/pg")"
export GHLSYNC_DATADIR=$PWD
PM=$(head -1 "$dir/pg/data/postmaster.pid")
HZ=$(getconf CLK_TCK)
# pg_cpu (seconds), median, ratio
# shellcheck source=tests/bench/cpu.sh
. tests/bench/cpu.sh
case $OBJ in contact) seed=(--seed-records 0 --seed-contacts "$N") ;; *) seed=(--seed-records "$N") ;; esac
# shellcheck disable=SC2086
"$BUILD/hlsim" --port 0 --locations 1 --burst 0 --daily 0 ${SIMARGS:-} "${seed[@]}" >"$dir/sim.out" 2>"$dir/sim.err" &
simpid=$!
for _ in $(seq 1 6000); do grep -q '^admin-token' "$dir/sim.out" 2>/dev/null && break; sleep 0.1; done
PORT=$(sed -n 's/^listening on 127.0.0.1://p' "$dir/sim.out")
LOC=$(awk '/^location/{print $2; exit}' "$dir/sim.out")
awk '/^location/{printf "%s", $4; exit}' "$dir/sim.out" >"$dir/token"
echo "# A = $A"
echo "# B = $B"
echo "# $N records of $OBJ, $R rounds, limits off, $(nproc) cores"
declare -A cl pg wl
k=0
for r in $(seq 1 "$R"); do
    for which in A B; do
        k=$((k + 1))
        bin=$A
        [ "$which" = B ] && bin=$B
        psql -qc "CREATE DATABASE d$k"
        cat >"$dir/sync.toml" <<TOML
[api]
base_url = "http://127.0.0.1:$PORT"
insecure_http = true
[database]
url = "host=$PGHOST port=$PGPORT user=postgres dbname=d$k"
[rate_limit]
burst = 100000
window = "10s"
headroom = 0.02
[log]
level = "warn"
[[locations]]
id = "$LOC"
token_file = "$dir/token"
objects = ["$OBJ"]
TOML
        sleep 1
        p0=$(pg_cpu)
        # shellcheck disable=SC2086
        /usr/bin/time -f "%U %S %e" -o "$dir/t" "$bin" -c "$dir/sync.toml" backfill ${ARGS:-} \
            >/dev/null 2>"$dir/err" || { cat "$dir/err" >&2; exit 1; }
        sleep 1
        p1=$(pg_cpu)
        read -r u s e <"$dir/t"
        c=$(awk -v a="$u" -v b="$s" 'BEGIN{printf "%.2f", a + b}')
        p=$(sub "$p1" "$p0")
        cl[$which]+="$c " pg[$which]+="$p " wl[$which]+="$e "
        echo "round $r $which: client $c s, PostgreSQL $p s, wall $e s"
        psql -qc "DROP DATABASE d$k"
    done
done
for what in client PostgreSQL wall; do
    case $what in client) a=${cl[A]} b=${cl[B]} ;; PostgreSQL) a=${pg[A]} b=${pg[B]} ;; *) a=${wl[A]} b=${wl[B]} ;; esac
    # shellcheck disable=SC2086
    ma=$(median $a) mb=$(median $b)
    echo "# figure: median $what A $ma s, B $mb s, B / A = $(ratio "$mb" "$ma")"
done
