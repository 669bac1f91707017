#!/usr/bin/env bash
# HTTP load figures with wrk: GET /users/{id} and POST /users through `users serve` on SQLite and PostgreSQL,
# and GET on a bare Hummingbird route returning a constant body of the same size (the ceiling), all with
# the same wrk command in one run.
#
#   Benchmarks/http.sh [DURATION_SECONDS] [CONNECTIONS] [ROUNDS]     (defaults 10, 32 and 3; wrk -t2)
#
# The bare route and SQLite's GET run ROUNDS times, alternating; their rows are the medians, and the last line
# gives the ratio of each pair.
set -euo pipefail
cd "$(dirname "$0")"
DURATION="${1:-10}"
CONNECTIONS="${2:-32}"
ROUNDS="${3:-3}"
../scripts/install-packages.sh wrk postgresql python3 curl

work="$(mktemp -d)"
pids=()
cleanup() {
    # serve() runs in a command substitution (a subshell), so its servers' pids come back through a file.
    for pid in "${pids[@]}" $(cat "$work/server-pids" 2>/dev/null); do kill -TERM "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    [ -n "${USERS_TEST_POSTGRES_DIR:-}" ] && ../scripts/postgres-test-server.sh stop "$USERS_TEST_POSTGRES_DIR"
    rm -rf "$work"
}
trap cleanup EXIT

printf '== building users and bare-server (release)\n' >&2
(cd .. && swift build -c release --product users >&2)
users="$(cd .. && swift build -c release --show-bin-path)/users"
swift build -c release --product bare-server >&2
bare="$(swift build -c release --show-bin-path)/bare-server"
eval "$(../scripts/postgres-test-server.sh start)"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_live() { for _ in $(seq 1 150); do curl -fs "$1" >/dev/null 2>&1 && return 0; sleep 0.2; done; return 1; }

cat >"$work/post.lua" <<'LUA'
local counter = 0
local thread_id = 0
setup = function(thread) thread:set("tid", thread_id); thread_id = thread_id + 1 end
request = function()
    counter = counter + 1
    local body = string.format('{"email":"load-%d-%d-%d@example.com","displayName":"Load %d"}', tid, counter,
        math.random(1, 1000000000), counter)
    return wrk.format("POST", "/users", {["Content-Type"] = "application/json"}, body)
end
LUA

measure() {  # name url [script]
    local name="$1" url="$2" script="${3:-}"
    local output
    if [ -n "$script" ]; then
        output=$(wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" -s "$script" "$url")
    else
        output=$(wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" "$url")
    fi
    local rps non2xx
    rps=$(echo "$output" | awk '/Requests\/sec/ {print $2}')
    non2xx=$(echo "$output" | awk '/Non-2xx/ {print $5}')
    printf '| %s | %s | %s |\n' "$name" "$rps" "${non2xx:-0}"
}

serve() {  # store → prints the base URL after registering the user GET asks for
    local store="$1" port
    port=$(free_port)
    "$users" serve --store "$store" --port "$port" >"$work/serve-$port.log" 2>&1 &
    echo $! >>"$work/server-pids"
    wait_live "http://127.0.0.1:$port/health/live"
    echo "http://127.0.0.1:$port"
}

bare_port=$(free_port)
"$bare" "$bare_port" >"$work/bare.log" 2>&1 &
pids+=($!)
wait_live "http://127.0.0.1:$bare_port/users/x"

sqlite=$(serve "sqlite:$work/http.sqlite")
pg_port="${USERS_TEST_POSTGRES_URL##*:}"
pg_port="${pg_port%%/*}"
postgres=$(serve "postgresql://app@/users_test?host=$USERS_TEST_POSTGRES_DIR&port=$pg_port")
for base in "$sqlite" "$postgres"; do
    curl -fs -X POST "$base/users" -H 'content-type: application/json' \
        -d '{"email":"user12345@example.com","displayName":"User 12345"}' >"$work/user.json"
done
sqlite_id=$(curl -fs "$sqlite/users?email=user12345@example.com" | python3 -c 'import json,sys; print(json.load(sys.stdin)["items"][0]["id"])')
pg_id=$(curl -fs "$postgres/users?email=user12345@example.com" | python3 -c 'import json,sys; print(json.load(sys.stdin)["items"][0]["id"])')

echo
echo "wrk -t2 -c$CONNECTIONS -d${DURATION}s (POST with a Lua script making every e-mail unique)"
echo
echo "| target | requests/s | non-2xx |"
echo "|---|---:|---:|"
# The ratio the issue names (SQLite GET against the bare route) from ROUNDS alternating pairs: requests/s on
# this VM swing by a fifth from one run to the next, so one pair decides little. The rows show the medians.
ratios=()
bare_rows=()
get_rows=()
for _ in $(seq 1 "$ROUNDS"); do
    bare_rows+=("$(measure "bare Hummingbird route, constant body" "http://127.0.0.1:$bare_port/users/$sqlite_id")")
    get_rows+=("$(measure "users serve, SQLite: GET /users/{id}" "$sqlite/users/$sqlite_id")")
done
median_row() { printf '%s\n' "$@" | sort -t'|' -k3 -n | sed -n "$(( ($# + 1) / 2 ))p"; }
median_row "${bare_rows[@]}"
median_row "${get_rows[@]}"
measure "users serve, SQLite: POST /users" "$sqlite/users" "$work/post.lua"
measure "users serve, PostgreSQL: GET /users/{id}" "$postgres/users/$pg_id"
measure "users serve, PostgreSQL: POST /users" "$postgres/users" "$work/post.lua"
echo
rps() { echo "$1" | awk -F'|' '{gsub(/ /, "", $3); print $3}'; }
for index in "${!bare_rows[@]}"; do
    ratios+=("$(python3 -c "print(f'{$(rps "${get_rows[$index]}") / $(rps "${bare_rows[$index]}"):.2f}')")")
done
echo "SQLite GET / bare route, per alternating pair: ${ratios[*]} (median $(printf '%s\n' "${ratios[@]}" | sort -n | sed -n "$(( (${#ratios[@]} + 1) / 2 ))p"))"
