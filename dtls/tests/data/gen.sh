#!/bin/sh
# Regenerates the test PKI (P-256, SHA-256). Run from this folder: sh gen.sh
set -e
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key"; }
ca_ext="basicConstraints=critical,CA:TRUE
keyUsage=critical,keyCertSign,cRLSign
subjectKeyIdentifier=hash"
leaf_ext() { printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=%s\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n' "$1"; }

# Root CA and an intermediate CA.
key ca; openssl req -new -x509 -key ca.key -subj "/CN=Test Root CA" -days 7300 -sha256 -out ca.pem \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
key inter; openssl req -new -key inter.key -subj "/CN=Test Intermediate CA" -out inter.csr
echo "$ca_ext" > ca.ext; openssl x509 -req -in inter.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 7000 -sha256 -extfile ca.ext -out inter.pem

# Server (serverAuth), client (clientAuth) directly under the root, client2 under the intermediate.
key server; openssl req -new -key server.key -subj "/CN=mote.example" -out server.csr
leaf_ext serverAuth > server.ext; echo "subjectAltName=DNS:mote.example" >> server.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 7000 -sha256 -extfile server.ext -out server.pem
key client; openssl req -new -key client.key -subj "/CN=client.example" -out client.csr
leaf_ext clientAuth > client.ext
openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 7000 -sha256 -extfile client.ext -out client.pem
key client2; openssl req -new -key client2.key -subj "/CN=client2.example" -out client2.csr
openssl x509 -req -in client2.csr -CA inter.pem -CAkey inter.key -CAcreateserial -days 6900 -sha256 -extfile client.ext -out client2.pem
cat client2.pem inter.pem > client2-chain.pem

# A client certificate for serverAuth only (wrong purpose), and one from an untrusted CA.
key wrongeku; openssl req -new -key wrongeku.key -subj "/CN=wrongeku.example" -out wrongeku.csr
leaf_ext serverAuth > wrongeku.ext
openssl x509 -req -in wrongeku.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 7000 -sha256 -extfile wrongeku.ext -out wrongeku.pem
key rogueca; openssl req -new -x509 -key rogueca.key -subj "/CN=Rogue CA" -days 7300 -sha256 -out rogueca.pem \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign"
key rogue; openssl req -new -key rogue.key -subj "/CN=rogue.example" -out rogue.csr
openssl x509 -req -in rogue.csr -CA rogueca.pem -CAkey rogueca.key -CAcreateserial -days 7000 -sha256 -extfile client.ext -out rogue.pem

# CRLs (v2, with crlNumber and authorityKeyIdentifier, as webpki takes them): the root's
# revoking client.pem, the root's revoking nothing, the intermediate's revoking nothing.
crl() { # crl <ca> <out> [cert to revoke]
  d=$(mktemp -d); touch "$d/index.txt"; echo 1000 > "$d/crlnumber"
  printf '[ca]\ndefault_ca=c\n[c]\ndatabase=%s/index.txt\ncrlnumber=%s/crlnumber\ndefault_md=sha256\ndefault_crl_days=7000\ncrl_extensions=e\n[e]\nauthorityKeyIdentifier=keyid:always\n' "$d" "$d" > "$d/ca.cnf"
  [ -n "$3" ] && openssl ca -config "$d/ca.cnf" -keyfile "$1.key" -cert "$1.pem" -revoke "$3"
  openssl ca -config "$d/ca.cnf" -keyfile "$1.key" -cert "$1.pem" -gencrl -out "$2"
  rm -rf "$d"
}
crl ca ca-revokes-client.crl.pem client.pem
crl ca ca-empty.crl.pem
crl inter inter-empty.crl.pem

rm -f *.csr *.ext *.srl rogueca.key
