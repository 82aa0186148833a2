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
set -uo pipefail

examples="${PIER_EXAMPLES_DIR:-}"
server_bin="$examples/ws_echo"
[[ -n $examples && -x $server_bin ]] || { echo "skip: $server_bin not built"; exit 77; }
browser="$(command -v chromium || command -v chromium-browser || true)"
[[ -n $browser ]] || { echo "skip: chromium not installed (tools/setup.sh --browser)"; exit 77; }
# Under a sanitizer the server answers several times slower, and headless Chromium's virtual
# clock (--virtual-time-budget) runs ahead while the page waits on the network, so the page's
# own timeout fires first: measured "FAIL timeout" under ASan, PASS without. The Python and
# Node peer tests cover the sanitized server.
[[ -z ${PIER_SANITIZE:-} ]] || { echo "skip: chromium page test runs in unsanitized builds only"; exit 77; }

work="$(mktemp -d "${PIER_TEST_TMPDIR:-${TMPDIR:-/tmp}}/ws_chromium.XXXXXX")"
server_pid=""
cleanup() {
    [[ -n $server_pid ]] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

"$server_bin" --port 0 --threads 2 >"$work/server.out" 2>"$work/server.err" &
server_pid=$!
port=""
for _ in $(seq 100); do
    port="$(sed -n 's/^pier: listening on .*:\([0-9]*\)$/\1/p' "$work/server.out")"
    [[ -n $port ]] && break
    sleep 0.1
done
[[ -n $port ]] || { echo "FAIL - ws_echo did not start"; cat "$work/server.err"; exit 1; }
echo "# ws_echo on port $port, $("$browser" --version 2>/dev/null)"

failures=0
dom=""
for attempt in 1 2; do # a cold browser start can be slow under sanitizers: one retry
    dom="$(timeout 60 "$browser" --headless --no-sandbox --disable-gpu --disable-quic \
        --no-first-run --disable-background-networking --disable-component-update --disable-sync \
        --user-data-dir="$work/profile-$attempt" --virtual-time-budget=10000 \
        --dump-dom "http://127.0.0.1:$port/" 2>"$work/chromium.err")"
    grep -q 'id="result">PASS' <<<"$dom" && break
done
result="$(sed -n 's/.*id="result">\([^<]*\)<.*/\1/p' <<<"$dom")"
if [[ $result == PASS* ]]; then echo "ok   - chromium page: $result"
else echo "FAIL - chromium page: '${result:-no result}'"; tail -5 "$work/chromium.err"; failures=$((failures + 1)); fi
if [[ $result == *permessage-deflate* ]]; then echo "ok   - chromium negotiated permessage-deflate"
else echo "FAIL - chromium did not negotiate permessage-deflate"; failures=$((failures + 1)); fi

kill -TERM "$server_pid"
if wait "$server_pid"; then echo "ok   - ws_echo exits 0 on SIGTERM"
else echo "FAIL - ws_echo exit status"; failures=$((failures + 1)); fi
server_pid=""
echo "# $failures failure(s)"
exit $((failures > 0))
