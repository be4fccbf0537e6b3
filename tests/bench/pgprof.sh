#!/usr/bin/env bash
# Where PostgreSQL's CPU goes during a first backfill, against the COPY floor (issue 17): perf
# samples of the server's processes (the postmaster and its children: backends, WAL writer,
# checkpointer), sorted into the parts of the write path by what their call stacks contain.
#   1. `ghlsync backfill` of N records of OBJECT into a fresh database, limits off;
#   2. the rows it wrote, exported (not counted), the table truncated, loaded again by psql's
#      text `\copy` with triggers off (the floor of tests/bench/copy.sh);
#   3. the same load in binary format.
# Each is recorded with `perf record -a -g` (software clock, 999 Hz) and only the samples of
# processes named postgres are counted. Figures are sample counts and shares of the run's own
# PostgreSQL samples; samples are CPU time (1/999 s each), so the totals compare across runs.
# One run: the machine's noise moves the totals by 15 % and more, the shares much less.
# Usage: tests/bench/pgprof.sh [N] [OBJECT]   (defaults 200000, custom_objects.pet; "contact");
#   GHLSYNC=path profiles another ghlsync binary (BUILD=build/rel gives the simulator);
#   PGPROF_KEEP=dir keeps the samples (perf script text) there.
# Needs perf (Debian: linux-perf) and a kernel that lets root record every CPU.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build/rel}
GHLSYNC=${GHLSYNC:-$BUILD/ghlsync} # another binary to profile
N=${1:-200000} OBJ=${2:-custom_objects.pet}
command -v perf >/dev/null || { echo "pgprof: perf is not installed (apt-get install linux-perf)" >&2; exit 3; }
dir=$(mktemp -d /tmp/ghlsync-bench-pgprof-XXXXXX); chmod 755 "$dir"; simpid=
cleanup() { [ -n "$simpid" ] && kill "$simpid" 2>/dev/null; bash tests/support/pg.sh stop "$dir/pg" >/dev/null 2>&1; rm -rf "$dir"; }
trap cleanup EXIT
eval "$(PG_TEST_PORT=${PG_TEST_PORT:-54359} bash tests/support/pg.sh start "$dir/pg")"
export GHLSYNC_DATADIR=$PWD
case $OBJ in
contact) table=contacts; seed=(--seed-records 0 --seed-contacts "$N") ;;
*) table=${OBJ#custom_objects.}; seed=(--seed-records "$N") ;;
esac
"$BUILD/hlsim" --port 0 --locations 1 --burst 0 --daily 0 "${seed[@]}" >"$dir/sim.out" 2>"$dir/sim.err" &
simpid=$!
for _ in $(seq 1 6000); do grep -q '^admin-token' "$dir/sim.out" 2>/dev/null && break; sleep 0.1; done
PORT=$(sed -n 's/^listening on 127.0.0.1://p' "$dir/sim.out")
LOC=$(awk '/^location/{print $2; exit}' "$dir/sim.out")
awk '/^location/{printf "%s", $4; exit}' "$dir/sim.out" >"$dir/token"
cat >"$dir/sync.toml" <<TOML
[api]
base_url = "http://127.0.0.1:$PORT"
insecure_http = true
[database]
url = "host=$PGHOST port=$PGPORT user=postgres dbname=prof"
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
psql -qc "CREATE DATABASE prof"

# record NAME CMD...: perf samples of the whole machine while CMD runs, as text
record() {
    local name=$1
    shift
    sleep 1
    perf record -q -F 999 -g -a -o "$dir/$name.data" -- "$@" >/dev/null 2>"$dir/$name.err" ||
        { cat "$dir/$name.err" >&2; exit 1; }
    perf script -i "$dir/$name.data" --comm postgres 2>/dev/null >"$dir/$name.txt"
    rm -f "$dir/$name.data"
}

record backfill "$GHLSYNC" -c "$dir/sync.toml" backfill
rows=$(psql -d prof -tAc "SELECT count(*) FROM ghl.$table")
[ "$rows" -eq "$N" ] || { echo "pgprof: ghlsync wrote $rows rows, not $N" >&2; exit 1; }
psql -d prof -qc "\\copy ghl.$table TO '$dir/rows.txt'"
psql -d prof -qc "\\copy ghl.$table TO '$dir/rows.bin' WITH (FORMAT binary)"
psql -d prof -qc "SET session_replication_role = replica" -c "TRUNCATE ghl.$table"
record floor_text psql -d prof -qc "SET session_replication_role = replica" -c "\\copy ghl.$table FROM '$dir/rows.txt'"
psql -d prof -qc "SET session_replication_role = replica" -c "TRUNCATE ghl.$table"
record floor_binary psql -d prof -qc "SET session_replication_role = replica" -c "\\copy ghl.$table FROM '$dir/rows.bin' WITH (FORMAT binary)"

# One sample = a header line, its frames (innermost first), a blank line. A sample goes to the
# first part whose test its stack passes, in this order (the order matters: a COPY's trigger test
# is inside CopyFrom, the identity default inside NextCopyFrom).
classify() {
    awk '
    function flush(   p) {
        if (!n) return
        total++
        if (st ~ / (XLogFileInit)\(/) p = "kernel: new WAL segment files"
        else if (st ~ / mdextend\(/ && leafk) p = "kernel: relation extension (zero pages)"
        else if (st ~ / WalWriterMain\(/) p = "WAL writer"
        else if (st ~ / (CheckpointerMain|BackgroundWriterMain|AutoVacWorkerMain)\(/) p = "checkpointer, bgwriter, autovacuum"
        else if (st ~ / ExecBRInsertTriggers\(/) p = "COPY: row trigger WHEN test"
        else if (st ~ / ExecEvalNextValueExpr\(/) p = "COPY: _local_id default (nextval)"
        else if (st ~ / NextCopyFrom\(/) p = "COPY: reading rows (input functions)"
        else if (st ~ / ExecInsertIndexTuples\(/) p = "COPY: index inserts"
        else if (st ~ / (heap_insert|heap_multi_insert)\(/) p = "COPY: heap inserts (WAL included)"
        else if (st ~ / CopyFrom\(/) p = "COPY: other (tuple forming, constraints)"
        else if (st ~ / DoCopy\(/) p = "COPY: start and end"
        else if (st ~ / ExecModifyTable\(/) p = "UPDATE/INSERT/DELETE statements (sweep, cursor)"
        else if (st ~ / ExecSetParamPlan\(/) p = "subqueries (the COPY guard)"
        else if (st ~ / (pg_parse_query|pg_analyze_and_rewrite|pg_plan_query|GetCachedPlan|exec_parse_message)[^(]*\(/) p = "parse, analyze, plan"
        else if (st ~ / (exec_bind_message|OidInputFunctionCall)\(/) p = "binding parameters"
        else if (st ~ / (CommitTransaction|StartTransaction|AbortTransaction)\(/) p = "transaction start and commit"
        else if (st ~ / (ExecutorRun|standard_ExecutorRun|ExecutorStart|standard_ExecutorStart)\(/) p = "other statements"
        else if (st ~ / (secure_read|secure_write|pq_getbyte|pq_getmessage|socket_flush)[^(]*\(/) p = "client socket"
        else if (st ~ / (PostmasterMain|BackendStartup|InitPostgres)\(/) p = "backend start, idle, other"
        else p = "other"
        part[p]++
    }
    /^[^ \t]/ { flush(); n = 0; st = ""; leafk = 0; next }
    /^[ \t]*$/ { flush(); n = 0; st = ""; next }
    {
        sym = $2; sub(/\+0x[0-9a-f]+$/, "", sym)
        if (!n && $0 ~ /kernel\.kallsyms/) leafk = 1
        st = st " " sym "("
        n++
    }
    END {
        flush()
        for (p in part) printf "%s\t%d\n", p, part[p]
        printf "TOTAL\t%d\n", total
    }' "$1"
}
for r in backfill floor_text floor_binary; do classify "$dir/$r.txt" >"$dir/$r.parts"; done
if [ -n "${PGPROF_KEEP:-}" ]; then # the samples themselves (perf script text), to look closer
    mkdir -p "$PGPROF_KEEP" && cp "$dir"/*.txt "$PGPROF_KEEP"/
fi
tot() { awk -F'\t' '$1 == "TOTAL" {print $2}' "$1"; }
tb=$(tot "$dir/backfill.parts") tt=$(tot "$dir/floor_text.parts") tn=$(tot "$dir/floor_binary.parts")
echo "# $N records of $OBJ: PostgreSQL's perf samples (999 Hz) by part of the write path"
printf '%-52s %16s %16s %16s\n' "part" "ghlsync backfill" "floor (text)" "floor (binary)"
# rows by the backfill's count, largest first
cut -f1 "$dir"/*.parts | grep -v '^TOTAL$' | sort -u | while read -r p; do
    row=$(printf '%-52s' "$p")
    for r in backfill floor_text floor_binary; do
        v=$(awk -F'\t' -v p="$p" '$1 == p {print $2}' "$dir/$r.parts")
        [ "$r" = backfill ] && first=${v:-0}
        t=$(tot "$dir/$r.parts")
        row+=$(awk -v v="${v:-0}" -v t="$t" 'BEGIN{printf " %7d (%5.1f%%)", v, t ? 100 * v / t : 0}')
    done
    printf '%d\t%s\n' "$first" "$row"
done | sort -t"$(printf '\t')" -k1,1 -rn | cut -f2-
printf '%-52s %16d %16d %16d\n' "all samples of PostgreSQL" "$tb" "$tt" "$tn"
echo "# figure: pgprof $OBJ: PostgreSQL samples of the backfill / text floor = $(awk -v a="$tb" -v b="$tt" 'BEGIN{printf "%.2f", a / b}')x, / binary floor = $(awk -v a="$tb" -v b="$tn" 'BEGIN{printf "%.2f", a / b}')x (one run)"
