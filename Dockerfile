# roster node image: a static binary on an empty base (no registry is
# needed to build it). Build the context with scripts/docker-build.sh,
# which compiles the binary with CGO_ENABLED=0 and runs docker build.
FROM scratch
COPY roster /roster
# An empty directory owned by the non-root user, for the data volume.
COPY --chown=65532:65532 data /data
USER 65532:65532
ENV AXONIQ_AXONSERVER_CONTROLDB_PATH=/data
# HTTP (REST, health, metrics), client gRPC, internal (gossip UDP+TCP, internal gRPC).
EXPOSE 8024 8124 8224 8224/udp
VOLUME /data
ENTRYPOINT ["/roster"]
CMD ["server"]
