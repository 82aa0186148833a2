#!/usr/bin/env bash
# tools/make-cert.sh: makes a self-signed certificate and its key, for trying pier's TLS
# examples (and for the TLS tests). Never use it for anything facing the internet.
#
#   tools/make-cert.sh [--cert FILE] [--key FILE] [--days N] [--type ec|rsa] [NAME...]
#
#   NAME...      host names and IP addresses the certificate is valid for (subjectAltName);
#                the first is also the subject CN. Default: localhost 127.0.0.1 ::1.
#                "*.example.test" makes a wildcard name.
#   --cert FILE  where the certificate goes (PEM; default ./cert.pem)
#   --key FILE   where the private key goes (PEM, unencrypted, mode 600; default ./key.pem)
#   --days N     validity (default 30)
#   --type T     ec (P-256, default: fast handshakes) or rsa (2048 bits)
#
# Then, for example:
#   build/default/examples/tls_http_hello --cert cert.pem --key key.pem --port 8443 &
#   curl --cacert cert.pem https://localhost:8443/
#   openssl s_client -connect 127.0.0.1:8443 -servername localhost -CAfile cert.pem
set -euo pipefail

cert=cert.pem
key=key.pem
days=30
type=ec
names=()
while [[ $# -gt 0 ]]; do
    case "$1" in
    --cert) cert="${2:?--cert needs a file}"; shift 2 ;;
    --key) key="${2:?--key needs a file}"; shift 2 ;;
    --days) days="${2:?--days needs a number}"; shift 2 ;;
    --type) type="${2:?--type needs ec or rsa}"; shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    --*) echo "make-cert.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) names+=("$1"); shift ;;
    esac
done
[[ ${#names[@]} -gt 0 ]] || names=(localhost 127.0.0.1 ::1)

if ! command -v openssl >/dev/null 2>&1; then
    echo "make-cert.sh: installing openssl" >&2
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl >/dev/null 2>&1; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl >/dev/null
    fi
fi

case "$type" in
ec) keyopts=(-newkey ec -pkeyopt ec_paramgen_curve:P-256) ;;
rsa) keyopts=(-newkey rsa:2048) ;;
*) echo "make-cert.sh: --type must be ec or rsa" >&2; exit 2 ;;
esac

san=""
for n in "${names[@]}"; do
    if [[ $n =~ ^[0-9.]+$ || $n == *:* ]]; then entry="IP:$n"; else entry="DNS:$n"; fi
    san="${san:+$san,}$entry"
done

umask 077
openssl req -x509 "${keyopts[@]}" -nodes -sha256 -days "$days" \
    -subj "/CN=${names[0]}" -addext "subjectAltName=$san" \
    -keyout "$key" -out "$cert" 2>/dev/null
chmod 644 "$cert"
echo "make-cert.sh: wrote $cert and $key for ${names[*]}"
