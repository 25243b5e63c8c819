#!/bin/sh
# compose's client service: an unmodified OpenSSL DTLS 1.2 client on the "Internet" side
# does the handshake with the delegated mote-1 (run by the IoTSSP in the mote's name) and a
# CoAP GET /sensors/temp over the session, then exits 0 only if the mote answered 2.05.
set -eu
P=/var/lib/lowpan/prov
MOTE=fd00:aaaa::212:4b00:0:1
ip -6 addr add fd00:beef::2/64 dev eth0 nodad
ip -6 route add fd00:aaaa::/64 via fd00:beef::1
i=0
until ping -6 -c 1 -W 1 "$MOTE" >/dev/null 2>&1; do
  i=$((i + 1))
  [ "$i" -lt 60 ] || { echo "client: mote-1 does not answer ping"; exit 1; }
  sleep 1
done
echo "client: mote-1 answers ping"
# A confirmable CoAP GET /sensors/temp (message id 0x1234), octal escapes for any printf.
{ i=0
  while ! grep -q "CONNECTION ESTABLISHED" /tmp/s_client.err 2>/dev/null && [ "$i" -lt 400 ]; do
    i=$((i + 1)); sleep 0.1
  done
  printf '\100\001\022\064\267sensors\004temp'; sleep 3; } |
  timeout 60 openssl s_client -dtls1_2 -brief -connect "[$MOTE]:5684" \
    -cipher ECDHE-ECDSA-AES128-CCM8 -cert "$P/client.pem" -key "$P/client.key" -CAfile "$P/ca.pem" \
    >/tmp/coap.out 2>/tmp/s_client.err || true
cat /tmp/s_client.err
grep -q "CONNECTION ESTABLISHED" /tmp/s_client.err || { echo "client: no DTLS session"; exit 1; }
# The CoAP answer: code byte 0x45 (2.05 Content) after the version/type byte.
code=$(od -An -tx1 -j1 -N1 /tmp/coap.out | tr -d ' \n')
echo "client: CoAP answer code 0x${code:-none}: $(tr -c '[:print:]' '.' </tmp/coap.out)"
[ "$code" = 45 ] || { echo "client: no CoAP 2.05 answer"; exit 1; }
echo "client: delegated handshake and CoAP GET over DTLS done"
