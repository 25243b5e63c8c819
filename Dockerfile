# Builds the appliance's three programs and a small runtime image.
#   docker build -t lowpan-br .
#   docker compose up --build (compose.yaml: provision, motesim, lowpan-br, iotssp and an
#                             Internet client; no radio needed)
# The border router needs CAP_NET_ADMIN and /dev/net/tun in its container.

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p lowpan-br -p motesim -p ssp -p lowpan-provision \
 && install -D -m 0755 target/release/lowpan-br target/release/motesim target/release/iotssp \
      target/release/lowpan-provision -t /out/bin

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends iproute2 iputils-ping openssl ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/bin/ /usr/local/bin/
COPY docker/ /etc/lowpan/
# lowpan-br by default; compose overrides the command per service.
ENTRYPOINT ["/usr/local/bin/lowpan-br"]
CMD ["--config", "/etc/lowpan/lowpan-br.toml"]
