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
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

need_example tls_echo
command -v openssl >/dev/null || { echo "skip: openssl not installed"; exit 77; }

peer_begin tls_openssl
cd "$work"
make_cert() { "$source_dir/tools/make-cert.sh" --cert "$1.pem" --key "$1.key" "${@:2}" >/dev/null; }
make_cert default localhost 127.0.0.1
make_cert api api.test
make_cert wild '*.wild.test'

start_example server tls_echo --threads 2 --cert default.pem --key default.key \
    --sni api.test=api.pem:api.key --sni '*.wild.test=wild.pem:wild.key' \
    --alpn h2,http/1.1 --handshake-timeout-ms 1500
port=$server_port
echo "# tls_echo on port $port"

# s_client_full <args...>: connects, sends one line, and prints the full summary and what came
# back. It keeps the connection open until the echo arrived or s_client ended by itself (a
# refused handshake), an event rather than a guess at how long a sanitized server needs.
s_client_full() {
    local out
    out="$(mktemp "$work/s_client.XXXXXX")"
    coproc sc { exec timeout 10 openssl s_client -connect "127.0.0.1:$port" "$@" >"$out" 2>&1; }
    local pid=$sc_PID in_fd=${sc[1]}
    printf 'ping-%s\n' "$$" >&"$in_fd"
    local deadline=$((SECONDS + 10))
    while kill -0 "$pid" 2>/dev/null && ! grep -q "^ping-$$" "$out"; do
        ((SECONDS < deadline)) || break
        sleep 0.02
    done
    exec {in_fd}>&- # end of input: s_client closes the connection
    wait "$pid" 2>/dev/null
    cat "$out"
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
check "server reports the timeout" wait_for_line server.err "handshake timeout"
check "server reports the plain HTTP request" wait_for_line server.err "http request"

# --- reload by SIGHUP with a connection open ----------------------------------------------------
coproc old { exec timeout 30 openssl s_client -connect "127.0.0.1:$port" -servername localhost -quiet 2>/dev/null; }
old_pid=$old_PID
register_pid "$old_pid"
echo "before" >&"${old[1]}"
line=""; read -r -t 5 line <&"${old[0]}"
check "long-lived connection echoes before the reload" test "$line" = "before"

make_cert renewed localhost 127.0.0.1
cp renewed.pem default.pem
cp renewed.key default.key
kill -HUP "$server_pid"
check "SIGHUP reloads" wait_for_line server.out "pier: certificates reloaded"

echo "after" >&"${old[1]}"
line=""; read -r -t 5 line <&"${old[0]}"
check "long-lived connection still echoes after the reload" test "$line" = "after"
out="$(s_client -servername localhost -CAfile renewed.pem -verify_return_error)"
check "new connections get the renewed certificate" has "$out" "Verification: OK"
check "renewed certificate echo" has "$out" "ping-$$"

echo "garbage" >default.key
kill -HUP "$server_pid"
check "a broken key is refused" wait_for_line server.out "pier: certificate reload failed"
out="$(s_client -servername localhost -CAfile renewed.pem -verify_return_error)"
check "the renewed certificate stays after a failed reload" has "$out" "Verification: OK"
echo "last" >&"${old[1]}"
line=""; read -r -t 5 line <&"${old[0]}"
check "long-lived connection survives both reloads" test "$line" = "last"
exec {old[1]}>&-
kill "$old_pid" 2>/dev/null # -quiet implies -ign_eof: it would wait for its timeout
wait "$old_pid" 2>/dev/null

# --- clean stop -----------------------------------------------------------------------------
stop_example server
peer_end server.err
