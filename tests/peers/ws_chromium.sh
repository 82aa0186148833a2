#!/usr/bin/env bash
# tests/peers/ws_chromium.sh: headless Chromium (Debian `chromium`, driven through
# playwright-core by ws_chromium.js: tools/setup.sh --browser --playwright) loads the test page
# ws_echo serves on GET / (examples/common/ws_page.hpp); the page opens a WebSocket back to the
# same port, checks text, binary and a 100 kB compressible echo, closes with 1000, and writes
# PASS/FAIL into #result, which ws_chromium.js waits for (in real time, bounded) and prints.
# Also checks that the browser negotiated permessage-deflate.
#
# Needs PIER_EXAMPLES_DIR. Exit 0 = pass, 77 = skipped (ws_echo not built / node, playwright-core
# or chromium missing).
#
# pier-test: timeout=120
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

need_example ws_echo
command -v node >/dev/null || { echo "skip: node not installed (tools/setup.sh)"; exit 77; }
export NODE_PATH="${NODE_PATH:-$here/node_modules}"
# The page's own timer gives the echoes 8 s; a sanitized server answers several times slower
# under a loaded CI. The Python and Node peer tests cover the sanitized server.
[[ -z ${PIER_SANITIZE:-} ]] || { echo "skip: chromium page test runs in unsanitized builds only"; exit 77; }

peer_begin ws_chromium
start_example echo ws_echo --threads 2
echo "# ws_echo on port $echo_port, $(/usr/bin/chromium --version 2>/dev/null)"

node "$here/ws_chromium.js" "http://127.0.0.1:$echo_port" --timeout 60 \
    >"$work/node.out" 2>"$work/chromium.err"
rc=$?
[[ $rc == 77 ]] && { cat "$work/node.out"; exit 77; } # peer_cleanup stops ws_echo
result="$(cat "$work/node.out")"
check "chromium page: '${result:-no result}'" test "${result%% *}" = PASS
check "chromium negotiated permessage-deflate" has "$result" permessage-deflate
stop_example echo
peer_end "$work/echo.err" "$work/chromium.err"
