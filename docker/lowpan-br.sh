#!/bin/sh
# compose's lowpan-br service: the border router with the provisioned configuration. The
# compose network is IPv4-only (IPv6 container networks need daemon settings podman and
# docker spell differently), so the "Internet" side is a static IPv6 link on the same
# bridge: fd00:beef::1 here, the client is fd00:beef::2 and routes the mesh prefix via us.
set -eu
ip -6 addr add fd00:beef::1/64 dev eth0 nodad
exec lowpan-br --config /var/lib/lowpan/prov/lowpan-br.toml "$@"
