#!/usr/bin/env bash
# The outbox relay to RabbitMQ, next to plain C on rabbitmq-c, in one run on one machine (issue 15, "Speed").
#
#   Benchmarks/relay.sh [N] [BATCHES] [ROUNDS] [LAG_SECONDS] [LAG_RATES]
#                                                   (defaults 100000, "100 1000", 3, 20, "1000 3000")
#
# served: the same N events committed into a SQLite file and projected by `users serve --publisher none` (as
# after a broker outage: the service kept projecting, only the relay has a backlog), then `users serve` (the
# release binary) started on it with the broker as its publisher and USERS_RELAY_BATCH_SIZE = the batch: the
# relay as the service wires and runs it, timed from the first event marked published to the last (the bench
# polls the first due event in the same file every 25 ms). served-cold: the same without the projection first
# (the relay and the projection start on the backlog together). served-lag: registrations POSTed to `users serve` at 1,000 writes/s; the lag from each
# 201 to its effect's commit in a consumer. These are the figures that stand for what users run.
# relay: N committed events (registrations) drained from the outbox by OutboxRelay.publishPendingEvents()
# through RabbitMQPublisher (confirms awaited per batch) into a durable topic exchange with a bound durable
# queue; c/amqp_baseline.c publishes the same N messages (bodies, routing keys, properties written by
# relay-bench --write-messages) with confirms per batch of the same size. For each batch size and round:
# C, then Swift with the SQLite store (a file), then Swift with the memory store; every queue is deleted
# after its run, so each run starts on an empty queue. lag: users saved through the repository at each of
# LAG_RATES writes/s for LAG_SECONDS while the relay runs as a service and a RabbitMQConsumer applies the
# deliveries that arrived together in one SQLiteIdempotentConsumer transaction; the commit-to-effect lag's
# p50 / p99 / max.
#
# It installs what it needs when missing (gcc, librabbitmq-dev, rabbitmq-server, python3), builds
# relay-bench with -c release and the C baseline with -O2, starts a throwaway broker
# (../scripts/rabbitmq-test-server.sh) and stops it at the end. Raw JSON lines: Benchmarks/results/relay.jsonl.
set -euo pipefail
cd "$(dirname "$0")"
N="${1:-100000}"
BATCHES="${2:-100 1000}"
ROUNDS="${3:-3}"
LAG_SECONDS="${4:-20}"
LAG_RATES="${5:-1000 3000}"
../scripts/install-packages.sh gcc pkg-config librabbitmq-dev rabbitmq-server python3

work="$(mktemp -d)"
cleanup() {
    [ -n "${USERS_TEST_AMQP_DIR:-}" ] && ../scripts/rabbitmq-test-server.sh stop "$USERS_TEST_AMQP_DIR"
    rm -rf "$work"
}
trap cleanup EXIT

printf '== building relay-bench and users (release) and the C baseline\n' >&2
swift build -c release --product relay-bench >&2
swift build -c release --product users >&2
bench="$(swift build -c release --show-bin-path)/relay-bench"
users="$(swift build -c release --show-bin-path)/users"
gcc -O2 -Wall -o "$work/amqp-baseline" c/amqp_baseline.c -lrabbitmq

printf '== starting a throwaway RabbitMQ\n' >&2
eval "$(../scripts/rabbitmq-test-server.sh start)"
# The broker's user, password and vhost, from its URL (amqp://user:password@127.0.0.1:port/vhost).
rest="${USERS_TEST_AMQP_URL#amqp://}"
amqp_user="${rest%%:*}"
rest="${rest#*:}"
amqp_password="${rest%%@*}"
amqp_vhost="${rest##*/}"
ctl() {
    # rabbitmqctl with the node's environment (its HOME holds the Erlang cookie).
    (set -a; . "$USERS_TEST_AMQP_DIR/env"; set +a
     "$(ls -d /usr/lib/rabbitmq/lib/rabbitmq_server-*/sbin | sort -V | tail -n 1)/rabbitmqctl" -q \
         -n "$RABBITMQ_NODENAME" "$@")
}
# Deleting a queue of N persistent messages leaves the broker's message store work to do: give it a moment.
drop_queue() { ctl delete_queue -p "$amqp_vhost" "$1" >/dev/null; sleep 2; }

"$bench" --write-messages "$work/messages.txt" --events "$N"

