#!/usr/bin/env bash
# Runs the users-v1 workload (Benchmarks/WORKLOAD.md) for every store and its C baseline, in one run on one
# machine, and prints a table of ops/s with the ratio to C. The C baselines run twice: as the workload
# defines them (the user row alone), and for insert and update once more doing what the package does (the
# user row and its event row in one transaction: peer "c+events"), the ratio to the same work.
#
#   Benchmarks/run.sh [N] [L]          (defaults 20000 and 100000)
#
# It installs what it needs when missing (gcc, libsqlite3-dev, libpq-dev, postgresql, python3), builds
# users-bench with -c release and the two C baselines with -O2, starts a throwaway PostgreSQL (the test
# server: unix socket, fsync off, the same server for every peer), and removes everything at the end. The raw
# JSON lines are kept in Benchmarks/results/latest.jsonl.
set -euo pipefail
cd "$(dirname "$0")"
N="${1:-20000}"
L="${2:-100000}"
../scripts/install-packages.sh gcc pkg-config libsqlite3-dev libpq-dev postgresql python3

work="$(mktemp -d)"
cleanup() {
    [ -n "${USERS_TEST_POSTGRES_DIR:-}" ] && ../scripts/postgres-test-server.sh stop "$USERS_TEST_POSTGRES_DIR"
    rm -rf "$work"
}
trap cleanup EXIT

printf '== building users-bench (release) and the C baselines\n' >&2
swift build -c release --product users-bench >&2
bench="$(swift build -c release --show-bin-path)/users-bench"
gcc -O2 -Wall -o "$work/sqlite-baseline" c/sqlite_baseline.c -lsqlite3 -lpthread
gcc -O2 -Wall -I"$(pg_config --includedir)" -o "$work/postgres-baseline" c/postgres_baseline.c -lpq -lpthread

printf '== starting a throwaway PostgreSQL\n' >&2
eval "$(../scripts/postgres-test-server.sh start)"
port="${USERS_TEST_POSTGRES_URL##*:}"
port="${port%%/*}"
socket_url() { echo "postgresql://app@/$1?host=$USERS_TEST_POSTGRES_DIR&port=$port"; }
for database in bench_c bench_a bench_b; do
    psql "$(socket_url users_test)" -q -c "CREATE DATABASE $database" >/dev/null
done

mkdir -p results
out=results/latest.jsonl
: >"$out"
run() {
    printf '== %s\n' "$*" >&2
    "$@" | tee -a "$out"
}
run "$work/sqlite-baseline" "$work/c.sqlite" "$N" "$L"
run "$work/sqlite-baseline" "$work/c-events.sqlite" "$N" "$L" events
run "$bench" --store "sqlite:$work/swift.sqlite" --users "$N" --lookups "$L"
run "$work/postgres-baseline" "host=$USERS_TEST_POSTGRES_DIR port=$port dbname=bench_c user=app" "$N" "$L"
run "$work/postgres-baseline" "host=$USERS_TEST_POSTGRES_DIR port=$port dbname=bench_c user=app" "$N" "$L" events
run "$bench" --store "$(socket_url bench_a)" --batch-store "$(socket_url bench_b)" --users "$N" --lookups "$L"
run "$bench" --store memory: --users "$N" --lookups "$L"

python3 - "$out" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
c = {(r["backend"], r["phase"]): r["ops_per_s"] for r in rows if r["peer"] == "c"}
same = {(r["backend"], r["phase"]): r["ops_per_s"] for r in rows if r["peer"] == "c+events"}
phases = ["insert", "insertBatch", "getById", "getByEmail", "update", "listAll", "concurrentGet"]
print()
print("| store | phase | swift-user-domain ops/s | C ops/s | ratio | C with the event row ops/s | ratio to it |")
print("|---|---|---:|---:|---:|---:|---:|")
for backend in ["sqlite", "postgres", "memory"]:
    for phase in phases:
        ours = next((r["ops_per_s"] for r in rows if r["peer"] == "swift-user-domain" and r["backend"] == backend
                     and r["phase"] == phase), None)
        if ours is None:
            continue
        base = c.get((backend, phase))
        ratio = f"{ours / base:.2f}" if base else "–"
        events = same.get((backend, phase))
        to_events = f"{events:,} | {ours / events:.2f}" if events else "– | –"
        print(f"| {backend} | {phase} | {ours:,} | {f'{base:,}' if base else '–'} | {ratio} | {to_events} |")
PY
