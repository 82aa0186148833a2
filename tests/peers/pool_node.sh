#!/usr/bin/env bash
# tests/peers/pool_node.sh: ws_pool against Node's `ws` client (npm, installed by
# tools/setup.sh --node-ws into tests/peers/node_modules), driven by pool_node.js: tokens made
# with Node's crypto (HS256), the welcome, subscribe acknowledged, ping answered, and data
# fan-out among 20 clients on one topic: each client's message reaches the 19 others exactly
# once and never its sender, and a client on another topic gets none of it. The server must
# then stop cleanly on SIGTERM.
#
# Needs PIER_EXAMPLES_DIR. Exit 0 = pass, 77 = skipped (not built / node or ws missing).
#
# pier-test: timeout=120
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

need_example ws_pool
command -v node >/dev/null || { echo "skip: node not installed (tools/setup.sh)"; exit 77; }
export NODE_PATH="${NODE_PATH:-$here/node_modules}"
node -e "require('ws')" 2>/dev/null || { echo "skip: node ws missing (tools/setup.sh --node-ws)"; exit 77; }

peer_begin pool_node
secret="pool-node-peer-test-secret-0123456789abcdef"
start_example pool ws_pool --threads 2 --secret "$secret"
echo "# ws_pool on port $pool_port"
check "the node client's checks pass" node "$here/pool_node.js" "$pool_port" "$secret"
stop_example pool
peer_end "$work/pool.err"
