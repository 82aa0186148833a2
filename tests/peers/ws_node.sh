#!/usr/bin/env bash
# tests/peers/ws_node.sh: ws_broadcast and ws_echo against Node's `ws` client (npm, installed
# by tools/setup.sh --node-ws into tests/peers/node_modules): echo with and without
# permessage-deflate, fragments, ping, close codes, and fan-out to 20 clients (ws_node.js).
# Both servers must then stop cleanly on SIGTERM.
#
# Needs PIER_EXAMPLES_DIR. Exit 0 = pass, 77 = skipped (not built / node or ws missing).
#
# pier-test: timeout=120
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

need_example ws_broadcast ws_echo
command -v node >/dev/null || { echo "skip: node not installed (tools/setup.sh)"; exit 77; }
export NODE_PATH="${NODE_PATH:-$here/node_modules}"
node -e "require('ws')" 2>/dev/null || { echo "skip: node ws missing (tools/setup.sh --node-ws)"; exit 77; }

peer_begin ws_node
start_example bcast ws_broadcast --threads 2
start_example echo ws_echo --threads 2
echo "# ws_broadcast on $bcast_port, ws_echo on $echo_port"
check "the node client's checks pass" node "$here/ws_node.js" "$bcast_port" "$echo_port"
stop_example bcast
stop_example echo
peer_end "$work/bcast.err" "$work/echo.err"
