#!/usr/bin/env bash
# tests/peers/tls_openssl.sh: the tls_echo example against `openssl s_client`, a TLS client
# no one here wrote: TLS 1.3 and 1.2, SNI (exact, wildcard, unknown, none), ALPN (server
# preference, no overlap), plain HTTP and other plaintext on the TLS port, a stalled
# handshake, and a certificate reload by SIGHUP while a connection stays open.
#
# Needs PIER_EXAMPLES_DIR (the built examples) and PIER_SOURCE_DIR (for tools/make-cert.sh).
# Exit 0 = pass, 77 = skipped (example not built / openssl missing), else failure.
#
# pier-test: timeout=120
set -uo pipefail

examples="${PIER_EXAMPLES_DIR:-}"
source_dir="${PIER_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
server_bin="$examples/tls_echo"
[[ -n $examples && -x $server_bin ]] || { echo "skip: $server_bin not built"; exit 77; }
command -v openssl >/dev/null || { echo "skip: openssl not installed"; exit 77; }

work="$(mktemp -d "${PIER_TEST_TMPDIR:-${TMPDIR:-/tmp}}/tls_openssl.XXXXXX")"
server_pid=""
cleanup() {
    [[ -n $server_pid ]] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

failures=0
pass() { echo "ok   - $*"; }
fail() { echo "FAIL - $*"; failures=$((failures + 1)); }
check() { # check <description> <command...>: passes if the command succeeds
    local what="$1"; shift
    if "$@"; then pass "$what"; else fail "$what"; fi
}

cd "$work"
make_cert() { "$source_dir/tools/make-cert.sh" --cert "$1.pem" --key "$1.key" "${@:2}" >/dev/null; }
make_cert default localhost 127.0.0.1
make_cert api api.test
make_cert wild '*.wild.test'

: >server.out
"$server_bin" --port 0 --threads 2 --cert default.pem --key default.key \
    --sni api.test=api.pem:api.key --sni '*.wild.test=wild.pem:wild.key' \
    --alpn h2,http/1.1 --handshake-timeout-ms 1500 >server.out 2>server.err &
server_pid=$!
port=""
for _ in $(seq 100); do
    port="$(sed -n 's/^pier: listening on .*:\([0-9]*\)$/\1/p' server.out)"
    [[ -n $port ]] && break
    sleep 0.1
done
[[ -n $port ]] || { echo "FAIL - server did not start"; cat server.err; exit 1; }
echo "# tls_echo on port $port"

# How long s_client keeps the connection open after sending its line, for the echo to come
# back: sanitized servers (TSan above all, just after a certificate reload) need longer.
echo_wait=0.4
[[ -n ${PIER_SANITIZE:-} ]] && echo_wait=2
# s_client_full <args...>: connects, sends one line, prints the full summary and what came back.
s_client_full() {
    (printf 'ping-%s\n' "$$"; sleep "$echo_wait") |
        timeout 10 openssl s_client -connect "127.0.0.1:$port" "$@" 2>&1
}
# The same with the brief summary (which leaves out ALPN).
s_client() { s_client_full -brief "$@"; }
has() { grep -qF -- "$2" <<<"$1" || { echo "#   expected '$2' in:"; sed 's/^/#     /' <<<"$1"; return 1; }; }

# --- protocol versions ------------------------------------------------------------------
out="$(s_client -tls1_3 -servername localhost -CAfile default.pem -verify_return_error)"
check "TLS 1.3 handshake, verified" has "$out" "Protocol version: TLSv1.3"
check "TLS 1.3 verification OK" has "$out" "Verification: OK"
check "TLS 1.3 echo" has "$out" "ping-$$"
out="$(s_client -tls1_2 -servername localhost -CAfile default.pem -verify_return_error)"
check "TLS 1.2 handshake" has "$out" "Protocol version: TLSv1.2"
check "TLS 1.2 echo" has "$out" "ping-$$"
out="$(s_client -tls1_1 -servername localhost 2>&1)"
check "TLS 1.1 refused" bash -c '! grep -q "Protocol version: TLSv1.1" <<<"$0"' "$out"

# --- SNI ----------------------------------------------------------------------------------
out="$(s_client -servername api.test -CAfile api.pem -verify_return_error)"
check "SNI api.test gets its certificate" has "$out" "Peer certificate: CN = api.test"
check "SNI api.test echo" has "$out" "ping-$$"
out="$(s_client -servername x.wild.test -CAfile wild.pem -verify_return_error)"
check "SNI x.wild.test gets the wildcard certificate" has "$out" "Peer certificate: CN = *.wild.test"
out="$(s_client -servername unknown.test)"
check "unknown SNI name gets the default certificate" has "$out" "Peer certificate: CN = localhost"
check "unknown SNI name still echoes" has "$out" "ping-$$"
out="$(s_client -noservername)"
check "no SNI gets the default certificate" has "$out" "Peer certificate: CN = localhost"

# --- ALPN -------------------------------------------------------------------------------------
out="$(s_client_full -servername localhost -alpn http/1.1)"
check "ALPN http/1.1" has "$out" "ALPN protocol: http/1.1"
out="$(s_client_full -servername localhost -alpn http/1.1,h2)"
check "ALPN picks the server's preference (h2)" has "$out" "ALPN protocol: h2"
out="$(s_client_full -servername api.test -alpn http/1.1,h2)"
check "ALPN after an SNI switch of certificate" has "$out" "ALPN protocol: h2"
out="$(s_client -servername localhost -alpn spdy/3)"
check "ALPN without overlap is refused" has "$out" "no application protocol"

# --- plaintext on the TLS port ----------------------------------------------------------------
plain_answer() { # sends $1 over plain TCP, prints the answer (bounded)
    timeout 5 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"; printf "%b" "$2" >&3; cat <&3' _ "$port" "$1"
}
start=$(date +%s%N)
out="$(plain_answer 'GET / HTTP/1.1\r\nHost: localhost\r\n\r\n')"
elapsed=$((($(date +%s%N) - start) / 1000000))
check "plain HTTP gets 400" has "$out" "HTTP/1.1 400 Bad Request"
check "plain HTTP is answered at once (${elapsed} ms)" test "$elapsed" -lt 1000
start=$(date +%s%N)
plain_answer 'SSH-2.0-OpenSSH_9.2\r\n' >/dev/null
elapsed=$((($(date +%s%N) - start) / 1000000))
check "other plaintext is closed long before the deadline (${elapsed} ms)" test "$elapsed" -lt 1000

# --- a handshake that stalls ------------------------------------------------------------------
start=$(date +%s%N)
timeout 5 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"; cat <&3' _ "$port" >/dev/null
rc=$?
elapsed=$((($(date +%s%N) - start) / 1000000))
check "silent client closed by the server (rc $rc)" test "$rc" -eq 0
# Deadline 1500 ms, swept every 250 ms (timeouts.resolution): closed within 1500–1750 ms.
check "silent client closed after ~1.5 s (${elapsed} ms)" test "$elapsed" -ge 1400 -a "$elapsed" -lt 3000
sleep 0.2
check "server reports the timeout" grep -q "handshake timeout" server.err
check "server reports the plain HTTP request" grep -q "http request" server.err

# --- reload by SIGHUP with a connection open ----------------------------------------------------
coproc old { timeout 30 openssl s_client -connect "127.0.0.1:$port" -servername localhost -quiet 2>/dev/null; }
echo "before" >&"${old[1]}"
line=""; read -r -t 5 line <&"${old[0]}"
check "long-lived connection echoes before the reload" test "$line" = "before"

make_cert renewed localhost 127.0.0.1
cp renewed.pem default.pem
cp renewed.key default.key
kill -HUP "$server_pid"
for _ in $(seq 50); do grep -q "pier: certificates reloaded" server.out && break; sleep 0.1; done
check "SIGHUP reloads" grep -q "pier: certificates reloaded" server.out

echo "after" >&"${old[1]}"
line=""; read -r -t 5 line <&"${old[0]}"
check "long-lived connection still echoes after the reload" test "$line" = "after"
out="$(s_client -servername localhost -CAfile renewed.pem -verify_return_error)"
check "new connections get the renewed certificate" has "$out" "Verification: OK"
check "renewed certificate echo" has "$out" "ping-$$"

echo "garbage" >default.key
kill -HUP "$server_pid"
for _ in $(seq 50); do grep -q "pier: certificate reload failed" server.out && break; sleep 0.1; done
check "a broken key is refused" grep -q "pier: certificate reload failed" server.out
out="$(s_client -servername localhost -CAfile renewed.pem -verify_return_error)"
check "the renewed certificate stays after a failed reload" has "$out" "Verification: OK"
echo "last" >&"${old[1]}"
line=""; read -r -t 5 line <&"${old[0]}"
check "long-lived connection survives both reloads" test "$line" = "last"
exec {old[1]}>&-

# --- clean stop -----------------------------------------------------------------------------
kill -TERM "$server_pid"
rc=0
timeout 15 tail --pid="$server_pid" -f /dev/null || rc=$?
wait "$server_pid"; exit_code=$?
server_pid=""
check "SIGTERM stops the server with exit code 0 (got $exit_code)" test "$exit_code" -eq 0 -a "$rc" -eq 0

if [[ $failures -gt 0 ]]; then
    echo "# $failures failure(s); server stderr:"
    sed 's/^/#   /' server.err | tail -20
    exit 1
fi
echo "# all passed"
