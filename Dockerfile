# entrastream container image: built with the default features (TLS, SASL PLAIN/SCRAM/OAUTHBEARER,
# zstd; Kerberos and OIDC are the cargo features `kerberos` and `oidc`).
# Not built in this repository's CI (no container engine there); see helm/entrastream/README.md.
#   docker build -t ghcr.io/entrastream/entrastream:0.1.0 .

FROM rust:1-bookworm AS build
WORKDIR /src
RUN apt-get update && apt-get install -y --no-install-recommends libssl-dev zlib1g-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY schemas ./schemas
COPY benches ./benches
RUN cargo build --release --locked --bin entrastream \
    && cp target/release/entrastream /entrastream

# Debian 12 slim: glibc, zlib and OpenSSL 3 (with its legacy provider, for old PFX files) as
# built against, CA certificates; no compiler, no package cache
FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates libssl3 \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /entrastream /usr/local/bin/entrastream
# non-root (the chart's pods run as 65532 with a read-only root filesystem)
USER 65532:65532
EXPOSE 9464
ENTRYPOINT ["/usr/local/bin/entrastream"]
CMD ["run", "--config", "/etc/entrastream/config/entrastream.yaml"]
