#!/usr/bin/env bash
# Starts a throwaway RabbitMQ node for the tests and prints the environment that points the tests at it.
#
#   eval "$(scripts/rabbitmq-test-server.sh start)"          # exports USERS_TEST_AMQP_*; data in a temp folder
#   eval "$(scripts/rabbitmq-test-server.sh start OTHER_)"   # a second node, USERS_TEST_AMQP_OTHER_*
#   scripts/rabbitmq-test-server.sh stop "$USERS_TEST_AMQP_DIR"
#
# What the tests use to crash and revive the node (USERS_TEST_AMQP_CTL is this script's path):
#
#   "$USERS_TEST_AMQP_CTL" kill "$USERS_TEST_AMQP_DIR"      # SIGKILL the node (no clean shutdown)
#   "$USERS_TEST_AMQP_CTL" restart "$USERS_TEST_AMQP_DIR"   # start it again on the same ports and data; waits
#
# Exports: USERS_TEST_AMQP_URL (amqp://app:…@127.0.0.1:PORT/users_test, the node's only user, on its own
# vhost), USERS_TEST_AMQP_PORT, USERS_TEST_AMQP_DIR, USERS_TEST_AMQP_CTL, and for TLS USERS_TEST_AMQP_TLS_URL
# (amqps://app:…@localhost:TLS_PORT/users_test?cacertfile=…): a listener whose certificate, for the name
# `localhost` only, is signed by a CA made for this node (DIR/tls/ca.pem, openssl, valid two days).
#
# The node listens on 127.0.0.1 only: its AMQP port, its distribution port (inet_dist_use_interface) and
# epmd (ERL_EPMD_ADDRESS). When no epmd runs, this script starts one on 127.0.0.1 and `stop` stops it
# again once no node is registered with it. It runs the versioned server script directly: Debian's
# `rabbitmq-server` wrapper switches to the rabbitmq user and resets HOME (which holds the Erlang cookie).
set -euo pipefail

sbin() {
    local dir
    dir=$(ls -d /usr/lib/rabbitmq/lib/rabbitmq_server-*/sbin 2>/dev/null | sort -V | tail -n 1)
    [ -n "$dir" ] || { echo "RabbitMQ not found (apt-get install rabbitmq-server)" >&2; exit 1; }
    echo "$dir"
}