mkdir -p results
out=results/relay.jsonl
: >"$out"
run() {
    printf '== %s\n' "$*" >&2
    "$@" | tee -a "$out"
}
for round in $(seq 1 "$ROUNDS"); do
    for batch in $BATCHES; do
        run "$work/amqp-baseline" 127.0.0.1 "$USERS_TEST_AMQP_PORT" "$amqp_user" "$amqp_password" "$amqp_vhost" \
            bench.c.events bench.c "$work/messages.txt" "$batch"
        drop_queue bench.c
        for phase in served served-cold; do
            run "$bench" --phase "$phase" --amqp "$USERS_TEST_AMQP_URL" --store "sqlite:$work/served.sqlite" \
                --events "$N" --batch "$batch" --exchange bench.served.events --queue bench.served --users "$users"
            drop_queue bench.served
            drop_queue bench.served.parked
        done
        run "$bench" --phase relay --amqp "$USERS_TEST_AMQP_URL" --store "sqlite:$work/relay.sqlite" \
            --events "$N" --batch "$batch" --exchange bench.sqlite.events --queue bench.sqlite
        drop_queue bench.sqlite
        drop_queue bench.sqlite.parked
        run "$bench" --phase relay --amqp "$USERS_TEST_AMQP_URL" --store memory: \
            --events "$N" --batch "$batch" --exchange bench.memory.events --queue bench.memory
        drop_queue bench.memory
        drop_queue bench.memory.parked
    done
done
run "$bench" --phase served-lag --amqp "$USERS_TEST_AMQP_URL" --store "sqlite:$work/served-lag.sqlite" \
    --consumer-store "$work/served-consumer.sqlite" --rate 1000 --seconds "$LAG_SECONDS" \
    --exchange bench.servedlag.events --queue bench.servedlag --users "$users"
drop_queue bench.servedlag
for rate in $LAG_RATES; do
    run "$bench" --phase lag --amqp "$USERS_TEST_AMQP_URL" --store "sqlite:$work/lag-$rate.sqlite" \
        --consumer-store "$work/consumer-$rate.sqlite" --rate "$rate" --seconds "$LAG_SECONDS" \
        --exchange "bench.lag$rate.events" --queue "bench.lag$rate"
    drop_queue "bench.lag$rate"
done

python3 - "$out" "$BATCHES" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
relay = [r for r in rows if r["phase"] == "relay"]
print()
print("| batch | round | C events/s | users serve (SQLite) events/s | ratio | cold | ratio | relay-bench SQLite events/s | ratio | relay-bench memory events/s | ratio | CPU µs/event: C / SQLite / memory |")
print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
rounds = {}
for r in relay:
    key = (r["batch"], r["backend"] if r["peer"] != "c" else "c")
    rounds.setdefault(key, []).append(r)
for batch in [int(b) for b in sys.argv[2].split()]:
    for i, c in enumerate(rounds.get((batch, "c"), [])):
        v = rounds.get((batch, "sqlite-served"), [])[i]
        w = rounds.get((batch, "sqlite-served-cold"), [])[i]
        s = rounds.get((batch, "sqlite"), [])[i]
        m = rounds.get((batch, "memory"), [])[i]
        us = lambda r: f'{r["cpu_seconds"] / r["ops"] * 1e6:.0f}'
        print(f'| {batch} | {i + 1} | {c["ops_per_s"]:,} | {v["ops_per_s"]:,} | {v["ops_per_s"] / c["ops_per_s"]:.2f} '
              f'| {w["ops_per_s"]:,} | {w["ops_per_s"] / c["ops_per_s"]:.2f} '
              f'| {s["ops_per_s"]:,} | {s["ops_per_s"] / c["ops_per_s"]:.2f} '
              f'| {m["ops_per_s"]:,} | {m["ops_per_s"] / c["ops_per_s"]:.2f} | {us(c)} / {us(s)} / {us(m)} |')
lags = [r for r in rows if r["phase"] == "lag"]
if lags:
    print()
    print("| store | writes | writes/s | commit to effect p50 ms | p99 ms | max ms | commit to handler p50 / p99 ms |")
    print("|---|---:|---:|---:|---:|---:|---:|")
for r in lags:
        print(f'| {r["backend"]} | {r["ops"]:,} | {r["ops_per_s"]:,} | {r["p50_ms"]} | {r["p99_ms"]} | {r["max_ms"]} '
              f'| {r.get("to_handler_p50_ms", "–")} / {r.get("to_handler_p99_ms", "–")} |')
PY
