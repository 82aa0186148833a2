#!/usr/bin/env bash
# tests/peers/chat_chromium.sh: headless Chromium (Debian's chromium, driven through
# playwright-core: tools/setup.sh --playwright) loads ws_chat's page, joins a room in two
# pages, exchanges messages and keeps a second room private (chat_chromium.js); screenshots
# land in this test's directory (chat-alice.png, chat-bob.png). ws_chat must then stop cleanly.
#
# Needs PIER_EXAMPLES_DIR. Exit 0 = pass, 77 = skipped (not built / node, playwright-core or
# chromium missing).
#
# pier-test: timeout=180
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

need_example ws_chat
command -v node >/dev/null || { echo "skip: node not installed (tools/setup.sh)"; exit 77; }
export NODE_PATH="${NODE_PATH:-$here/node_modules}"

peer_begin chat_chromium
start_example chat ws_chat --threads 2
echo "# ws_chat on port $chat_port"
shots="${PIER_TEST_TMPDIR:-$work}/chat"
# Sanitized servers answer several times slower: a longer bound on each wait.
bound=20
[[ -z ${PIER_SANITIZE:-} ]] || bound=60
node "$here/chat_chromium.js" "http://127.0.0.1:$chat_port" "$shots" --timeout "$bound" \
    >"$work/node.out" 2>"$work/node.err"
rc=$?
cat "$work/node.out"
if [[ $rc == 77 ]]; then
    exit 77 # peer_cleanup (the EXIT trap) stops ws_chat
fi
check "the chat page works in two Chromium pages (rc $rc)" test "$rc" -eq 0
stop_example chat
peer_end "$work/node.err" "$work/chat.err"
