#!/usr/bin/env bash
# Calls a live `users serve` through the typed Swift client that swift-openapi-generator's build plugin
# generates from the very document the server serves (Clients/UserClient), through every conditional write:
#   1. starts `users serve` on a temporary SQLite file, with an API token;
#   2. writes its GET /openapi.yaml into Clients/UserClient/Sources/UserClient (ignored by git) and builds the
#      client package, so the client is generated from what the server serves, never from a copy;
#   3. runs user-client-check against the server: every operation of the document (health, the document,
#      metrics, register, get, list by pages and by e-mail, the directory with and without a Consistency-Token,
#      its statistics, deactivate, reactivate, delete) and its documented problems (400, 401, 404, 409, 412,
#      413, 415, 422, and 405 as the default response), each decoded as its documented type, never
#      .undocumented; then every conditional write (If-Match as the generator sends it, percent-encoded;
#      lists, *, weak tags, stale tags; Idempotency-Key replay);
#   4. sends the same Idempotency-Key with curl, unencoded: it must be the same key (the first response).
#
#   scripts/client-check.sh [path/to/users]     (default .build/debug/users; scripts/test.sh calls it)
set -euo pipefail
cd "$(dirname "$0")/.."

users="${1:-.build/debug/users}"
token="client-check-$RANDOM$RANDOM"
. scripts/live-server.sh
start_users_serve "$users" USERS_API_TOKENS="$token"
curl -fsS "$base/openapi.yaml" -o Clients/UserClient/Sources/UserClient/openapi.yaml || {
    cat "$work/serve.log" >&2
    exit 1
}

(cd Clients/UserClient && swift build)
output="$(Clients/UserClient/.build/debug/user-client-check "$base" "$token")"
printf '%s\n' "$output"
read -r id email key <<<"$(printf '%s\n' "$output" | tail -n 1)"

# curl sends the key as written; the generated client sent it percent-encoded: one key, so the first response.
replayed="$(curl -fsS -X POST "$base/users" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    -H "Idempotency-Key: $key" -d "{\"email\":\"$email\",\"displayName\":\"Client Check\"}")"
case "$replayed" in
*"\"id\":\"$id\""*) echo "client-check: curl's unencoded Idempotency-Key is the generated client's key" ;;
*)
    echo "client-check: FAILED: curl's Idempotency-Key '$key' got another response: $replayed" >&2
    exit 1
    ;;
esac
