#!/usr/bin/env bash
# compose.yaml under podman and podman-compose, run for real: the same stand-in base images
# as tests/packaging/docker.sh (debootstrap | import; no registry is reachable here), the
# image built from the unmodified Dockerfile, compose.yaml brought up unchanged, the client's
# delegated handshake and CoAP GET checked, a ping to a mote, and everything torn down.
#
# Opt-in, not run by CI: podman-compose comes from PyPI (`pip install podman-compose`; checked
# with 1.6.0; Debian 12's 1.0.3 takes no sysctls map and no network_mode "service:..."), and
# podman cannot reuse the docker test's build cache, so this is a second in-container release
# build (39 min on a 2-core machine under load 12 to 15; up to the client's exit 21 s).
# Needs root, podman with runc (Debian's podman, runc, and the dnsname CNI plugin
# golang-github-containernetworking-plugin-dnsname), podman-compose on PATH, debootstrap and
# network access to Debian's archive and the crate registry. Images live in podman's own
# storage, apart from the docker test's data root; the build's intermediate images it leaves
# untagged are removed at the end (only those this run made). Prints how long each part took.
set -euo pipefail
cd "$(dirname "$0")/../.."
CACHE=${LOWPAN_PACKAGING_CACHE:-/var/cache/lowpan-br-packaging}
PROJECT=lowpan-podman-test
PODMAN=podman
T0=$(date +%s)
step() { echo "== [$(($(date +%s) - T0)) s] $*"; }

[ "$(id -u)" = 0 ] || { echo "packaging/podman.sh: needs root"; exit 1; }
command -v podman-compose >/dev/null || { echo "packaging/podman.sh: podman-compose not on PATH"; exit 1; }
step "$($PODMAN --version), $(podman-compose --version 2>/dev/null | grep -i podman-compose | head -1)"

cleanup() {
  if [ -n "${COMPOSE_UP:-}" ]; then
    podman-compose -p "$PROJECT" down -v >/dev/null 2>&1 || true
  fi
  rm -rf "${WORK:-/nonexistent}"
}
trap cleanup EXIT
WORK=$(mktemp -d)

# Podman asks the kernel for its default rlimits (nofile and nproc at 1048576), which
# sandboxed hosts such as this one refuse ("error setting rlimit type 7"); compose.yaml sets
# none, so give podman defaults any host allows. An operator's own CONTAINERS_CONF wins.
if [ -z "${CONTAINERS_CONF:-}" ]; then
  cat >"$WORK/containers.conf" <<'CONF'
[containers]
default_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]
CONF
  export CONTAINERS_CONF=$WORK/containers.conf
fi

rootfs() {
  local name=$1 include=$2
  if [ ! -e "$CACHE/$name/.done" ]; then
    step "debootstrap $name"
    rm -rf "${CACHE:?}/$name"
    mkdir -p "$CACHE"
    debootstrap --variant=minbase ${include:+--include="$include"} bookworm "$CACHE/$name" \
      >"$WORK/debootstrap-$name.log" 2>&1 \
      || { tail -20 "$WORK/debootstrap-$name.log"; exit 1; }
    rm -rf "$CACHE/$name"/var/cache/apt/archives/*.deb "$CACHE/$name"/var/lib/apt/lists/*
    touch "$CACHE/$name/.done"
  fi
}

# Stand-ins under the names the Dockerfile's short FROM names resolve to.
if ! $PODMAN image exists docker.io/library/debian:bookworm-slim; then
  rootfs slim ""
  step "importing the debian:bookworm-slim stand-in"
  tar -C "$CACHE/slim" --exclude=./.done -c . |
    $PODMAN import --change 'CMD ["bash"]' - docker.io/library/debian:bookworm-slim >/dev/null
fi
if ! $PODMAN image exists docker.io/library/rust:1.95-bookworm; then
  rootfs rust-build "build-essential,ca-certificates,pkg-config"
  sysroot=$(rustc --print sysroot)
  step "making the rust:1.95-bookworm stand-in (toolchain from $sysroot)"
  tar -C "$CACHE/rust-build" --exclude=./.done -c . |
    $PODMAN import - localhost/lowpan-standin/rust-base:bookworm >/dev/null
  ctx=$WORK/rust-image
  mkdir -p "$ctx"
  cp -a "$sysroot" "$ctx/rust"
  rm -rf "$ctx/rust/share/doc"
  cp /etc/ssl/certs/ca-certificates.crt "$ctx/ca-certificates.crt"
  cat >"$ctx/Dockerfile" <<'DOCKERFILE'
FROM localhost/lowpan-standin/rust-base:bookworm
COPY rust /usr/local/rust
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
ENV CARGO_HOME=/usr/local/cargo \
    PATH=/usr/local/cargo/bin:/usr/local/rust/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
CMD ["bash"]
DOCKERFILE
  $PODMAN build --pull=never -q -t docker.io/library/rust:1.95-bookworm "$ctx" >/dev/null
  rm -rf "$ctx"
fi

step "podman-compose build (the unmodified Dockerfile)"
t=$(date +%s)
dangling() { $PODMAN images -q --no-trunc --filter dangling=true | sort -u; }
dangling >"$WORK/dangling-before"
podman-compose -p "$PROJECT" --podman-build-args=--pull=never build >"$WORK/build.log" 2>&1 \
  || { tail -40 "$WORK/build.log"; exit 1; }
echo "   image built in $(($(date +%s) - t)) s"

step "podman-compose up"
COMPOSE_UP=1
timeout 300 podman-compose -p "$PROJECT" up -d >"$WORK/up.log" 2>&1 || { cat "$WORK/up.log"; exit 1; }
client=${PROJECT}_client_1
$PODMAN container exists "$client" || { cat "$WORK/up.log"; echo "no client container"; exit 1; }
rc=$(timeout 180 $PODMAN wait "$client" || echo timeout)
step "client exited: $rc"
$PODMAN logs "$client" 2>&1 | sed 's/^/   /'
if [ "$rc" != 0 ]; then
  for s in provision motesim lowpan-br iotssp; do
    echo "--- $s"; $PODMAN logs "${PROJECT}_${s}_1" 2>&1 | tail -30
  done
  exit 1
fi
$PODMAN logs "${PROJECT}_lowpan-br_1" >"$WORK/br.log" 2>&1
if grep -q $'\e\[' "$WORK/br.log"; then echo "lowpan-br logs carry colour codes"; exit 1; fi
grep -q "radio link up" "$WORK/br.log" || { cat "$WORK/br.log"; echo "lowpan-br never saw its radio"; exit 1; }
$PODMAN exec "${PROJECT}_lowpan-br_1" ping -6 -c 2 -W 5 fd00:aaaa::212:4b00:0:2 >/dev/null \
  || { echo "mote-2 does not answer ping"; exit 1; }

step "podman-compose down"
podman-compose -p "$PROJECT" down -v >/dev/null 2>&1
COMPOSE_UP=
# The build stage's image and a replaced lowpan-br:local are left untagged by each build.
made=$(dangling | comm -13 "$WORK/dangling-before" -)
if [ -n "$made" ]; then
  step "removing the $(echo "$made" | wc -l) untagged images this build left"
  # shellcheck disable=SC2086
  $PODMAN rmi $made >/dev/null
fi
step "podman packaging test passed"
