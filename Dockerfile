# keyward in a container: a static binary (musl) on an empty image, as a non-root user, its
# store in the volume /data.
#
#   docker build -t keyward .
#   docker run -p 8080:8080 -v keyward-data:/data -e KEYWARD_ADMIN_PASSWORD='a long password' keyward
#   docker run --rm keyward check --route /orders/=http://orders:9000   # check a configuration
#
# Settings are KEYWARD_* variables (or --config with a mounted file); docs/operations.md.
FROM rust:1-bookworm AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends musl-tools \
    && rm -rf /var/lib/apt/lists/* \
    && rustup target add x86_64-unknown-linux-musl
WORKDIR /src
COPY . .
RUN cargo build --release --locked --target x86_64-unknown-linux-musl -p keyward-cli \
    && install -D -m 0755 target/x86_64-unknown-linux-musl/release/keyward /out/keyward \
    && install -d -m 0700 /out/data

FROM scratch
COPY --from=build /out/keyward /keyward
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
ENV KEYWARD_LISTEN=0.0.0.0:8080 KEYWARD_DATA_DIR=/data HOME=/data
EXPOSE 8080
VOLUME ["/data"]
# The binary is its own probe: GET /healthz, non-zero on anything but 200.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s \
    CMD ["/keyward", "request", "GET", "http://127.0.0.1:8080/healthz"]
ENTRYPOINT ["/keyward"]
CMD ["serve"]