epmd_bin() {
    command -v epmd 2>/dev/null || ls /usr/lib/erlang/erts-*/bin/epmd 2>/dev/null | sort -V | tail -n 1
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

epmd_running() {
    # epmd answers on 4369; `epmd -names` fails when none runs.
    ERL_EPMD_ADDRESS=127.0.0.1 "$(epmd_bin)" -names >/dev/null 2>&1
}

# The node must not keep descriptors of whoever started it (see postgres-test-server.sh: a test process that
# restarts it through this script has sockets open without close-on-exec).
for fd in $(ls /proc/$$/fd 2>/dev/null); do
    if [ "$fd" -gt 2 ] 2>/dev/null; then eval "exec $fd>&-" 2>/dev/null || true; fi
done

# Starts the node of DIR with the environment saved in DIR/env and waits until it accepts connections.
start_node() {
    local dir=$1 s
    s=$(sbin)
    # shellcheck disable=SC1091
    set -a; . "$dir/env"; set +a
    rm -f "$dir/pid"
    "$s/rabbitmq-server" -detached >>"$dir/server.out" 2>&1 </dev/null
    # `wait` returns once the pid file exists and the node booted (the AMQP listener is up).
    if ! "$s/rabbitmqctl" -n "$RABBITMQ_NODENAME" wait --timeout 120 "$dir/pid" >>"$dir/server.out" 2>&1; then
        echo "RabbitMQ did not start; see $dir/server.out and $dir/log" >&2
        tail -n 20 "$dir/server.out" >&2 || true
        exit 1
    fi
}

kill_node() {
    local dir=$1 pid
    pid=$(cat "$dir/pid" 2>/dev/null || true)
    [ -n "$pid" ] || return 0
    kill -KILL "$pid" 2>/dev/null || true
    # Wait until it is gone, so that a restart finds its ports free.
    for _ in $(seq 1 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    rm -f "$dir/pid"
}

case "${1:-}" in
start)
    S=$(sbin)
    DIR=$(mktemp -d /tmp/rmq.XXXXXX)
    mkdir -p "$DIR"/{mnesia,log,home}
    PORT=$(free_port)
    DIST_PORT=$(free_port)
    while [ "$DIST_PORT" = "$PORT" ]; do DIST_PORT=$(free_port); done
    TLS_PORT=$(free_port)
    while [ "$TLS_PORT" = "$PORT" ] || [ "$TLS_PORT" = "$DIST_PORT" ]; do TLS_PORT=$(free_port); done
    NODE="users_test_$(basename "$DIR" | tr -c 'A-Za-z0-9\n' _)@localhost"
    PASSWORD="amqp-secret-pw"
    # A CA of the node's own and a server certificate it signed, for the name localhost only (no IP address:
    # the tests check that connecting by another name is refused).
    mkdir -p "$DIR/tls"
    (
        cd "$DIR/tls"
        openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=users-test-ca" \
            -keyout ca.key -out ca.pem 2>/dev/null
        openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout server.key -out server.csr 2>/dev/null
        printf 'subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >server.ext
        openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile server.ext \
            -out server.pem 2>/dev/null
    )
    # Read on the node's first boot only: the one user, its vhost and its permissions (no guest user).
    cat >"$DIR/rabbitmq.conf" <<EOF
listeners.tcp.default = 127.0.0.1:$PORT
listeners.ssl.default = 127.0.0.1:$TLS_PORT
ssl_options.cacertfile = $DIR/tls/ca.pem
ssl_options.certfile = $DIR/tls/server.pem
ssl_options.keyfile = $DIR/tls/server.key
ssl_options.verify = verify_none
ssl_options.fail_if_no_peer_cert = false
default_user = app
default_pass = $PASSWORD
default_vhost = users_test
default_permissions.configure = .*
default_permissions.read = .*
default_permissions.write = .*
disk_free_limit.absolute = 50MB
log.console = false
log.file.level = warning
EOF
    : >"$DIR/enabled_plugins"
    echo "[]." >"$DIR/enabled_plugins"
    cat >"$DIR/env" <<EOF
HOME=$DIR/home
RABBITMQ_NODENAME=$NODE
RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
RABBITMQ_NODE_PORT=$PORT
RABBITMQ_DIST_PORT=$DIST_PORT
ERL_EPMD_ADDRESS=127.0.0.1
RABBITMQ_MNESIA_BASE=$DIR/mnesia
RABBITMQ_LOG_BASE=$DIR/log
RABBITMQ_PID_FILE=$DIR/pid
RABBITMQ_ENABLED_PLUGINS_FILE=$DIR/enabled_plugins
RABBITMQ_CONFIG_FILE=$DIR/rabbitmq
RABBITMQ_ADVANCED_CONFIG_FILE=$DIR/advanced.config
RABBITMQ_CONF_ENV_FILE=$DIR/rabbitmq-env.conf
RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
EOF
    : >"$DIR/rabbitmq-env.conf"
    if ! epmd_running; then
        # Our own epmd on loopback, remembered so that `stop` ends it (by its pid) when we were its last user.
        ERL_EPMD_ADDRESS=127.0.0.1 setsid "$(epmd_bin)" -address 127.0.0.1 </dev/null >/dev/null 2>&1 &
        echo $! >"$DIR/epmd.pid"
        for _ in $(seq 1 100); do epmd_running && break; sleep 0.05; done
    fi
    start_node "$DIR" >&2
    P="USERS_TEST_AMQP_${2:-}"
    echo "export ${P}URL='amqp://app:$PASSWORD@127.0.0.1:$PORT/users_test'"
    echo "export ${P}PORT='$PORT'"
    echo "export ${P}TLS_URL='amqps://app:$PASSWORD@localhost:$TLS_PORT/users_test?cacertfile=$DIR/tls/ca.pem'"
    echo "export ${P}DIR='$DIR'"
    echo "export ${P}CTL='$(cd "$(dirname "$0")" && pwd)/rabbitmq-test-server.sh'"
    ;;
stop)
    DIR=${2:?usage: stop DIR}
    [ -d "$DIR" ] || exit 0
    if [ -s "$DIR/pid" ]; then
        PID=$(cat "$DIR/pid")
        kill -TERM "$PID" 2>/dev/null || true
        for _ in $(seq 1 200); do kill -0 "$PID" 2>/dev/null || break; sleep 0.05; done
        kill -KILL "$PID" 2>/dev/null || true
    fi
    if [ -s "$DIR/epmd.pid" ]; then
        EPMD_PID=$(cat "$DIR/epmd.pid")
        # Only when no other node (of another start) still uses it.
        for _ in $(seq 1 40); do
            NAMES=$(ERL_EPMD_ADDRESS=127.0.0.1 "$(epmd_bin)" -names 2>/dev/null | grep -c '^name ' || true)
            [ "$NAMES" = 0 ] && break
            sleep 0.05
        done
        [ "$NAMES" = 0 ] && kill -TERM "$EPMD_PID" 2>/dev/null || true
    fi
    rm -rf "$DIR"
    ;;
kill)
    kill_node "${2:?usage: kill DIR}"
    ;;
restart)
    # Starts a node that was killed (or SIGKILLs it first), on the same ports and data, and waits for it.
    DIR=${2:?usage: restart DIR}
    kill_node "$DIR"
    start_node "$DIR" >&2
    ;;
*)
    echo "usage: $0 start [PREFIX] | stop DIR | kill DIR | restart DIR" >&2
    exit 64
    ;;
esac
