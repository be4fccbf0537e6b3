#!/usr/bin/env bash
# Pull write path against PostgreSQL's COPY (issue 17; tests/bench/run.sh runs it). One run, limits
# off, per family (custom_objects.pet = the simulator's all-types object; contact = 12 custom
# fields of every type):
#   1. RUNS rounds (default 3), each: a ghlsync backfill of N records into a fresh database
#      (wall, records/s, peak RSS and CPU of ghlsync from /usr/bin/time -v, CPU of PostgreSQL),
#      then the COPY floor of the same rows: exported from that table (not counted), the table
#      truncated, psql \copy of the rows into the same table with triggers off
#      (session_replication_role = replica), CPU of PostgreSQL and wall. One run of either varies
#      by 15 % or more on a shared machine, so the two alternate and the figures are medians over
#      the rounds, with each round's own ratio shown beside them;
#   2. the Node.js baseline (official SDK + pg, one upsert per page, jsonb; tests/bench/node/)
#      into its own database, once: the same figures;
#   3. incremental: INC_N records backfilled again in pages of 10 ([pull] page_size = 10) into
#      the full table (every record a conflict): records/s and CPU, client and PostgreSQL.
# PostgreSQL's CPU is read from /proc: the postmaster's own utime+stime plus cutime+cstime (the
# backends and workers it has reaped) plus utime+stime of its live children, before and after;
# the server runs nothing else. Ratios are against the COPY floor and the baseline of this run.
# Usage: tests/bench/copy.sh [N] [INC_N]   (defaults 200000 and 20000). BUILD=build/rel;
# FAMILIES="custom_objects.pet contact" (default both); NO_BASELINE=1 skips part 2.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build/rel}
N=${1:-200000}
INC_N=${2:-20000}
FAMILIES=${FAMILIES:-custom_objects.pet contact}
dir=$(mktemp -d /tmp/ghlsync-bench-copy-XXXXXX); chmod 755 "$dir"
simpid=
cleanup() { [ -n "$simpid" ] && kill "$simpid" 2>/dev/null; bash tests/support/pg.sh stop "$dir/pg" >/dev/null 2>&1; rm -rf "$dir"; }
trap cleanup EXIT
eval "$(PG_TEST_PORT=${PG_TEST_PORT:-54357} bash tests/support/pg.sh start "$dir/pg")"
export GHLSYNC_DATADIR=$PWD
PM=$(head -1 "$dir/pg/data/postmaster.pid")
HZ=$(getconf CLK_TCK)
echo "# server: fsync=$(psql -tAc 'SHOW fsync') synchronous_commit=$(psql -tAc 'SHOW synchronous_commit'), $(nproc) cores"

# pg_cpu, sub, ratio, median
# shellcheck source=tests/bench/cpu.sh
. tests/bench/cpu.sh
now() { date +%s.%N; }

