#!/usr/bin/env bash
# tests/peers/pool_admin.sh: ws_pool's operator surface as a new user would try it: a few
# hundred Python `websockets` clients connected, every admin endpoint driven with curl (paths
# and JSON shapes as the specification has them), wrong tokens refused everywhere, /metrics
# accepted by `promtool check metrics`, /healthz, and the dashboard opened in headless
# Chromium (playwright-core), which must show the clients, their messages, and disconnect one;
# its screenshot is kept in the build tree (peers/pool_admin/dashboard.png).
#
# Needs PIER_EXAMPLES_DIR. Exit 0 = pass, 77 = skipped (not built / a tool missing).
#
# pier-test: timeout=180
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

need_example ws_pool
for tool in curl promtool node; do
    command -v "$tool" >/dev/null || { echo "skip: $tool not installed (tools/setup.sh)"; exit 77; }
done
py="${PIER_PYTHON3:-/usr/bin/python3}"
"$py" -c "import websockets" 2>/dev/null || { echo "skip: python3-websockets missing"; exit 77; }

peer_begin pool_admin
secret="$(printf 's%.0s' $(seq 40))"
admin="admin-$RANDOM-$RANDOM"
start_example pool ws_pool --threads 2 --secret "$secret" --admin-token "$admin" \
    --heartbeat-ms 1000
base="http://127.0.0.1:$pool_port"
echo "# ws_pool on $pool_port"

# --- clients -----------------------------------------------------------------------------------
mkfifo "$work/clients.in"
"$py" "$here/lib/pool_clients.py" "$pool_port" "$secret" --clients 300 --users 50 --topics 10 \
    <"$work/clients.in" >"$work/clients.out" 2>"$work/clients.err" &
clients_pid=$!
register_pid "$clients_pid"
exec {clients_in}>"$work/clients.in"
check "300 clients connected and welcomed" wait_for_line "$work/clients.out" '^ready 300$' 60

