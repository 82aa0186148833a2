#!/usr/bin/env bash
# tests/peers/ws_node.sh: ws_broadcast and ws_echo against Node's `ws` client (npm, installed
# by tools/setup.sh --node-ws into tests/peers/node_modules): echo with and without
# permessage-deflate, fragments, ping, close codes, and fan-out to 20 clients (ws_node.js).
#
# Needs PIER_EXAMPLES_DIR. Exit 0 = pass, 77 = skipped (not built / node or ws missing).
#
# pier-test: timeout=120
set -uo pipefail

examples="${PIER_EXAMPLES_DIR:-}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
for b in ws_broadcast ws_echo; do
    [[ -n $examples && -x $examples/$b ]] || { echo "skip: $examples/$b not built"; exit 77; }
done
command -v node >/dev/null || { echo "skip: node not installed (tools/setup.sh)"; exit 77; }
export NODE_PATH="${NODE_PATH:-$here/node_modules}"
node -e "require('ws')" 2>/dev/null || { echo "skip: node ws missing (tools/setup.sh --node-ws)"; exit 77; }

work="$(mktemp -d "${PIER_TEST_TMPDIR:-${TMPDIR:-/tmp}}/ws_node.XXXXXX")"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
    rm -rf "$work"
}
trap cleanup EXIT

start() { # start <name>: runs the example, prints its port
    "$examples/$1" --port 0 --threads 2 >"$work/$1.out" 2>"$work/$1.err" &
    pids+=($!)
    local port=""
    for _ in $(seq 100); do
        port="$(sed -n 's/^pier: listening on .*:\([0-9]*\)$/\1/p' "$work/$1.out")"
        [[ -n $port ]] && break
        sleep 0.1
    done
    [[ -n $port ]] || { echo "FAIL - $1 did not start" >&2; cat "$work/$1.err" >&2; exit 1; }
    echo "$port"
}
bport="$(start ws_broadcast)" || exit 1
eport="$(start ws_echo)" || exit 1
echo "# ws_broadcast on $bport, ws_echo on $eport"
node "$here/ws_node.js" "$bport" "$eport"
rc=$?
# Both servers must stop cleanly on SIGTERM.
for p in "${pids[@]}"; do
    kill -TERM "$p"
    if ! wait "$p"; then echo "FAIL - a server did not exit 0 on SIGTERM"; rc=1; fi
done
pids=()
exit $rc
