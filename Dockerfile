# limp-go in a container: a static binary on a distroless base, running as
# a non-root user, with its data in a volume. By default it builds and runs
# the example app (examples/blog); build another main with --build-arg
# APP=./path/to/main.
#
#   docker build -t limp-blog .
#   docker run -p 8081:8081 -v limp_data:/data \
#     -e BLOG_ADMIN_PASSWORD='a long secret' -e BLOG_ANON_TOKEN='another long secret' \
#     limp-blog
#
# The image runs --env prod, which refuses LIMP's default credentials. To try
# it with them: docker run -p 8081:8081 limp-blog --env dev
# Probes: GET /health (liveness), GET /ready (store reachable).
# Backup while serving: docker exec CONTAINER /app --backup /data/backup.db
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG APP=./examples/blog
# CGO_ENABLED=0: the embedded store is pure Go, so the binary is static.
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/app "$APP" && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/app /app
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
# Every interface of the container (the app otherwise keeps to loopback
# while default credentials are in use); the store in the volume.
ENV LISTEN=:8081 LIMP_DATA=/data/app.db
EXPOSE 8081
VOLUME ["/data"]
ENTRYPOINT ["/app"]
CMD ["--env", "prod"]
