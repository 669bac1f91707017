#!/usr/bin/env bash
# Runs the README's first command as a reader would (the first line of its first ```sh block, read from the
# README itself, so the check can't drift from the page), on a free port and a temporary SQLite file given
# through the environment (USERS_PORT, USERS_STORE), and checks that the service comes up: /health/ready is
# 200 and a registration is 201. Then it stops it with SIGTERM and expects a clean exit.
#
# On a machine that lacks the C libraries' headers, that command installs them (scripts/serve.sh,
# scripts/build-packages.sh); scripts/test.sh runs this after the build, so it reuses .build.
set -euo pipefail
cd "$(dirname "$0")/.."
command="$(awk '/^```sh$/ { getline; print; exit }' README.md | sed 's/[[:space:]]*#.*$//')"
[ -n "$command" ] || { echo "readme-first-command: no \`\`\`sh block in README.md" >&2; exit 1; }
work="$(mktemp -d)"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
echo "readme-first-command: $command (USERS_PORT=$port)"
USERS_PORT="$port" USERS_STORE="sqlite:$work/users.sqlite" bash -c "exec $command" >"$work/serve.log" 2>&1 &
pid=$!
cleanup() { kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
base="http://127.0.0.1:$port"
# Up to ten minutes: on a fresh machine the command installs packages and builds first.
for _ in $(seq 1 3000); do
    curl -fsS "$base/health/ready" >/dev/null 2>&1 && break
    kill -0 "$pid" 2>/dev/null || { echo "readme-first-command: it exited:" >&2; cat "$work/serve.log" >&2; exit 1; }
    sleep 0.2
done
status="$(curl -s -o /dev/null -w '%{http_code}' -X POST "$base/users" -H 'content-type: application/json' \
    -d '{"email":"readme@example.com","displayName":"Readme"}')"
[ "$status" = 201 ] || { echo "readme-first-command: POST /users answered $status" >&2; cat "$work/serve.log" >&2; exit 1; }
kill -TERM "$pid"
if ! wait "$pid"; then
    echo "readme-first-command: it did not exit cleanly on SIGTERM:" >&2
    cat "$work/serve.log" >&2
    exit 1
fi
trap 'rm -rf "$work"' EXIT
echo "readme-first-command: up, 201, clean exit"