# measure CMD...: wall secs, peak rss KB, client cpu secs, server cpu secs
measure() {
    local p0 p1
    sleep 1 # let the previous phase's backends exit and be reaped
    p0=$(pg_cpu)
    /usr/bin/time -v -o "$dir/time.txt" "$@" >/dev/null 2>"$dir/run.err" || { cat "$dir/run.err" >&2; return 1; }
    sleep 1
    p1=$(pg_cpu)
    secs=$(awk -F': ' '/Elapsed \(wall clock\)/{n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$dir/time.txt")
    rss=$(awk -F': ' '/Maximum resident set size/{print $2}' "$dir/time.txt")
    cpu=$(awk -F': ' '/User time|System time/{s+=$2} END{printf "%.2f", s}' "$dir/time.txt")
    pcpu=$(sub "$p1" "$p0")
}

start_sim() { # args...
    "$BUILD/hlsim" --port 0 --locations 1 --burst 0 --daily 0 "$@" >"$dir/sim.out" 2>"$dir/sim.err" &
    simpid=$!
    for _ in $(seq 1 6000); do grep -q '^admin-token' "$dir/sim.out" 2>/dev/null && break; sleep 0.1; done
    PORT=$(sed -n 's/^listening on 127.0.0.1://p' "$dir/sim.out")
    LOC=$(awk '/^location/{print $2; exit}' "$dir/sim.out")
    TOK=$(awk '/^location/{print $4; exit}' "$dir/sim.out")
    printf '%s' "$TOK" >"$dir/token"
}
stop_sim() { kill "$simpid"; wait "$simpid" 2>/dev/null || true; simpid=; }
config() { # db object page_size
    cat >"$dir/sync.toml" <<TOML
[api]
base_url = "http://127.0.0.1:$PORT"
insecure_http = true
[database]
url = "host=$PGHOST port=$PGPORT user=postgres dbname=$1"
[rate_limit]
burst = 100000
window = "10s"
headroom = 0.02
[pull]
page_size = $3
[log]
level = "warn"
[[locations]]
id = "$LOC"
token_file = "$dir/token"
objects = ["$2"]
TOML
}

have_node=
if [ -z "${NO_BASELINE:-}" ] && command -v npm >/dev/null && command -v node >/dev/null; then
    if [ ! -d tests/bench/node/node_modules/@gohighlevel ]; then
        (cd tests/bench/node && npm install --silent --no-audit --no-fund >/dev/null 2>&1) || echo "# npm install failed: no baseline"
    fi
    [ -d tests/bench/node/node_modules/@gohighlevel ] && have_node=1
fi

k=0
for obj in $FAMILIES; do
    k=$((k + 1))
    case $obj in
    contact) table=contacts; seed=(--seed-records 0 --seed-contacts "$N"); js=baseline_contacts.js ;;
    *) table=${obj#custom_objects.}; seed=(--seed-records "$N"); js=baseline.js ;;
    esac
    start_sim "${seed[@]}"
    echo "# $obj: $N records, limits off"

    # Rounds of (ghlsync backfill, COPY floor of the rows it wrote); medians over the rounds.
    g_tots=() g_cpus=() g_pcpus=() g_secss=() g_rsss=() floors=() rounds=()
    for r in $(seq 1 "${RUNS:-${FLOOR_RUNS:-3}}"); do
        db=g${k}_$r
        psql -qc "CREATE DATABASE $db"
        config "$db" "$obj" 100
        # shellcheck disable=SC2086
        measure "$BUILD/ghlsync" -c "$dir/sync.toml" backfill ${GHLSYNC_ARGS:-}
        rows=$(psql -d "$db" -tAc "SELECT count(*) FROM ghl.$table")
        [ "$rows" -eq "$N" ] || { echo "# ghlsync wrote $rows rows, not $N" >&2; exit 1; }
        g_tot=$(awk -v a="$cpu" -v b="$pcpu" 'BEGIN{printf "%.2f", a+b}')
        g_tots+=("$g_tot") g_cpus+=("$cpu") g_pcpus+=("$pcpu") g_secss+=("$secs") g_rsss+=("$rss")
        echo "# figure: ghlsync $obj round $r: $rows records in ${secs}s = $(awk -v n="$rows" -v s="$secs" 'BEGIN{printf "%.0f", n/s}') records/s, peak RSS $((rss / 1024)) MiB, CPU client ${cpu}s + PostgreSQL ${pcpu}s = ${g_tot}s"
        psql -d "$db" -qc "\\copy ghl.$table TO '$dir/rows.copy'"
        psql -d "$db" -qc "SET session_replication_role = replica" -c "TRUNCATE ghl.$table"
        measure psql -d "$db" -qc "SET session_replication_role = replica" -c "\\copy ghl.$table FROM '$dir/rows.copy'"
        frows=$(psql -d "$db" -tAc "SELECT count(*) FROM ghl.$table")
        [ "$frows" -eq "$rows" ] || { echo "# the floor loaded $frows rows, not $rows" >&2; exit 1; }
        floors+=("$pcpu")
        rounds+=("$(ratio "$g_tot" "$pcpu")")
        echo "# figure: COPY floor $obj round $r: $frows rows in ${secs}s, CPU PostgreSQL ${pcpu}s (psql ${cpu}s); this round's (client+PostgreSQL) / floor = ${rounds[-1]}x"
        rm -f "$dir/rows.copy"
        psql -qc "DROP DATABASE $db"
    done
    g_tot=$(median "${g_tots[@]}") g_cpu=$(median "${g_cpus[@]}") g_pcpu=$(median "${g_pcpus[@]}")
    g_secs=$(median "${g_secss[@]}") g_rss=$(median "${g_rsss[@]}") f_pcpu=$(median "${floors[@]}")
    echo "# figure: ghlsync $obj: medians of ${#floors[@]} rounds: $N records in ${g_secs}s = $(awk -v n="$N" -v s="$g_secs" 'BEGIN{printf "%.0f", n/s}') records/s, peak RSS $(awk -v r="$g_rss" 'BEGIN{printf "%.0f", r/1024}') MiB, CPU client ${g_cpu}s, PostgreSQL ${g_pcpu}s, together ${g_tot}s; COPY floor ${f_pcpu}s"
    echo "# figure: $obj ghlsync client+PostgreSQL CPU / COPY floor = $(ratio "$g_tot" "$f_pcpu")x (target <= 1.5; the rounds: ${rounds[*]}); PostgreSQL alone $(ratio "$g_pcpu" "$f_pcpu")x"

    b_secs=
    if [ -n "$have_node" ]; then
        bdb=n$k
        psql -qc "CREATE DATABASE $bdb"
        psql -d "$bdb" -qc "CREATE TABLE $table (id text PRIMARY KEY, location_id text, data jsonb, created_at timestamptz, updated_at timestamptz)"
        if measure env HL_BASE="http://127.0.0.1:$PORT" HL_TOKEN="$TOK" HL_LOC="$LOC" PGDATABASE="$bdb" node "tests/bench/node/$js"; then
            brows=$(psql -d "$bdb" -tAc "SELECT count(*) FROM $table")
            b_secs=$secs
            b_tot=$(awk -v a="$cpu" -v b="$pcpu" 'BEGIN{printf "%.2f", a+b}')
            echo "# figure: node baseline $obj: $brows records in ${secs}s = $(awk -v n="$brows" -v s="$secs" 'BEGIN{printf "%.0f", n/s}') records/s, peak RSS $((rss / 1024)) MiB, CPU client ${cpu}s + PostgreSQL ${pcpu}s = ${b_tot}s"
        else
            echo "# baseline failed:"; tail -5 "$dir/run.err"
        fi
        psql -qc "DROP DATABASE $bdb"
    fi
    if [ -n "$b_secs" ]; then
        echo "# figure: $obj node baseline client+PostgreSQL CPU / COPY floor = $(ratio "$b_tot" "$f_pcpu")x"
        echo "# figure: $obj wall: node baseline / ghlsync (median) = $(ratio "$b_secs" "$g_secs")x (target >= 4)"
    fi

    # Incremental: small pages (10) into a full table, every record already held.
    if [ "$INC_N" -gt 0 ]; then
        stop_sim
        case $obj in
        contact) start_sim --seed-records 0 --seed-contacts "$INC_N" ;;
        *) start_sim --seed-records "$INC_N" ;;
        esac
        idb=i$k
        psql -qc "CREATE DATABASE $idb"
        config "$idb" "$obj" 100
        "$BUILD/ghlsync" -c "$dir/sync.toml" backfill >/dev/null 2>"$dir/run.err" || { cat "$dir/run.err" >&2; exit 1; }
        config "$idb" "$obj" 10
        measure "$BUILD/ghlsync" -c "$dir/sync.toml" backfill
        echo "# figure: incremental $obj: $INC_N records in pages of 10 into a full table in ${secs}s = $(awk -v n="$INC_N" -v s="$secs" 'BEGIN{printf "%.0f", n/s}') records/s, CPU client ${cpu}s + PostgreSQL ${pcpu}s, $(awk -v n="$INC_N" -v a="$cpu" -v b="$pcpu" 'BEGIN{printf "%.1f", (a+b)*1e6/n}') us/record"
    fi
    stop_sim
done
