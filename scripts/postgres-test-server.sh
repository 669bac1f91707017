#!/usr/bin/env bash
# Starts a throwaway PostgreSQL for the tests and prints the environment that points the tests at it.
#
#   eval "$(scripts/postgres-test-server.sh start)"   # exports USERS_TEST_POSTGRES_*; data in a temp folder
#   eval "$(scripts/postgres-test-server.sh start RESTART_)"   # a second server, USERS_TEST_POSTGRES_RESTART_*
#   scripts/postgres-test-server.sh stop "$USERS_TEST_POSTGRES_DIR"
#
# The server listens on 127.0.0.1 (scram-sha-256 password auth) and on a unix socket in its temp folder
# (trust). It runs as the postgres user when started by root (initdb refuses root).
set -euo pipefail

pg_bin() {
    local bin
    bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    [ -n "$bin" ] || { echo "PostgreSQL server binaries not found (apt-get install postgresql)" >&2; exit 1; }
    echo "$bin"
}

as_pg() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# The server must not keep descriptors of whoever started it: a test process restarting it (the restart test
# runs this script through system(3)) has sockets open that NIO accepted without close-on-exec, and a server
# holding copies of them keeps those connections from ever closing (the connection-timeout tests then saw
# their server close a socket, and the client never saw the end).
for fd in $(ls /proc/$$/fd 2>/dev/null); do
    if [ "$fd" -gt 2 ] 2>/dev/null; then eval "exec $fd>&-" 2>/dev/null || true; fi
done

case "${1:-}" in
start)
    PGBIN=$(pg_bin)
    DIR=$(mktemp -d /tmp/pg.XXXXXX)    # short: unix socket paths are limited to ~107 bytes
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$DIR"
    PORT=$(free_port)
    as_pg "$PGBIN/initdb" -D "$DIR/data" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
        -E UTF8 --locale=C.UTF-8 --no-sync >"$DIR/initdb.log" 2>&1
    OPTIONS="-c listen_addresses=127.0.0.1 -c port=$PORT -c unix_socket_directories=$DIR -c fsync=off -c max_connections=200"
    echo "$OPTIONS" >"$DIR/options"     # restart starts the server with the same options
    as_pg "$PGBIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w start -o "$OPTIONS" >/dev/null
    as_pg "$PGBIN/psql" -h "$DIR" -p "$PORT" -U postgres -d postgres -q -v ON_ERROR_STOP=1 \
        -c "CREATE ROLE app LOGIN PASSWORD 'test-secret-pw' CREATEDB" \
        -c "CREATE DATABASE users_test OWNER app" >/dev/null
    P="USERS_TEST_POSTGRES_${2:-}"
    echo "export ${P}DIR='$DIR'"
    echo "export ${P}URL='postgresql://app:test-secret-pw@127.0.0.1:$PORT/users_test'"
    echo "export ${P}SOCKET_URL='postgresql://app@/users_test?host=$DIR&port=$PORT'"
    echo "export ${P}COMMAND='$(cd "$(dirname "$0")" && pwd)/postgres-test-server.sh restart $DIR'"
    ;;
stop)
    DIR=${2:?usage: stop DIR}
    as_pg "$(pg_bin)/pg_ctl" -D "$DIR/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$DIR"
    ;;
restart)
    # Stops the server, keeps it down for ${3:-1} seconds, and starts it again (for the restart test).
    DIR=${2:?usage: restart DIR [seconds]}
    as_pg "$(pg_bin)/pg_ctl" -D "$DIR/data" -m fast -w stop >/dev/null
    sleep "${3:-1}"
    as_pg "$(pg_bin)/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w start -o "$(cat "$DIR/options")" >/dev/null
    ;;
*)
    echo "usage: $0 start | stop DIR | restart DIR [seconds]" >&2
    exit 64
    ;;
esac
