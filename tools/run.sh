#!/usr/bin/env bash
# tools/run.sh: the README's flagship command. Installs what is missing, builds the flagship
# example in build/default (the tree tools/test.sh uses) and runs it, passing every argument
# through:
#
#   tools/run.sh --port 8080          then: curl http://127.0.0.1:8080/
#
# Build output goes to stderr, so stdout carries only the example's own output (its first line
# is `pier: listening on <address>:<port>`). Ctrl-C stops the server cleanly.
set -euo pipefail

FLAGSHIP=http_hello

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

if [[ ! -f examples/$FLAGSHIP.cpp ]]; then
    echo "run.sh: examples/$FLAGSHIP.cpp does not exist" >&2
    exit 1
fi
tools/setup.sh --quiet >&2
tools/test.sh --no-setup --only default --target "$FLAGSHIP" >&2
exec "${PIER_BUILD_ROOT:-build}/default/examples/$FLAGSHIP" "$@"
