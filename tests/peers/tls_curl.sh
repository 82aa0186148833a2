#!/usr/bin/env bash
# tests/peers/tls_curl.sh: the tls_http_hello example against curl (its own TLS and HTTP/1.1
# stack): verified HTTPS requests with TLS 1.3 and 1.2, ALPN http/1.1, keep-alive reuse,
# HTTP/1.0 and Connection: close, SNI certificates, plain HTTP to the TLS port, a large body,
# and a certificate reload by SIGHUP.
#
# Needs PIER_EXAMPLES_DIR (the built examples) and PIER_SOURCE_DIR (for tools/make-cert.sh).
# Exit 0 = pass, 77 = skipped (example not built / curl or openssl missing), else failure.
#
# pier-test: timeout=120
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

need_example tls_http_hello
command -v curl >/dev/null || { echo "skip: curl not installed"; exit 77; }
command -v openssl >/dev/null || { echo "skip: openssl not installed"; exit 77; }

peer_begin tls_curl
cd "$work"
make_cert() { "$source_dir/tools/make-cert.sh" --cert "$1.pem" --key "$1.key" "${@:2}" >/dev/null; }
make_cert default localhost 127.0.0.1
make_cert api api.test

start_example server tls_http_hello --threads 2 --cert default.pem --key default.key \
    --sni api.test=api.pem:api.key --body-size 1024
port=$server_port
echo "# tls_http_hello on port $port"
url="https://localhost:$port/"
body="$(printf 'x%.0s' $(seq 1024))"
c() { curl -sS --max-time 10 "$@" 2>&1; }

# --- verified requests, both protocol versions ----------------------------------------------
out="$(c --cacert default.pem "$url")"
check "HTTPS GET returns the 1 kB body" test "$out" = "$body"
out="$(c --cacert default.pem -o /dev/null -w '%{http_code} %{http_version} %{ssl_verify_result}' "$url")"
check "200 over HTTP/1.1, certificate verified" test "$out" = "200 1.1 0"
out="$(c -v --cacert default.pem --tlsv1.3 -o /dev/null "$url")"
check "TLS 1.3" has "$out" "SSL connection using TLSv1.3"
check "ALPN http/1.1 accepted" has "$out" "ALPN: server accepted http/1.1"
out="$(c -v --cacert default.pem --tlsv1.2 --tls-max 1.2 -o /dev/null "$url")"
check "TLS 1.2" has "$out" "SSL connection using TLSv1.2"
out="$(c -v --cacert default.pem --http2 -o /dev/null "$url")"
check "a client offering h2 and http/1.1 gets http/1.1" has "$out" "ALPN: server accepted http/1.1"

# --- keep-alive and close --------------------------------------------------------------------
out="$(c -v --cacert default.pem -o /dev/null -o /dev/null "$url" "$url")"
check "keep-alive: the second request reuses the connection" has "$out" "Re-using existing connection"
out="$(c -v --cacert default.pem --http1.0 -o /dev/null "$url")"
check "HTTP/1.0 answered" has "$out" "HTTP/1.0 200"
check "HTTP/1.0: ALPN http/1.0 accepted" has "$out" "ALPN: server accepted http/1.0"
check "HTTP/1.0: the server closes after the reply" has "$out" "Closing connection"
out="$(c -v --cacert default.pem -H 'Connection: close' -o /dev/null "$url")"
check "Connection: close honoured" has "$out" "Connection: close"
out="$(c --cacert default.pem -o /dev/null -w '%{http_code}' -d 'some body' "$url")"
check "POST with a body" test "$out" = "200"

# --- SNI ---------------------------------------------------------------------------------------
out="$(c --cacert api.pem --resolve "api.test:$port:127.0.0.1" -o /dev/null -w '%{http_code}' "https://api.test:$port/")"
check "SNI api.test: its certificate verifies" test "$out" = "200"
out="$(c -v -k --resolve "unknown.test:$port:127.0.0.1" -o /dev/null "https://unknown.test:$port/")"
check "unknown SNI name gets the default certificate" has "$out" "subject: CN=localhost"
out="$(c --cacert default.pem --resolve "unknown.test:$port:127.0.0.1" -o /dev/null "https://unknown.test:$port/")"
check "... which curl rightly refuses for that name" has "$out" "no alternative certificate subject name matches"

# --- plain HTTP to the TLS port -------------------------------------------------------------
out="$(c "http://127.0.0.1:$port/")"
check "plain HTTP gets a 400 saying to use TLS" has "$out" "This port speaks HTTPS"
out="$(c -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/")"
check "... a complete, well-framed 400 ($out)" test "$out" = "400"

# --- reload by SIGHUP -------------------------------------------------------------------------
make_cert renewed localhost 127.0.0.1
cp renewed.pem default.pem
cp renewed.key default.key
kill -HUP "$server_pid"
check "SIGHUP reloads" wait_for_line server.out "pier: certificates reloaded"
out="$(c --cacert renewed.pem -o /dev/null -w '%{http_code}' "$url")"
check "new connections verify against the renewed certificate" test "$out" = "200"
out="$(c --cacert api.pem --resolve "api.test:$port:127.0.0.1" -o /dev/null -w '%{http_code}' "https://api.test:$port/")"
check "SNI certificates are reloaded too" test "$out" = "200"

stop_example server

# --- a larger body -----------------------------------------------------------------------------
start_example server2 tls_http_hello --threads 1 --cert renewed.pem --key renewed.key \
    --body-size 1000000
port=$server2_port
out="$(c --cacert renewed.pem -o body1.bin -o body2.bin -w '%{http_code} %{size_download};' \
    "https://localhost:$port/" "https://localhost:$port/")"
check "1 MB bodies, twice on one connection ($out)" test "$out" = "200 1000000;200 1000000;"
check "bodies intact" test "$(cat body1.bin body2.bin | tr -d x | wc -c)" -eq 0

stop_example server2
peer_end server.err server2.err
