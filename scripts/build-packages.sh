#!/usr/bin/env bash
# Prints the Debian packages the build needs: pkg-config, and every `.apt([...])` provider of a system-library
# target in Package.swift (its C libraries' headers). Read from Package.swift, so a new C library can't be
# forgotten by the commands that install them (scripts/serve.sh, scripts/test.sh).
#
#   scripts/install-packages.sh $(scripts/build-packages.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
{
    echo pkg-config
    grep -o '\.apt(\[[^]]*\])' Package.swift | grep -o '"[^"]*"' | tr -d '"'
} | sort -u | tr '\n' ' '
echo
