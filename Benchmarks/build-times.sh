#!/usr/bin/env bash
# Clean-build times of an app that embeds the package, for each set of what it uses: the ports and the
# in-memory store; + UserSystem (UserAppCore, no adapter trait); + SQLite; + PostgreSQL; the whole HTTP service. Each set is a new package depending on a
# checkout of REV (default HEAD) by path, built from nothing (`rm -rf .build && swift build`, resolution
# included). Prints, per set: the seconds, the packages resolved, and the C libraries the binary links.
#
#   Benchmarks/build-times.sh [REV]      (a quiet machine: nothing else building)
#
# A REV from before the package traits (no `traits:` in its Package.swift) gets the same sets without them.
set -euo pipefail
cd "$(dirname "$0")/.."
rev="${1:-HEAD}"
work="$(mktemp -d)"
trap 'git worktree remove --force "$work/swift-user-domain" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
git worktree add --detach "$work/swift-user-domain" "$rev" >/dev/null 2>&1
has_traits=0
grep -q '^    traits: \[' "$work/swift-user-domain/Package.swift" && has_traits=1

measure() {  # measure NAME TRAITS PRODUCTS IMPORTS
    local name="$1" traits="$2" products="$3" imports="$4" app="$work/$1"
    mkdir -p "$app/Sources/App"
    local dependency='.package(path: "../swift-user-domain")'
    # TRAITS "default": no `traits:` (the package's defaults); otherwise the list, empty for none.
    [ "$has_traits" = 1 ] && [ "$traits" != default ] && dependency=".package(path: \"../swift-user-domain\", traits: [$traits])"
    local list=""
    for product in $products; do list+=".product(name: \"$product\", package: \"swift-user-domain\"), "; done
    cat > "$app/Package.swift" <<MANIFEST
// swift-tools-version: 6.2
import PackageDescription
let package = Package(
    name: "App",
    dependencies: [$dependency],
    targets: [.executableTarget(name: "App", dependencies: [$list])]
)
MANIFEST
    : > "$app/Sources/App/main.swift"
    for module in $imports; do echo "import $module" >> "$app/Sources/App/main.swift"; done
    echo 'print("built")' >> "$app/Sources/App/main.swift"
    local start end
    start=$(date +%s.%N)
    (cd "$app" && swift build >/dev/null 2>&1) || { echo "$name: the build failed" >&2; (cd "$app" && swift build 2>&1 | tail -20) >&2; exit 1; }
    end=$(date +%s.%N)
    local packages libraries
    packages=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["pins"]))' "$app/Package.resolved" 2>/dev/null || echo 0)
    libraries=$(ldd "$app/.build/debug/App" | { grep -oE 'lib(sqlite3|pq|rabbitmq)\.so' || true; } | sort -u | tr '\n' ' ')
    printf '%-22s %6.1f s  %2s packages resolved  links: %s\n' "$name" "$(echo "$end - $start" | bc)" "$packages" "${libraries:-no C library of an adapter}"
}

echo "rev $(git rev-parse --short "$rev")$([ "$has_traits" = 1 ] || echo ' (before the traits)')"
measure ports+in-memory '' "UserPorts UserInMemory" "UserPorts UserInMemory"
measure +UserSystem '' "UserAppCore" "UserAppCore"
measure +sqlite '"SQLite"' "UserAppCore UserSQLite" "UserAppCore UserSQLite"
measure +postgres '"SQLite", "PostgreSQL"' "UserAppCore UserSQLite UserPostgres" "UserAppCore UserSQLite UserPostgres"
measure whole-service default "UserApp" "UserApp"
