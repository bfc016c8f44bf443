# syntax=docker/dockerfile:1
# The Nacre image: the nacre binary (stripped release build) and the pinned nats-server that
# standalone mode supervises, on a distroless runtime (glibc, CA certificates, no shell), as a
# non-root user. Build from the repository root:
#   docker build -t nacre .                       (or `make image`)
# NATS_VERSION must equal the repository's NATS_VERSION file (tests/deploy.rs checks it);
# `make image` passes it from there.
ARG NATS_VERSION=2.15.1
ARG RUST_VERSION=1.95

# The official nats image carries the static nats-server binary at /nats-server.
FROM nats:${NATS_VERSION} AS nats

FROM rust:${RUST_VERSION}-bookworm AS build
# The commit `nacre --version` and nacre_build_info report (.git is not in the build context).
ARG NACRE_COMMIT=unknown
WORKDIR /src
COPY . .
# The registry and target caches survive between builds; the binary is copied out of the cache.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin nacre \
    && install -D -m 0755 target/release/nacre /out/usr/local/bin/nacre \
    && mkdir -p /out/var/lib/nacre /out/var/lib/nacre-identity /out/var/lib/nacre-backups

FROM gcr.io/distroless/cc-debian12:nonroot
ARG NATS_VERSION
LABEL org.opencontainers.image.title="nacre" \
      org.opencontainers.image.description="A service registry and config center speaking Nacos and Consul, on NATS JetStream" \
      org.opencontainers.image.licenses="Apache-2.0" \
      io.nats.server.version="${NATS_VERSION}"
COPY --from=nats /nats-server /usr/local/bin/nats-server
COPY --from=build /out/usr/local/bin/nacre /usr/local/bin/nacre
COPY conf/application.yml /etc/nacre/application.yml
# Nacre's directories, owned by the runtime user (distroless' nonroot, 65532): the data directory
# (standalone: the JetStream store at /var/lib/nacre/jetstream), and mount points for the
# identity marker and the backups, which deployments keep on mounts apart from the store.
COPY --from=build --chown=65532:65532 /out/var/lib/ /var/lib/
USER 65532:65532
VOLUME /var/lib/nacre
ENV NACRE_DATA_DIR=/var/lib/nacre \
    NACRE_SERVER_BIND=0.0.0.0 \
    NACRE_NATS_STANDALONE_BINARY=/usr/local/bin/nats-server \
    NACRE_LOG_FORMAT=json
# 8848 Nacos HTTP and the web console, 9848 Nacos gRPC, 8500 Consul HTTP.
EXPOSE 8848 9848 8500
# Ready once this node has caught up with the stream; `nacre probe [URL]` exits 0 only on a 200
# (on another port, override it: --health-cmd "nacre probe http://127.0.0.1:PORT/health/ready").
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
    CMD ["nacre", "probe"]
ENTRYPOINT ["nacre"]
CMD ["serve", "--config", "/etc/nacre/application.yml"]
