#!/usr/bin/env bash
# Private PostgreSQL server for tests and the demo.
#
#   pg.sh start DIR   initdb DIR/data, listen only on a unix socket in DIR, start; prints
#                     "export PGHOST=... PGPORT=... PGUSER=..." lines for eval
#   pg.sh stop DIR    stop the server (immediate) and remove DIR
#   pg.sh halt DIR [fast|immediate]
#                     stop the server, keep DIR (a test's PostgreSQL outage; default fast)
#   pg.sh resume DIR  start a halted server again, same socket, port and settings; waits until it
#                     accepts connections (crash recovery after an immediate stop included)
#   pg.sh restart DIR [fast|immediate]   halt + resume
#
# As root the server runs as the 'postgres' user (initdb refuses root); otherwise as the caller.
# No TCP listener, so nothing clashes with another server on the machine.
set -euo pipefail

find_bin() {
    local d
    for d in /usr/lib/postgresql/*/bin; do
        [ -x "$d/initdb" ] && bindir=$d
    done
    if [ -z "${bindir:-}" ] && command -v initdb >/dev/null; then bindir=$(dirname "$(command -v initdb)"); fi
    [ -n "${bindir:-}" ] || { echo "pg.sh: no PostgreSQL server binaries (apt-get install postgresql)" >&2; exit 1; }
}

as_owner() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

cmd=${1:-}; dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: pg.sh start|stop|halt|resume|restart DIR" >&2; exit 2; }
port=${PG_TEST_PORT:-54329}

case "$cmd" in
start)
    find_bin
    mkdir -p "$dir"
    chmod 755 "$dir"
    [ "$(id -u)" -eq 0 ] && chown postgres: "$dir"
    as_owner "$bindir/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 --no-sync \
        >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
    # fsync off: the data directory is thrown away; an immediate stop (halt) is a crash of the
    # server processes, not of the machine, so the data survives it all the same.
    echo "-k $dir -c listen_addresses='' -p $port -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" >"$dir/server.opts"
    as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "$(cat "$dir/server.opts")" start >/dev/null || { cat "$dir/server.log" >&2; exit 1; }
    echo "export PGHOST=$dir PGPORT=$port PGUSER=postgres PGDATABASE=postgres"
    ;;
halt|resume|restart)
    find_bin
    [ -f "$dir/server.opts" ] || { echo "pg.sh: no server started in $dir" >&2; exit 1; }
    mode=${3:-fast}
    case "$mode" in fast|immediate) ;; *) echo "pg.sh: mode fast or immediate" >&2; exit 2 ;; esac
    if [ "$cmd" != resume ]; then
        as_owner "$bindir/pg_ctl" -D "$dir/data" -m "$mode" -w -t 60 stop >/dev/null ||
            { tail -20 "$dir/server.log" >&2; exit 1; }
    fi
    if [ "$cmd" = resume ] && as_owner "$bindir/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
        exit 0 # running already
    fi
    if [ "$cmd" != halt ]; then
        as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
            -o "$(cat "$dir/server.opts")" start >/dev/null || { tail -20 "$dir/server.log" >&2; exit 1; }
    fi
    ;;
stop)
    find_bin
    if [ -f "$dir/data/postmaster.pid" ]; then
        as_owner "$bindir/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
    ;;
*)
    echo "usage: pg.sh start|stop|halt|resume|restart DIR" >&2; exit 2 ;;
esac
