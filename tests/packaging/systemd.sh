#!/usr/bin/env bash
# The systemd units, run for real: boots Debian bookworm under systemd-nspawn (its own
# network namespace, a throw-away copy of a cached debootstrap tree) with the workspace's
# binaries and systemd/*.service bound in, drives it with `nsenter ... systemctl` and checks:
#   - lowpan-br.service stays "activating" with STATUS=waiting for radio while its radio
#     (motesim, a unit of its own) is away, and becomes active once TUN and radio are up;
#   - a mote answers ping, and openssl s_client completes a delegated handshake and a CoAP
#     GET over DTLS through the unit (attached IoTSSP), then the same with iotssp.service
#     as the remote IoTSSP;
#   - kill -9 of the main process: systemd restarts it; SIGSTOP: the watchdog restarts it;
#   - `lowpan-br status` answers over /run/lowpan-br/control.sock (0600) with the radio up,
#     `systemctl reload` applies without dropping the radio; `iotssp status` shows the
#     transferred handshake and `systemctl reload iotssp` applies;
#   - stop: the TUN and its routes are gone;
#   - systemd-analyze verify prints nothing, systemd-analyze security stays under a ceiling.
# Needs root, debootstrap and systemd-container (installed when missing) and Debian's archive
# once (the tree is cached in $CACHE). Usage: systemd.sh BINDIR (with lowpan-br, motesim,
# iotssp and lowpan-provision). Prints how long each part took.
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO=$PWD
BIN=$(realpath "${1:?usage: systemd.sh BINDIR}")
CACHE=${LOWPAN_PACKAGING_CACHE:-/var/cache/lowpan-br-packaging}
ROOT=$CACHE/nspawn
# Ceilings for `systemd-analyze security` (0 = locked down, 10 = unprotected). What the units
# leave open is listed in each unit: lowpan-br must stay root in the host's network namespace
# with CAP_NET_ADMIN, /dev/net/tun, a serial device and netlink (2.1 with everything else
# shut); iotssp needs only its sockets (1.1). The ceilings leave 0.4 for systemd versions
# that weigh settings differently, and fail on any real loosening.
SECURITY_MAX_LOWPAN_BR=2.5
SECURITY_MAX_IOTSSP=1.5
T0=$(date +%s)
step() { echo "== [$(($(date +%s) - T0)) s] $*"; }
fail() { echo "FAIL: $*"; dump; exit 1; }

[ "$(id -u)" = 0 ] || { echo "packaging/systemd.sh: needs root"; exit 1; }
for b in lowpan-br motesim iotssp lowpan-provision; do
  [ -x "$BIN/$b" ] || { echo "no $BIN/$b: build the workspace's binaries first"; exit 1; }
