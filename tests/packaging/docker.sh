#!/usr/bin/env bash
# The container packaging, run for real: builds the image from the unmodified Dockerfile
# against locally made stand-ins of its base images (no registry is reachable here, Debian's
# archive is), brings up compose.yaml (provision, motesim, lowpan-br, iotssp, client), waits
# for the client's delegated handshake and CoAP answer, and tears everything down.
#
# Needs root, Debian's docker.io and docker-compose (installed when missing), debootstrap and
# network access to Debian's archive (debootstrap's default mirror) and the crate registry. Uses a running dockerd when
# `docker info` works, else starts one with its own data root and socket and stops it at the
# end. Base images are cached in that data root, so later runs only rebuild the image; what
# a build leaves untagged there (its build stage, about 2.4 GB with its layers, and the
# lowpan-br:local it replaced) is removed at the end: those images by their ids, nothing else.
# Prints how long each part took.
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO=$PWD
CACHE=${LOWPAN_PACKAGING_CACHE:-/var/cache/lowpan-br-packaging}
DATA_ROOT=${LOWPAN_DOCKER_DATA_ROOT:-/var/lib/docker-lowpan}
PROJECT=lowpan-packaging-test
# Debian's CLI, not whatever else is first on PATH.
DOCKER=/usr/bin/docker
T0=$(date +%s)
step() { echo "== [$(($(date +%s) - T0)) s] $*"; }

[ "$(id -u)" = 0 ] || { echo "packaging/docker.sh: needs root"; exit 1; }
export DEBIAN_FRONTEND=noninteractive
need=()
for pkg in docker.io docker-compose debootstrap; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ "${#need[@]}" -gt 0 ]; then
  step "installing ${need[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

DOCKERD_PID=
cleanup() {
  if [ -n "${COMPOSE_UP:-}" ]; then
    docker-compose -p "$PROJECT" down -v --remove-orphans >/dev/null 2>&1 || true
  fi
  if [ -n "$DOCKERD_PID" ]; then
    kill "$DOCKERD_PID" 2>/dev/null || true
    wait "$DOCKERD_PID" 2>/dev/null || true
  fi
  rm -rf "${WORK:-/nonexistent}"
}
trap cleanup EXIT
WORK=$(mktemp -d)

if ! "$DOCKER" info >/dev/null 2>&1; then
  step "starting dockerd (data root $DATA_ROOT)"
  mkdir -p "$DATA_ROOT"
  export DOCKER_HOST=unix:///run/docker-lowpan.sock
  dockerd --data-root "$DATA_ROOT" --exec-root /run/docker-lowpan --pidfile /run/docker-lowpan.pid \
    -H "$DOCKER_HOST" >"$WORK/dockerd.log" 2>&1 &
  DOCKERD_PID=$!
  for _ in $(seq 100); do "$DOCKER" info >/dev/null 2>&1 && break; sleep 0.3; done
  "$DOCKER" info >/dev/null 2>&1 || { cat "$WORK/dockerd.log"; echo "dockerd did not start"; exit 1; }
fi

# A Debian bookworm minbase tree, made once and kept in $CACHE.
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

if ! "$DOCKER" image inspect debian:bookworm-slim >/dev/null 2>&1; then
  rootfs slim ""
  step "importing the debian:bookworm-slim stand-in"
  tar -C "$CACHE/slim" --exclude=./.done -c . | "$DOCKER" import --change 'CMD ["bash"]' - debian:bookworm-slim >/dev/null
fi

if ! "$DOCKER" image inspect rust:1.95-bookworm >/dev/null 2>&1; then
  rootfs rust-build "build-essential,ca-certificates,pkg-config"
  # The machine's toolchain (the one `rustc` runs here) in the official image's places.
  sysroot=$(rustc --print sysroot)
  step "making the rust:1.95-bookworm stand-in (toolchain from $sysroot)"
  tar -C "$CACHE/rust-build" --exclude=./.done -c . |
    "$DOCKER" import - lowpan-standin/rust-base:bookworm >/dev/null
  ctx=$WORK/rust-image
  mkdir -p "$ctx"
  cp -a "$sysroot" "$ctx/rust"
  rm -rf "$ctx/rust/share/doc"
  # This machine reaches the crate registry through an egress proxy whose CA the host
  # trusts (update-ca-certificates); the official image carries the public CAs only.
  cp /etc/ssl/certs/ca-certificates.crt "$ctx/ca-certificates.crt"
  cat >"$ctx/Dockerfile" <<'DOCKERFILE'
