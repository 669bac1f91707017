#!/usr/bin/env bash
# The directory replicas side by side: events applied per second, prefix searches and counts per second, for
# SQLite, PostgreSQL and Redis on the same events, RUNS times each (one after another, on one machine); and
# redis-benchmark on the same Redis and data as the floor of the query path (a raw ZRANGE … BYLEX LIMIT 0 20,
# the first of the reads a search makes).
#
#   Benchmarks/replica.sh [USERS] [CHANGES] [QUERIES] [CLIENTS] [RUNS]     (defaults 20000 20000 20000 8 3)
#
# It installs what it needs when missing, builds replica-bench with -c release, starts a throwaway PostgreSQL
# (the test server: unix socket, fsync off) and a throwaway Redis (no persistence), and removes everything at
# the end.
set -euo pipefail
cd "$(dirname "$0")"
USERS="${1:-20000}"
CHANGES="${2:-20000}"
QUERIES="${3:-20000}"
CLIENTS="${4:-8}"
RUNS="${5:-3}"
# shellcheck disable=SC2046
../scripts/install-packages.sh $(../scripts/build-packages.sh) postgresql redis-server redis-tools

work="$(mktemp -d)"
cleanup() {
    [ -n "${USERS_TEST_POSTGRES_DIR:-}" ] && ../scripts/postgres-test-server.sh stop "$USERS_TEST_POSTGRES_DIR"
    [ -n "${USERS_TEST_REDIS_DIR:-}" ] && ../scripts/redis-test-server.sh stop "$USERS_TEST_REDIS_DIR"
    rm -rf "$work"
}
trap cleanup EXIT

swift build -c release --product replica-bench >&2
bench="$(swift build -c release --show-bin-path)/replica-bench"
eval "$(../scripts/postgres-test-server.sh start)"
eval "$(../scripts/redis-test-server.sh start)"
port="${USERS_TEST_POSTGRES_URL##*:}"
port="${port%%/*}"
redis_port="$(cat "$USERS_TEST_REDIS_DIR/port")"
options=(--users "$USERS" --changes "$CHANGES" --queries "$QUERIES" --clients "$CLIENTS")
for run in $(seq "$RUNS"); do
    "$bench" --replica "sqlite:$work/r.sqlite" "${options[@]}"
    psql "postgresql://app@/users_test?host=$USERS_TEST_POSTGRES_DIR&port=$port" -q -c "CREATE DATABASE replica_$run" >/dev/null
    "$bench" --replica "postgresql://app@/replica_$run?host=$USERS_TEST_POSTGRES_DIR&port=$port" "${options[@]}"
    "$bench" --replica "$USERS_TEST_REDIS_URL?prefix=bench:" "${options[@]}"
    # The floor: the raw range read a search starts with, on the data the run left.
    floor=$(redis-benchmark -p "$redis_port" -a redis-secret-pw -c "$CLIENTS" -n "$QUERIES" -q \
        ZRANGE bench:names '[ka' '(ka\xf4' BYLEX LIMIT 0 20 2>/dev/null | grep -o '[0-9.]* requests per second' || true)
    echo "{\"replica\":\"redis-benchmark ZRANGE BYLEX LIMIT 0 20\",\"clients\":$CLIENTS,\"per_s\":\"${floor%% *}\"}"
done
