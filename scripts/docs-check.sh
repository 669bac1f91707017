#!/usr/bin/env bash
# Builds the DocC documentation of every library module with warnings as errors (swift-docc-plugin): a broken
# symbol link, an ambiguous one, an undocumented parameter in a documented list, fails the test command. First,
# no file of the repository may refer to a document in a folder beside the clone (the team's working notes).
#
#   scripts/docs-check.sh       (scripts/test.sh calls it)
set -euo pipefail
cd "$(dirname "$0")/.."
# The repository's documents live in it: nothing may send a reader to a folder beside the clone.
# The folder's name is put together here so that this script does not match itself.
beside="shar""ed"
if git grep -n -e "\.\./$beside/" -- . >&2; then
    echo "docs-check: the lines above point outside the repository" >&2
    exit 1
fi
targets=(UserDomain UserPorts UserPortsTesting UserInMemory UserSQLite UserPostgres UserRedis UserRabbitMQ ServiceSupport UserHTTP UserAppCore UserApp UserDirectoryService)
args=()
for target in "${targets[@]}"; do args+=(--target "$target"); done
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
if ! swift package generate-documentation "${args[@]}" --warnings-as-errors >"$log" 2>&1; then
    grep -v "^\[" "$log" | grep -v "swift-distributed-tracing" >&2
    echo "docs-check: DocC reported the problems above" >&2
    exit 1
fi
# The plugin's --warnings-as-errors stops at errors; a warning DocC emits without failing still counts.
if grep -E "^warning: " "$log" | grep -v "swift-distributed-tracing"; then
    echo "docs-check: DocC warnings above" >&2
    exit 1
fi
echo "docs-check: ${#targets[@]} modules, no DocC warnings"
