#!/bin/sh
# make-ca.sh - create a throw-away test CA and a server certificate for loopback
#
# Usage: make-ca.sh DIR
#
# Writes into DIR (created if missing):
#   ca.key, ca.pem          the test CA (RSA 2048, 2 days)
#   server.key, server.pem  a server certificate signed by it, valid for
#                           IP:127.0.0.1 and DNS:localhost
# Keys are mode 0600, certificates 0644. Used by the mock identity platform
# and the receiving Postfix in the integration tests; never trusted anywhere
# but in those tests (by explicit CA-file settings).
set -eu

if [ $# -ne 1 ]; then
    echo "usage: $0 DIR" >&2
    exit 2
fi
dir=$1
mkdir -p "$dir"
umask 077

openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 2 \
    -subj "/O=oauth2-token-helper tests/CN=Test CA" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null

openssl req -newkey rsa:2048 -nodes -sha256 \
    -subj "/O=oauth2-token-helper tests/CN=localhost" \
    -keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null

cat >"$dir/server.ext" <<'EOF'
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1,DNS:localhost
EOF

openssl x509 -req -sha256 -days 2 -in "$dir/server.csr" \
    -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial \
    -extfile "$dir/server.ext" -out "$dir/server.pem" 2>/dev/null

rm -f "$dir/server.csr" "$dir/server.ext" "$dir/ca.srl"
chmod 0644 "$dir/ca.pem" "$dir/server.pem"
chmod 0600 "$dir/ca.key" "$dir/server.key"
