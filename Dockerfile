# The nas binary on Debian slim. Build context: the repository root (docker-compose.yml).
#
#   docker build -t nas .
#   docker run --rm -v $PWD/examples/docker/nas.yaml:/etc/nas/nas.yaml:ro nas
#
# Modems: run with --device /dev/ttyUSB0 (the nas user is in the dialout group).

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# Static, so that the runtime image needs no Go and no libc of a particular version.
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/nas ./cmd/nas

FROM debian:12-slim
RUN useradd --system --user-group --no-create-home --home-dir /var/spool/nas --groups dialout nas \
    && mkdir -p /var/spool/nas/acct /etc/nas \
    && chown -R nas:nas /var/spool/nas
COPY --from=build /out/nas /usr/local/bin/nas
COPY examples/nas.yaml /etc/nas/nas.yaml
USER nas
VOLUME ["/var/spool/nas"]
EXPOSE 3799/udp
ENTRYPOINT ["/usr/local/bin/nas"]
CMD ["serve", "--config", "/etc/nas/nas.yaml"]
