#!/usr/bin/env bash
# Private pgbouncer in transaction pooling mode, in front of the private PostgreSQL (pg.sh).
#
#   pgbouncer.sh start DIR PORT   write DIR/pgbouncer.ini and start pgbouncer on the unix socket
#                                 DIR/.s.PGSQL.PORT (no TCP listener), pooling every database of
#                                 the server at $PGHOST:$PGPORT (trust auth, pool_mode =
#                                 transaction); waits until it accepts connections
#   pgbouncer.sh stop DIR         stop it (SIGINT: immediate shutdown) and remove DIR
#
# As root pgbouncer runs as the 'postgres' user (it refuses root), like pg.sh's server.
set -euo pipefail

cmd=${1:-}; dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: pgbouncer.sh start DIR PORT | stop DIR" >&2; exit 2; }

find_bin() {
    bin=$(command -v pgbouncer || true)
    [ -n "$bin" ] || { [ -x /usr/sbin/pgbouncer ] && bin=/usr/sbin/pgbouncer; }
    [ -n "$bin" ] || { echo "pgbouncer.sh: no pgbouncer (apt-get install pgbouncer)" >&2; exit 1; }
}

case "$cmd" in
start)
    port=${3:?port}
    find_bin
    : "${PGHOST:?PGHOST of the private server}" "${PGPORT:?PGPORT}"
    mkdir -p "$dir"
    chmod 755 "$dir"
    cat >"$dir/pgbouncer.ini" <<EOF
[databases]
* = host=$PGHOST port=$PGPORT

[pgbouncer]
listen_addr =
listen_port = $port
unix_socket_dir = $dir
auth_type = trust
auth_file = $dir/userlist.txt
admin_users = postgres
pool_mode = transaction
max_client_conn = 200
default_pool_size = 10
server_reset_query =
ignore_startup_parameters = extra_float_digits
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
EOF
    echo '"postgres" ""' >"$dir/userlist.txt"
    user=()
    if [ "$(id -u)" -eq 0 ]; then
        chown -R postgres: "$dir"
        user=(-u postgres)
    fi
    "$bin" -d "${user[@]}" "$dir/pgbouncer.ini" >"$dir/start.log" 2>&1 ||
        { cat "$dir/start.log" "$dir/pgbouncer.log" >&2 2>/dev/null; exit 1; }
    for _ in $(seq 100); do
        [ -S "$dir/.s.PGSQL.$port" ] && exit 0
        sleep 0.05
    done
    echo "pgbouncer.sh: no socket $dir/.s.PGSQL.$port" >&2
    cat "$dir/pgbouncer.log" >&2 2>/dev/null || true
    exit 1
    ;;
stop)
    if [ -f "$dir/pgbouncer.pid" ]; then
        pid=$(cat "$dir/pgbouncer.pid")
        kill -INT "$pid" 2>/dev/null || true
        for _ in $(seq 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.05
        done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -rf "$dir"
    ;;
*)
    echo "usage: pgbouncer.sh start DIR PORT | stop DIR" >&2; exit 2 ;;
esac
