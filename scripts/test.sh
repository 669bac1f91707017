#!/usr/bin/env bash
# Runs every test of the package: the README's test command, and what CI runs.
#
#   scripts/test.sh            build and run all tests, then all of them again under ThreadSanitizer
#   SKIP_TSAN=1 scripts/test.sh   skip the ThreadSanitizer pass (faster local runs)
#
# The ThreadSanitizer pass runs the whole suite with USERS_TEST_UNDER_TSAN=1, which skips the tests marked
# `.plainPassOnly`: those that spawn a process (the `users` binary, the SQLite crash writer), which
# ThreadSanitizer's runtime can't host (forking with many threads alive aborts it in ForkChildAfter). They
# run in the plain pass. Nothing else sets the variable; don't set it for the plain pass.
#
# Between the two, scripts/readme-first-command.sh runs the README's first command (scripts/serve.sh) as written,
# scripts/api-conformance.sh checks the live HTTP API against its OpenAPI document,
# scripts/docs-code-check.sh the docs' Swift code (as pasted into new packages), scripts/docs-check.sh the DocC documentation (no warnings), and
# scripts/client-check.sh calls the API through the Swift client generated from its document (Clients/UserClient).
#
# It installs the system packages the build and the tests need when they are missing (as root, through
# apt-get), and starts (and at the end stops) the throwaway PostgreSQL servers, the RabbitMQ node and the Redis
# server the tests run against.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n== %s\n' "$*" >&2; }

# shellcheck disable=SC2046
scripts/install-packages.sh $(scripts/build-packages.sh) postgresql rabbitmq-server redis-server redis-tools python3 python3-venv curl

# Two throwaway PostgreSQL servers, stopped on exit: one shared by the PostgreSQL suites, one that the restart
# test restarts. Set USERS_TEST_POSTGRES_URL (and the RESTART_ variables) to use servers of your own instead.
cleanup() {
    [ -n "${STARTED_MAIN:-}" ] && scripts/postgres-test-server.sh stop "$USERS_TEST_POSTGRES_DIR"
    [ -n "${STARTED_RESTART:-}" ] && scripts/postgres-test-server.sh stop "$USERS_TEST_POSTGRES_RESTART_DIR"
    [ -n "${STARTED_AMQP:-}" ] && scripts/rabbitmq-test-server.sh stop "$USERS_TEST_AMQP_DIR"
    [ -n "${STARTED_REDIS:-}" ] && scripts/redis-test-server.sh stop "$USERS_TEST_REDIS_DIR"
    return 0
}
trap cleanup EXIT
if [ -z "${USERS_TEST_POSTGRES_URL:-}" ]; then
    log "starting a throwaway PostgreSQL"
    eval "$(scripts/postgres-test-server.sh start)"
    STARTED_MAIN=1
fi
if [ -z "${USERS_TEST_POSTGRES_RESTART_URL:-}" ]; then
    log "starting a throwaway PostgreSQL for the restart test"
    eval "$(scripts/postgres-test-server.sh start RESTART_)"
    STARTED_RESTART=1
fi
# A throwaway RabbitMQ node (UserRabbitMQTests kill and restart it). Set USERS_TEST_AMQP_URL, _DIR and _CTL to
# use a node of your own (see scripts/rabbitmq-test-server.sh for what the tests do with them).
if [ -z "${USERS_TEST_AMQP_URL:-}" ]; then
    log "starting a throwaway RabbitMQ"
    eval "$(scripts/rabbitmq-test-server.sh start)"
    STARTED_AMQP=1
fi

# A throwaway Redis (the Redis directory replica's tests; the tests that flush, kill or reconfigure one start
# servers of their own through the same script). Set USERS_TEST_REDIS_URL, _DIR and _CTL to use one of your own.
if [ -z "${USERS_TEST_REDIS_URL:-}" ]; then
    log "starting a throwaway Redis"
    eval "$(scripts/redis-test-server.sh start)"
    STARTED_REDIS=1
fi

log "swift build --build-tests"
swift build --build-tests

log "swift test"
swift test --skip-build

log "The README's first command: the service comes up, answers, and exits cleanly"
scripts/readme-first-command.sh

log "API conformance: the OpenAPI document validates, schemathesis fuzzes a live server against it"
scripts/api-conformance.sh .build/debug/users

log "The docs' Swift code, as pasted: new packages built from the README's Package.swift and every block"
scripts/docs-code-check.sh

log "DocC: every library module's documentation builds with no warnings"
scripts/docs-check.sh

log "The generated Swift client: built from the served document, every conditional write against a live server"
scripts/client-check.sh .build/debug/users

if [ "${SKIP_TSAN:-0}" != 1 ]; then
    # Every test again under ThreadSanitizer (its own build folder), but those that spawn processes.
    log "swift build --build-tests --sanitize=thread"
    swift build --build-tests --sanitize=thread --scratch-path .build-tsan
    log "swift test --sanitize=thread (the whole suite but .plainPassOnly tests)"
    USERS_TEST_UNDER_TSAN=1 swift test --skip-build --sanitize=thread --scratch-path .build-tsan
fi
