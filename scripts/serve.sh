#!/usr/bin/env bash
# The README's first command: `swift run users serve` on a fresh Debian machine with Swift. It installs the
# C libraries' development packages the build needs when they are missing (scripts/build-packages.sh reads them
# from Package.swift: libsqlite3, libpq and rabbitmq-c headers, and pkg-config; as root, or through sudo), then
# builds and runs the service with the arguments given (defaults: SQLite in ./users.sqlite, 127.0.0.1:8080).
#
#   scripts/serve.sh                          # http://127.0.0.1:8080
#   scripts/serve.sh --port 9090 --store memory:
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck disable=SC2046
scripts/install-packages.sh $(scripts/build-packages.sh)
exec swift run users serve "$@"
