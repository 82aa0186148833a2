#!/usr/bin/env bash
# tests/peers/ws_chromium.sh: headless Chromium (Debian `chromium`, tools/setup.sh --browser)
# loads the test page ws_echo serves on GET / (examples/common/ws_page.hpp); the page opens a
# WebSocket back to the same port, checks text, binary and a 100 kB compressible echo, closes
# with 1000, and writes PASS/FAIL into the DOM, which --dump-dom prints. Also checks that the
# browser negotiated permessage-deflate.
#
# Needs PIER_EXAMPLES_DIR. Exit 0 = pass, 77 = skipped (ws_echo not built / no chromium).
#
# pier-test: timeout=120
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

need_example ws_echo
browser="$(command -v chromium || command -v chromium-browser || true)"
[[ -n $browser ]] || { echo "skip: chromium not installed (tools/setup.sh --browser)"; exit 77; }
# Under a sanitizer the server answers several times slower, and headless Chromium's virtual
# clock (--virtual-time-budget) runs ahead while the page waits on the network, so the page's
# own timeout fires first: measured "FAIL timeout" under ASan, PASS without. The Python and
# Node peer tests cover the sanitized server.
[[ -z ${PIER_SANITIZE:-} ]] || { echo "skip: chromium page test runs in unsanitized builds only"; exit 77; }

peer_begin ws_chromium
start_example echo ws_echo --threads 2
echo "# ws_echo on port $echo_port, $("$browser" --version 2>/dev/null)"

dom=""
for attempt in 1 2; do # a cold browser start can be slow: one retry
    dom="$(timeout 60 "$browser" --headless --no-sandbox --disable-gpu --disable-quic \
        --no-first-run --disable-background-networking --disable-component-update --disable-sync \
        --user-data-dir="$work/profile-$attempt" --virtual-time-budget=10000 \
        --dump-dom "http://127.0.0.1:$echo_port/" 2>"$work/chromium.err")"
    grep -q 'id="result">PASS' <<<"$dom" && break
done
result="$(sed -n 's/.*id="result">\([^<]*\)<.*/\1/p' <<<"$dom")"
check "chromium page: '${result:-no result}'" test "${result%% *}" = PASS
check "chromium negotiated permessage-deflate" has "$result" permessage-deflate
stop_example echo
peer_end "$work/echo.err" "$work/chromium.err"