FROM lowpan-standin/rust-base:bookworm
COPY rust /usr/local/rust
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
ENV CARGO_HOME=/usr/local/cargo \
    PATH=/usr/local/cargo/bin:/usr/local/rust/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
CMD ["bash"]
DOCKERFILE
  "$DOCKER" build -q -t rust:1.95-bookworm "$ctx" >/dev/null
  rm -rf "$ctx"
  echo "   stand-in: $("$DOCKER" run --rm rust:1.95-bookworm rustc --version)"
fi

step "building the image from the unmodified Dockerfile (compose's provision service)"
t=$(date +%s)
old_image=$("$DOCKER" image inspect -f '{{.Id}}' lowpan-br:local 2>/dev/null || true)
docker-compose -p "$PROJECT" build >"$WORK/build.log" 2>&1 || { tail -40 "$WORK/build.log"; exit 1; }
echo "   image built in $(($(date +%s) - t)) s"
# The build stage's image: the last " ---> <id>" the builder printed before the second FROM.
stage_image=$(awk '/^Step [0-9]+\/[0-9]+ : FROM / { froms++ } froms == 1 && /^ ---> [0-9a-f]+$/ { id = $2 } END { print id }' "$WORK/build.log")
# compose.yaml builds the image once: no other service may build.
[ "$(grep -c 'build:' compose.yaml)" = 1 ] || { echo "compose.yaml builds more than once"; exit 1; }

step "docker-compose up"
COMPOSE_UP=1
docker-compose -p "$PROJECT" up -d >"$WORK/up.log" 2>&1 || { cat "$WORK/up.log"; exit 1; }
client=$(docker-compose -p "$PROJECT" ps -q client)
[ -n "$client" ] || { cat "$WORK/up.log"; echo "no client container"; exit 1; }
rc=$(timeout 180 "$DOCKER" wait "$client" || echo timeout)
step "client exited: $rc"
docker-compose -p "$PROJECT" logs --no-color client | sed 's/^/   /'
if [ "$rc" != 0 ]; then
  docker-compose -p "$PROJECT" logs --no-color | tail -80
  exit 1
fi
# The border router's log, as `docker logs` shows it: no ANSI colour codes.
docker-compose -p "$PROJECT" logs --no-color lowpan-br >"$WORK/br.log"
if grep -q $'\e\[' "$WORK/br.log"; then echo "lowpan-br logs carry colour codes"; exit 1; fi
grep -q "radio link up" "$WORK/br.log" || { cat "$WORK/br.log"; echo "lowpan-br never saw its radio"; exit 1; }
br=$(docker-compose -p "$PROJECT" ps -q lowpan-br)
"$DOCKER" exec "$br" ping -6 -c 2 -W 5 fd00:aaaa::212:4b00:0:2 >/dev/null || { echo "mote-2 does not answer ping"; exit 1; }

step "docker-compose down"
docker-compose -p "$PROJECT" down -v --remove-orphans >/dev/null 2>&1
COMPOSE_UP=
# What this build left untagged; `rmi` takes their untagged layers with them and refuses
# (without -f) what a container still uses.
new_image=$("$DOCKER" image inspect -f '{{.Id}}' lowpan-br:local)
leftovers=$stage_image
[ -n "$old_image" ] && [ "$old_image" != "$new_image" ] && leftovers="$leftovers $old_image"
for image in $leftovers; do
  "$DOCKER" rmi "$image" >/dev/null 2>&1 && echo "   removed untagged image $image" \
    || echo "   kept image $image (in use or already gone)"
done
step "docker packaging test passed"