c() { curl -sS --max-time 10 "$@"; }
j() { "$py" -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
auth=(-H "Authorization: Bearer $admin")

# --- stats ---------------------------------------------------------------------------------------
stats="$(c "${auth[@]}" "$base/api/admin/websockets/stats")"
check "stats: active_connections 300" test "$(j "d['active_connections']" <<<"$stats")" = 300
check "stats: users 50" test "$(j "d['users']" <<<"$stats")" = 50
check "stats: topics t0..t9 with 30 each" test "$(j "sorted(d['topics'].items())==[('t%d'%i,30) for i in range(10)]" <<<"$stats")" = True
check "stats: states, cleanup and limits present" test "$(j "all(k in d for k in ['states','cleanup','limits','total_connections','messages_sent','messages_failed','messages_received'])" <<<"$stats")" = True
check "stats: open 300" test "$(j "d['states']['open']" <<<"$stats")" = 300

# --- listing ------------------------------------------------------------------------------------
list="$(c "${auth[@]}" "$base/api/admin/websockets/connections")"
check "connections: total 300, a first page of 100" test "$(j "(d['total'],len(d['connections']))" <<<"$list")" = "(300, 100)"
check "connections: the entry's fields" test "$(j "sorted(d['connections'][0].keys())" <<<"$list")" = "['connected_at', 'connection_id', 'errors', 'last_activity', 'messages_received', 'messages_sent', 'metadata', 'remote_address', 'state', 'topics', 'user_id']"
list="$(c "${auth[@]}" "$base/api/admin/websockets/connections?user_id=u7&limit=1000")"
check "connections?user_id=u7: 6" test "$(j "d['total']" <<<"$list")" = 6
id7="$(j "d['connections'][0]['connection_id']" <<<"$list")"
list="$(c "${auth[@]}" "$base/api/admin/websockets/connections?topic=t3&state=open&limit=5&offset=25")"
check "connections?topic=t3 paged" test "$(j "(d['total'],len(d['connections']))" <<<"$list")" = "(30, 5)"
id="$(j "d['connections'][0]['connection_id']" <<<"$list")"
one="$(c "${auth[@]}" "$base/api/admin/websockets/connections/$id")"
check "connections/{id}" test "$(j "d['connection_id']" <<<"$one")" = "$id"
code="$(c -o /dev/null -w '%{http_code}' "${auth[@]}" "$base/api/admin/websockets/connections/0000000000000000")"
check "connections/{unknown id}: 404" test "$code" = 404
code="$(c -o /dev/null -w '%{http_code}' "${auth[@]}" "$base/api/admin/websockets/connections?limit=5000")"
check "limit over 1000: 400" test "$code" = 400

# --- wrong tokens, everywhere ------------------------------------------------------------------
for ep in "GET /api/admin/websockets/stats" "GET /api/admin/websockets/connections" \
    "GET /api/admin/websockets/connections/$id" "POST /api/admin/websockets/disconnect" \
    "POST /api/admin/websockets/cleanup" "POST /api/admin/websockets/broadcast" "GET /metrics"; do
    read -r m p <<<"$ep"
    for t in "" "Bearer wrong" "Bearer ${admin}x" "Basic $admin"; do
        h=()
        [[ -n $t ]] && h=(-H "Authorization: $t")
        code="$(c -o /dev/null -w '%{http_code}' -X "$m" "${h[@]}" "$base$p")"
        [[ $code == 401 ]] || fail "$m $p with '${t:0:12}…' gave $code, not 401"
    done
done
pass "every admin path refuses missing and wrong tokens with 401"

# --- broadcast, disconnect, cleanup -------------------------------------------------------------
out="$(c "${auth[@]}" -H 'Content-Type: application/json' -d '{"topic":"t1","message_type":"notice","data":{"n":1}}' "$base/api/admin/websockets/broadcast")"
check "broadcast to t1: delivered 30" test "$out" = '{"delivered":30}'
out="$(c "${auth[@]}" -H 'Content-Type: application/json' -d '{"user_id":"u2","message_type":"data","data":"hi"}' "$base/api/admin/websockets/broadcast")"
check "broadcast to user u2: delivered 6" test "$out" = '{"delivered":6}'
out="$(c "${auth[@]}" -H 'Content-Type: application/json' -d '{"user_id":"u3","reason":"maintenance"}' "$base/api/admin/websockets/disconnect")"
check "disconnect user u3: 6" test "$out" = '{"disconnected":6}'
out="$(c "${auth[@]}" -H 'Content-Type: application/json' -d "{\"connection_ids\":[\"$id7\"],\"reason\":\"one\"}" "$base/api/admin/websockets/disconnect")"
check "disconnect by id: 1" test "$out" = '{"disconnected":1}'
out="$(c "${auth[@]}" -X POST "$base/api/admin/websockets/cleanup")"
check "cleanup: nothing stale" test "$out" = '{"removed":0}'
code="$(c -o "$work/bad.json" -w '%{http_code}' "${auth[@]}" -d '{"user_id":"u1","colour":1}' "$base/api/admin/websockets/disconnect")"
check "an unknown field: 400 unknown_field" test "$code $(j "d['error']" <"$work/bad.json")" = "400 unknown_field"
code="$(c -o "$work/bad.json" -w '%{http_code}' "${auth[@]}" -d '{"user_id":' "$base/api/admin/websockets/disconnect")"
check "malformed JSON: 400 malformed_json" test "$code $(j "d['error']" <"$work/bad.json")" = "400 malformed_json"
code="$(c -o "$work/bad.json" -w '%{http_code}' "${auth[@]}" -d '{"topic":5}' "$base/api/admin/websockets/broadcast")"
check "a wrong type: 400 bad_field_type" test "$code $(j "d['error']" <"$work/bad.json")" = "400 bad_field_type"

# --- metrics and health ----------------------------------------------------------------------------
c "${auth[@]}" -D "$work/metrics.head" "$base/metrics" >"$work/metrics.txt"
check "/metrics: text format 0.0.4" grep -qi '^content-type: text/plain; version=0.0.4' "$work/metrics.head"
promtool check metrics <"$work/metrics.txt" >"$work/promtool.out" 2>&1
rc=$?
check "promtool check metrics accepts /metrics (rc $rc)" test "$rc" -eq 0 -a ! -s "$work/promtool.out"
check "/metrics counts the connections" grep -q '^pier_ws_connections 29[0-9]$' "$work/metrics.txt"
check "/healthz needs no token" test "$(c "$base/healthz")" = '{"status":"ok"}'

# --- the dashboard in Chromium ------------------------------------------------------------------
tok="$("$py" -c "import sys; sys.path.insert(0,'$here/lib'); import pool_clients as p; print(p.token('$secret','dash'))" 2>/dev/null)"
if [[ -z $tok ]]; then
    tok="$("$py" - "$secret" <<'PY'
import base64,hashlib,hmac,json,sys,time
b=lambda x: base64.urlsafe_b64encode(x).rstrip(b"=").decode()
h=b(json.dumps({"alg":"HS256","typ":"JWT"}).encode()); p=b(json.dumps({"sub":"dash","exp":int(time.time())+3600}).encode())
print(f"{h}.{p}."+b(hmac.new(sys.argv[1].encode(),f"{h}.{p}".encode(),hashlib.sha256).digest()))
PY
)"
fi
shot_dir="${PIER_BUILD_DIR:-$work}/peers/pool_admin"
mkdir -p "$shot_dir"
export NODE_PATH="${NODE_PATH:-$here/node_modules}"
node "$here/pool_dashboard.js" "$base" "$admin" "$shot_dir/dashboard.png" \
    --ws-url "ws://127.0.0.1:$pool_port/ws?token=$tok" --clients 3 --timeout 30 \
    >"$work/dashboard.out" 2>&1
rc=$?
if [[ $rc == 77 ]]; then
    echo "# dashboard: skipped ($(tail -1 "$work/dashboard.out"))"
else
    check "dashboard in Chromium: numbers change, a disconnect works (rc $rc)" test "$rc" -eq 0
    check "dashboard screenshot kept" test -s "$shot_dir/dashboard.png"
    [[ $rc == 0 ]] || sed 's/^/#   /' "$work/dashboard.out" | tail -20
fi

# --- the end --------------------------------------------------------------------------------------
exec {clients_in}>&-
wait_for_line "$work/clients.out" '^received [0-9]+$' 30
check "the clients got the broadcasts (36 at least)" test "$(sed -n 's/^received //p' "$work/clients.out")" -ge 36
stop_example pool
check "no token in the log" bash -c '! grep -qF "$0" "$1"' "$tok" "$work/pool.err"
check "the log is JSON lines with ids" grep -q '"event":"ws.open".*"connection_id"' "$work/pool.err"
peer_end "$work/pool.err" "$work/clients.err"
