# syntax=docker/dockerfile:1
# Build a static binary, run it as an unprivileged user in a distroless image.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
# The build context has no .git (.dockerignore): `make docker` passes the revision.
ARG REVISION=unknown
# TAGS=kubernetes adds the Kubernetes Lease coordination backend (a bigger binary).
ARG TAGS=""
RUN CGO_ENABLED=0 go build -trimpath -tags "${TAGS}" \
      -ldflags "-s -w -X github.com/revprober/revprober/internal/cli.Version=${VERSION} -X github.com/revprober/revprober/internal/cli.Revision=${REVISION}" \
      -o /out/revprober ./cmd/revprober

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/revprober /usr/local/bin/revprober
USER nonroot:nonroot
EXPOSE 9543
ENTRYPOINT ["/usr/local/bin/revprober"]
CMD ["run", "-c", "/etc/revprober/revprober.yml"]
