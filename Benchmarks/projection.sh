#!/usr/bin/env bash
# The directory projection's speed: events applied per second from an empty directory to the end of a store's
# history, on SQLite and PostgreSQL, RUNS times each (one after another, on one machine).
#
#   Benchmarks/projection.sh [USERS] [CHANGES] [RUNS]      (defaults 20000, 20000, 3)
#
# It installs what it needs when missing, builds projection-bench with -c release, starts a throwaway
# PostgreSQL (the test server: unix socket, fsync off) and removes everything at the end.
set -euo pipefail
cd "$(dirname "$0")"
USERS="${1:-20000}"
CHANGES="${2:-20000}"
RUNS="${3:-3}"
../scripts/install-packages.sh pkg-config libsqlite3-dev libpq-dev postgresql

work="$(mktemp -d)"
cleanup() {
    [ -n "${USERS_TEST_POSTGRES_DIR:-}" ] && ../scripts/postgres-test-server.sh stop "$USERS_TEST_POSTGRES_DIR"
    rm -rf "$work"
}
trap cleanup EXIT

swift build -c release --product projection-bench >&2
bench="$(swift build -c release --show-bin-path)/projection-bench"
eval "$(../scripts/postgres-test-server.sh start)"
port="${USERS_TEST_POSTGRES_URL##*:}"
port="${port%%/*}"
for run in $(seq "$RUNS"); do
    "$bench" --store "sqlite:$work/p.sqlite" --users "$USERS" --changes "$CHANGES"
    psql "postgresql://app@/users_test?host=$USERS_TEST_POSTGRES_DIR&port=$port" -q -c "CREATE DATABASE projection_$run" >/dev/null
    "$bench" --store "postgresql://app@/projection_$run?host=$USERS_TEST_POSTGRES_DIR&port=$port" \
        --users "$USERS" --changes "$CHANGES"
done
