#!/usr/bin/env bash
# Make the certificates the TLS tests and demos use, with the openssl CLI,
# into DIR (default target/certs); kept if already there.
#
#   ca.pem ca.key                   a test CA ("wsengine test CA")
#   server.pem server.key           localhost and 127.0.0.1, from the CA
#   server2.pem server2.key         the same names, another key (reload)
#   other.pem other.key             other.test only (name mismatch)
#   client.pem client.key           a client certificate ("alice"), from the CA
#   stranger-ca.pem                 a CA nobody trusts
#   stranger.pem stranger.key       localhost, from the stranger CA
#   stranger-client.pem/.key        a client certificate from the stranger CA
#
# All keys are ECDSA P-256 (PKCS#8 PEM). For tests only: the keys are not secret.
set -euo pipefail
DIR="${1:-target/certs}"
mkdir -p "$DIR"
cd "$DIR"
# Stages running side by side may ask at once: one makes them, the others wait.
exec 9>.lock
flock 9
[ -f stranger-client.pem ] && exit 0

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

ca() { # name cn
  key "$1.key"
  openssl req -x509 -new -key "$1.key" -out "$1.pem" -days 3650 -subj "/CN=$2" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
}

leaf() { # name ca cn san usage
  key "$1.key"
  openssl req -new -key "$1.key" -subj "/CN=$3" -out "$1.csr" 2>/dev/null
  printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=%s\n%s\n' \
    "$5" "$4" > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" -set_serial "0x$(openssl rand -hex 8)" \
    -days 365 -extfile "$1.ext" -out "$1.pem" 2>/dev/null
  rm -f "$1.csr" "$1.ext"
}

ca ca "wsengine test CA"
ca stranger-ca "stranger CA"
leaf server ca localhost "subjectAltName=DNS:localhost,IP:127.0.0.1" serverAuth
leaf server2 ca localhost "subjectAltName=DNS:localhost,IP:127.0.0.1" serverAuth
leaf other ca other.test "subjectAltName=DNS:other.test" serverAuth
leaf client ca alice "" clientAuth
leaf stranger stranger-ca localhost "subjectAltName=DNS:localhost,IP:127.0.0.1" serverAuth
leaf stranger-client stranger-ca mallory "" clientAuth
