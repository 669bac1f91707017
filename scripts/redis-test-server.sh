#!/usr/bin/env bash
# Starts a throwaway Redis for the tests and prints the environment that points the tests at it.
#
#   eval "$(scripts/redis-test-server.sh start)"        # exports USERS_TEST_REDIS_*; no persistence
#   scripts/redis-test-server.sh start persistent        # another server that writes every command to its AOF
#   scripts/redis-test-server.sh kill "$DIR"             # SIGKILL, as a crash
#   scripts/redis-test-server.sh restart "$DIR"          # start again on the same port, folder and options
#   scripts/redis-test-server.sh stop "$DIR"
#
# The server listens on 127.0.0.1 only, on a free port, with a password (so that the tests see it redacted),
# its files in its own temp folder. Without persistence a restart comes back empty, as a cache would; with
# it (appendonly, fsync always) it comes back with every acknowledged write.
set -euo pipefail

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# The server must not keep descriptors of whoever started it (a test process restarting it through this
# script has sockets open without close-on-exec), as in postgres-test-server.sh.
for fd in $(ls /proc/$$/fd 2>/dev/null); do
    if [ "$fd" -gt 2 ] 2>/dev/null; then eval "exec $fd>&-" 2>/dev/null || true; fi
done

PASSWORD=redis-secret-pw

launch() {
    local dir=$1
    # shellcheck disable=SC2046
    redis-server --bind 127.0.0.1 --port "$(cat "$dir/port")" --dir "$dir" --requirepass "$PASSWORD" \
        --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --save '' \
        --maxmemory-policy noeviction $(cat "$dir/options")
    for _ in $(seq 1 100); do
        if redis-cli -p "$(cat "$dir/port")" -a "$PASSWORD" --no-auth-warning ping 2>/dev/null | grep -q PONG; then
            return 0
        fi
        sleep 0.05
    done
    echo "redis-server did not start; its log:" >&2
    cat "$dir/redis.log" >&2
    exit 1
}

case "${1:-}" in
start)
    command -v redis-server > /dev/null || { echo "redis-server not found (apt-get install redis-server)" >&2; exit 1; }
    DIR=$(mktemp -d /tmp/redis.XXXXXX)
    free_port > "$DIR/port"
    if [ "${2:-}" = persistent ]; then
        echo "--appendonly yes --appendfsync always" > "$DIR/options"
    else
        echo "--appendonly no" > "$DIR/options"
    fi
    launch "$DIR"
    PORT=$(cat "$DIR/port")
    echo "export USERS_TEST_REDIS_URL='redis://:$PASSWORD@127.0.0.1:$PORT/0'"
    echo "export USERS_TEST_REDIS_DIR='$DIR'"
    echo "export USERS_TEST_REDIS_CTL='$(cd "$(dirname "$0")" && pwd)/redis-test-server.sh'"
    ;;
kill)
    DIR=${2:?folder}
    PID=$(cat "$DIR/redis.pid" 2>/dev/null || true)
    if [ -n "$PID" ]; then
        kill -KILL "$PID" 2>/dev/null || true
        for _ in $(seq 1 100); do
            kill -0 "$PID" 2>/dev/null || break
            sleep 0.05
        done
    fi
    rm -f "$DIR/redis.pid"
    ;;
restart)
    DIR=${2:?folder}
    "$0" kill "$DIR"
    launch "$DIR"
    ;;
stop)
    DIR=${2:?folder}
    "$0" kill "$DIR"
    rm -rf "$DIR"
    ;;
*)
    echo "usage: $0 start [persistent] | kill DIR | restart DIR | stop DIR" >&2
    exit 2
    ;;
esac
