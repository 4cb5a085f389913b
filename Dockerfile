# syntax=docker/dockerfile:1
# One build, three images: `docker build --target api|worker|controller .`
# Dependencies are compiled in their own layer (cargo-chef), so a change to the project's
# code rebuilds only the project's crates.
#
# The base images are pinned by digest: the same Dockerfile builds the same images until a
# pin is moved on purpose. To move one, read the tag's current digest and replace it here:
#   docker buildx imagetools inspect rust:1.95-slim-bookworm   (or: crane digest ...)
#   docker buildx imagetools inspect gcr.io/distroless/cc-debian12:nonroot
# Both are Debian 12, so the binary links against the glibc it runs on.

FROM rust:1.95-slim-bookworm@sha256:d7482085ff5b415f84dba5647ae71606650bdef00db7aeb69f4b3d170c3e4082 AS chef
RUN cargo install cargo-chef --version 0.1.78 --locked
WORKDIR /src

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
COPY --from=planner /src/recipe.json recipe.json
# The build's settings (mimalloc's compile-time options) apply to the dependencies too.
COPY .cargo .cargo
RUN cargo chef cook --release --locked --recipe-path recipe.json --package orderflow
COPY . .
RUN cargo build --release --locked --package orderflow --bin orderflow \
    && install -D -m 0755 target/release/orderflow /out/orderflow

# Only the binary, on a runtime with glibc and CA certificates, as a non-root user.
FROM gcr.io/distroless/cc-debian12:nonroot@sha256:9dac0a79194e45a7da0158a9c6da57b217585af0786db3845d1f0ec1a0dd182f AS runtime
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.source="https://github.com/orderflow/orderflow" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.vendor="orderflow" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"
COPY --from=builder /out/orderflow /usr/local/bin/orderflow
ENV LOG_FORMAT=json
USER 65532:65532

FROM runtime AS api
LABEL org.opencontainers.image.title="orderflow-api" \
      org.opencontainers.image.description="orderflow HTTP API and outbox relay"
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/orderflow", "api"]

FROM runtime AS worker
LABEL org.opencontainers.image.title="orderflow-worker" \
      org.opencontainers.image.description="orderflow queue worker"
EXPOSE 9091
ENTRYPOINT ["/usr/local/bin/orderflow", "worker"]

FROM runtime AS controller
LABEL org.opencontainers.image.title="orderflow-controller" \
      org.opencontainers.image.description="orderflow controller: InventorySeed resources to seeding Jobs"
EXPOSE 8081
ENTRYPOINT ["/usr/local/bin/orderflow", "controller"]
