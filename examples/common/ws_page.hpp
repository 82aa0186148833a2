// examples/common/ws_page.hpp: a test page served by ws_echo on GET / (the same port as the
// WebSocket): it opens a WebSocket back to the server, checks echoes of text, binary, a
// fragment-sized compressible text and a ping-free close, and writes "PASS …" or "FAIL …"
// into #result and the title. tests/peers/ws_chromium.sh loads it in headless Chromium.
#pragma once

#include <string_view>

namespace examples {

inline constexpr std::string_view ws_test_page = R"html(<!doctype html>
<html><head><meta charset="utf-8"><title>pending</title></head>
<body><div id="result">pending</div>
<script>
const out = (s) => { document.getElementById('result').textContent = s; document.title = s; };
const ws = new WebSocket(`ws://${location.host}/echo`);
ws.binaryType = 'arraybuffer';
const big = 'chromium says hello '.repeat(5000);
const steps = [
  { send: 'hello from chromium ✓', check: (d) => d === 'hello from chromium ✓' },
  { send: new Uint8Array([0, 1, 2, 255]).buffer,
    check: (d) => d instanceof ArrayBuffer && new Uint8Array(d).join() === '0,1,2,255' },
  { send: big, check: (d) => d === big },
];
let i = 0;
const timer = setTimeout(() => out('FAIL timeout'), 8000);
ws.onopen = () => ws.send(steps[0].send);
ws.onmessage = (e) => {
  if (!steps[i].check(e.data)) { out(`FAIL step ${i}`); ws.close(); return; }
  if (++i < steps.length) { ws.send(steps[i].send); return; }
  ws.close(1000, 'bye');
};
ws.onclose = (e) => {
  clearTimeout(timer);
  if (i === steps.length && e.code === 1000 && e.wasClean)
    out(`PASS extensions=[${ws.extensions}]`);
  else if (!document.title.startsWith('FAIL')) out(`FAIL close ${e.code} after step ${i}`);
};
ws.onerror = () => out('FAIL error');
</script></body></html>
)html";

} // namespace examples
