# The serverless-wasm container image: the static (musl) binary on an empty
# base, running as a non-root user, its config and data directory volumes.
# No base image to pull: it builds offline. Build the binary first, on the
# host, then the image (docs/cluster.md):
#
#   cargo build --release --target x86_64-unknown-linux-musl
#   cp /etc/ssl/certs/ca-certificates.crt target/
#   docker build -t serverless-wasm .
#
# Run it with a config whose listen_address (and admin_address) is on
# 0.0.0.0, mounted at /config:
#
#   docker run -p 8080:8080 -v "$PWD/examples:/config:ro" serverless-wasm \
#       serve /config/config.toml --listen 0.0.0.0:8080 --data-dir /data
FROM scratch

# The CA roots https:// module sources and S3 are verified against (the
# binary reads the platform's store; scratch has none of its own).
COPY target/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
# A name for uid 65532, as distroless calls it.
COPY deploy/docker/passwd deploy/docker/group /etc/
# /data must exist, owned by that user, before a volume is mounted there.
COPY --chown=65532:65532 deploy/docker/data /data
COPY target/x86_64-unknown-linux-musl/release/serverless-wasm /serverless-wasm

USER 65532:65532
# The compile cache and the module cache live with the key-value store in
# /data: a node's only local state, rebuilt from S3 when lost.
ENV XDG_CACHE_HOME=/data/cache
VOLUME ["/config", "/data"]
EXPOSE 8080 9090
ENTRYPOINT ["/serverless-wasm"]
CMD ["serve", "/config/config.toml", "--data-dir", "/data"]