done
export DEBIAN_FRONTEND=noninteractive
need=()
for pkg in debootstrap systemd-container; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ "${#need[@]}" -gt 0 ]; then
  step "installing ${need[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if [ ! -e "$ROOT/.done" ]; then
  step "debootstrap (cached in $ROOT for later runs)"
  rm -rf "$ROOT"
  mkdir -p "$CACHE"
  debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus,iproute2,iputils-ping,openssl \
    bookworm "$ROOT" >"$CACHE/debootstrap.log" 2>&1 \
    || { tail -20 "$CACHE/debootstrap.log"; exit 1; }
  rm -rf "$ROOT"/var/cache/apt/archives/*.deb
  touch "$ROOT/.done"
fi

WORK=$(mktemp -d)
NSPAWN_PID=
cleanup() {
  if [ -n "$NSPAWN_PID" ]; then
    kill "$NSPAWN_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$NSPAWN_PID" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$NSPAWN_PID" 2>/dev/null || true
    wait "$NSPAWN_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

step "booting the container"
binds=()
for b in lowpan-br motesim iotssp lowpan-provision; do binds+=("--bind-ro=$BIN/$b:/usr/bin/$b"); done
for u in lowpan-br iotssp; do binds+=("--bind-ro=$REPO/systemd/$u.service:/etc/systemd/system/$u.service"); done
SYSTEMD_LOG_COLOR=0 systemd-nspawn -q -b -D "$ROOT" --register=no --keep-unit --private-network --ephemeral \
  --bind=/dev/net/tun "${binds[@]}" >"$WORK/console.log" 2>&1 </dev/null &
NSPAWN_PID=$!
CPID=
for _ in $(seq 300); do
  CPID=$( (ps -o pid= --ppid "$NSPAWN_PID" || true) | tr -d ' ' | head -1)
  [ -n "$CPID" ] && [ "$(cat "/proc/$CPID/comm" 2>/dev/null)" = systemd ] && break
  CPID=
  sleep 0.1
done
[ -n "$CPID" ] || { cat "$WORK/console.log"; echo "the container's systemd did not start"; exit 1; }
ct() { nsenter -t "$CPID" -a "$@"; }
dump() {
  echo "--- journal (last 60 lines)"
  ct journalctl --no-pager -q -n 60 2>/dev/null || true
}
for _ in $(seq 150); do
  state=$(ct systemctl is-system-running 2>/dev/null || true)
  case $state in running|degraded) break ;; esac
  sleep 0.2
done
step "container up (systemd pid $CPID on the host, state $state)"

prop() { ct systemctl show -P "$2" "$1"; }
# wait_for SECONDS DESCRIPTION COMMAND...: polls COMMAND every 0.2 s.
wait_for() {
  local secs=$1 what=$2; shift 2
  local n=$((secs * 5))
  for _ in $(seq "$n"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  fail "timed out after ${secs} s waiting for $what"
}
is_active() { [ "$(prop "$1" ActiveState)" = active ]; }
# journal_has UNIT PATTERN (grep -c reads everything: no SIGPIPE under pipefail).
journal_has() { ct journalctl -q -o cat -u "$1" | grep -c -- "$2" >/dev/null; }

step "systemd-analyze verify and security"
for u in lowpan-br iotssp; do
  out=$(ct systemd-analyze verify "/etc/systemd/system/$u.service" 2>&1 || true)
  [ -z "$out" ] || fail "systemd-analyze verify $u.service: $out"
done
check_security() {
  local unit=$1 max=$2 score
  score=$(ct systemd-analyze security --offline=yes --no-pager "/etc/systemd/system/$unit.service" 2>&1 |
    sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
  [ -n "$score" ] || fail "no security score for $unit"
  echo "   $unit.service exposure $score (ceiling $max)"
  awk -v s="$score" -v m="$max" 'BEGIN { exit !(s <= m) }' || fail "$unit.service exposure $score above $max"
}
check_security lowpan-br "$SECURITY_MAX_LOWPAN_BR"
check_security iotssp "$SECURITY_MAX_IOTSSP"

step "provisioning inside the container (attached IoTSSP)"
ct lowpan-provision --out /etc/lowpan-br --force --kinds delegated,dcert,cdpsk --iotssp attached \
  --prefix fd00:aaaa::/64 --radio tcp:127.0.0.1:60001 >/dev/null
ct ip link set lo up

step "lowpan-br.service without its radio: activating, STATUS says why"
ct systemctl start --no-block lowpan-br
wait_for 20 "the TUN" ct ip link show lowpan0
wait_for 10 "a STATUS= line" sh -c "nsenter -t $CPID -a systemctl show -P StatusText lowpan-br | grep -q 'waiting for radio on tcp 127.0.0.1:60001'"
sleep 1
[ "$(prop lowpan-br ActiveState)" = activating ] || fail "lowpan-br is $(prop lowpan-br ActiveState) without its radio"
echo "   $(prop lowpan-br ActiveState): $(prop lowpan-br StatusText)"

step "the radio (motesim as a unit) comes: lowpan-br.service active"
t=$(date +%s%N)
ct systemd-run -q --unit=motesim /usr/bin/motesim --tcp-listen 127.0.0.1:60001 --config /etc/lowpan-br/motesim.toml
wait_for 30 "lowpan-br active" is_active lowpan-br
echo "   active $((($(date +%s%N) - t) / 1000000)) ms after the radio started: $(prop lowpan-br StatusText)"
# The journal gets plain lines: no colour codes.
if journal_has lowpan-br $'\e\['; then fail "colour codes in the journal"; fi

step "ping a mote"
wait_for 30 "mote-2 answering ping" ct ping -6 -c 1 -W 1 fd00:aaaa::212:4b00:0:2

step "lowpan-br status over its control socket; systemctl reload keeps the radio"
[ "$(ct stat -c %a /run/lowpan-br/control.sock)" = 600 ] || fail "control socket is not 0600"
ct lowpan-br status --json | grep -q '"link":"up"' || fail "lowpan-br status: radio not up: $(ct lowpan-br status 2>&1)"
ct systemctl reload lowpan-br
wait_for 10 "reload applied" journal_has lowpan-br "configuration reloaded"
ct lowpan-br status --json | grep -q '"connects":1,' || fail "the reload reconnected the radio: $(ct lowpan-br status 2>&1)"
ct ping -6 -c 1 -W 2 fd00:aaaa::212:4b00:0:2 >/dev/null || fail "no ping after the reload"

# An "Internet" host inside the container: a network namespace behind a veth, as in the demo.
ct ip netns add inet
ct ip link add v-inet netns inet type veth peer name v-br
ct ip -6 addr add fd00:beef::1/64 dev v-br nodad
ct ip link set v-br up
ct ip netns exec inet ip link set lo up
ct ip netns exec inet ip -6 addr add fd00:beef::2/64 dev v-inet nodad
ct ip netns exec inet ip link set v-inet up
ct ip netns exec inet ip -6 route add fd00:aaaa::/64 via fd00:beef::1
ct sh -c "echo 1 >/proc/sys/net/ipv6/conf/all/forwarding"

# delegated_get NAME: openssl s_client from the Internet host does the DTLS handshake with
# the delegated mote-1 (the IoTSSP runs it in the mote's name) and a CoAP GET over it.
delegated_get() {
  local name=$1 P=/etc/lowpan-br
  [ -n "${2:-}" ] && P=$2
  ct sh -c "{ i=0; while ! grep -q 'CONNECTION ESTABLISHED' /tmp/$name.err 2>/dev/null && [ \$i -lt 300 ]; do i=\$((i+1)); sleep 0.1; done;
      printf '\100\001\022\064\267sensors\004temp'; sleep 3; } |
    timeout 60 ip netns exec inet openssl s_client -dtls1_2 -brief -connect '[fd00:aaaa::212:4b00:0:1]:5684' \
      -cipher ECDHE-ECDSA-AES128-CCM8 -cert $P/client.pem -key $P/client.key -CAfile $P/ca.pem \
      >/tmp/$name.out 2>/tmp/$name.err; true"
  ct grep -q "CONNECTION ESTABLISHED" "/tmp/$name.err" || { ct cat "/tmp/$name.err"; fail "$name: no DTLS session"; }
  local code
  code=$(ct od -An -tx1 -j1 -N1 "/tmp/$name.out" | tr -d ' \n')
  [ "$code" = 45 ] || { ct cat "/tmp/$name.err"; fail "$name: no CoAP 2.05 answer (code '${code}')"; }
  echo "   $name: $(ct grep Ciphersuite "/tmp/$name.err"), CoAP 2.05: $(ct sh -c "tr -c '[:print:]' . </tmp/$name.out")"
}
step "delegated handshake and CoAP GET through lowpan-br.service (attached IoTSSP)"
delegated_get attached

step "kill -9 of the main process: restarted"
pid=$(prop lowpan-br MainPID)
ct sh -c "kill -9 $pid"
wait_for 30 "a new main process" sh -c "p=\$(nsenter -t $CPID -a systemctl show -P MainPID lowpan-br); [ \"\$p\" != 0 ] && [ \"\$p\" != $pid ]"
wait_for 30 "lowpan-br active again" is_active lowpan-br
echo "   main pid $pid -> $(prop lowpan-br MainPID), restarts $(prop lowpan-br NRestarts)"
wait_for 30 "mote-2 answering ping again" ct ping -6 -c 1 -W 1 fd00:aaaa::212:4b00:0:2

step "SIGSTOP (a hung main loop): the watchdog restarts it"
pid=$(prop lowpan-br MainPID)
restarts=$(prop lowpan-br NRestarts)
t=$(date +%s)
ct sh -c "kill -STOP $pid"
wait_for 60 "a restart after the watchdog" sh -c "p=\$(nsenter -t $CPID -a systemctl show -P MainPID lowpan-br); [ \"\$p\" != 0 ] && [ \"\$p\" != $pid ]"
wait_for 30 "lowpan-br active again" is_active lowpan-br
ct journalctl -q | grep -c "lowpan-br.service: Watchdog timeout" >/dev/null || fail "no watchdog timeout in the journal"
echo "   restarted after $(($(date +%s) - t)) s (WatchdogSec=$(prop lowpan-br WatchdogUSec)), restarts $restarts -> $(prop lowpan-br NRestarts)"

step "stop: the TUN and its routes are gone"
ct systemctl stop lowpan-br
[ "$(prop lowpan-br ActiveState)" = inactive ] || fail "lowpan-br is $(prop lowpan-br ActiveState) after stop"
if ct ip link show lowpan0 >/dev/null 2>&1; then fail "lowpan0 still there after stop"; fi
[ -z "$(ct ip -6 route show fd00:aaaa::/64)" ] || fail "route to fd00:aaaa::/64 still there after stop"
journal_has lowpan-br "final counters" || fail "no final counters logged on stop"

step "iotssp.service as the remote IoTSSP of lowpan-br.service"
ct useradd --system --no-create-home iotssp
ct lowpan-provision --out /etc/iotssp --force --kinds delegated,dcert,cdpsk --iotssp remote \
  --prefix fd00:aaaa::/64 --radio tcp:127.0.0.1:60001 >/dev/null
ct sh -c 'chown -R root:iotssp /etc/iotssp && chmod 0750 /etc/iotssp && chmod 0640 /etc/iotssp/*'
ct ln -sf /etc/iotssp/lowpan-br.toml /etc/lowpan-br/lowpan-br.toml
# The motes with this deployment's keys.
ct systemctl stop motesim
ct systemd-run -q --unit=motesim /usr/bin/motesim --tcp-listen 127.0.0.1:60001 --config /etc/iotssp/motesim.toml
ct systemctl start iotssp
is_active iotssp || fail "iotssp is $(prop iotssp ActiveState)"
echo "   iotssp: $(prop iotssp StatusText)"
ct systemctl start lowpan-br
is_active lowpan-br || fail "lowpan-br is $(prop lowpan-br ActiveState)"
wait_for 30 "mote-2 answering ping" ct ping -6 -c 1 -W 1 fd00:aaaa::212:4b00:0:2
delegated_get remote /etc/iotssp
ct iotssp status --json | grep -q '"outcome":"transferred"' || fail "iotssp status: no transferred handshake: $(ct iotssp status 2>&1)"
ct systemctl reload iotssp
wait_for 10 "iotssp reload applied" journal_has iotssp "configuration reloaded"
is_active iotssp || fail "iotssp is $(prop iotssp ActiveState) after reload"
if journal_has iotssp $'\e\['; then fail "colour codes in iotssp's journal"; fi

step "iotssp.service: kill -9 restarts it, stop is clean"
pid=$(prop iotssp MainPID)
ct sh -c "kill -9 $pid"
wait_for 30 "a new iotssp" sh -c "p=\$(nsenter -t $CPID -a systemctl show -P MainPID iotssp); [ \"\$p\" != 0 ] && [ \"\$p\" != $pid ]"
wait_for 30 "iotssp active again" is_active iotssp
ct systemctl stop iotssp lowpan-br
[ "$(prop iotssp ActiveState)" = inactive ] || fail "iotssp is $(prop iotssp ActiveState) after stop"
journal_has iotssp "iotssp stopping" || fail "iotssp logged no final counters"

step "systemd packaging test passed"
