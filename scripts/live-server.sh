# Sourced by the scripts that check a live `users serve`: start_users_serve USERS [ENV=VALUE...] starts one on a
# free port over a temporary SQLite file, with the given environment, and sets `work` (its folder), `server`
# (its pid) and `base` (its URL); it is stopped and its folder removed when the script exits. The server is
# up (GET /health/live answers) when the function returns; its log is "$work/serve.log".
start_users_serve() {
    local users="$1"
    shift
    work="$(mktemp -d)"
    local port
    port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    env "$@" "$users" serve --store "sqlite:$work/users.sqlite" --port "$port" >"$work/serve.log" 2>&1 &
    server=$!
    trap stop_users_serve EXIT
    base="http://127.0.0.1:$port"
    for _ in $(seq 1 150); do
        curl -fsS "$base/health/live" >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    echo "users serve did not come up:" >&2
    cat "$work/serve.log" >&2
    return 1
}

stop_users_serve() {
    kill -TERM "$server" 2>/dev/null && wait "$server" 2>/dev/null || true
    rm -rf "$work"
}
