# revprober — `make demo` and `make test` are all a fresh machine needs.
# Every tool a test needs (promtool, Prometheus, redis-server, Chromium,
# the real identity providers) is installed by the target that needs it.

GO       ?= go
BIN      := bin
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
# The revision from git, not from Go's VCS stamping, which a build
# environment may turn off (GOFLAGS=-buildvcs=false) or lack (no .git).
REVISION ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
LDFLAGS  := -s -w -X github.com/revprober/revprober/internal/cli.Version=$(VERSION) \
            -X github.com/revprober/revprober/internal/cli.Revision=$(REVISION)
SHELL    := /bin/bash
SUDO     := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT      := DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get
export CGO_ENABLED ?= 0

.PHONY: all build install test unit fuzz fuzz-smoke lint vet fmt-check demo bench bench-profile bench-scale tools-prometheus tools-redis tools-chromium tools-junitparser \
        test-rules test-e2e test-idps test-browser test-junit test-replicas test-kubernetes test-version docker clean apt-updated

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/revprober ./cmd/revprober

## install: revprober into $(go env GOBIN), or $(go env GOPATH)/bin (put it on your PATH)
install:
	$(GO) install -trimpath -ldflags '$(LDFLAGS)' ./cmd/revprober

## demo: probe the built-in Janssen-compatible simulator and serve metrics on 127.0.0.1:9543.
## The binary replaces the shell (exec): stopping make stops the demo (`go run` would leave it running).
demo: build
	exec $(BIN)/revprober demo

## test: every test, from a clean checkout. The real identity providers' servers build (niced) while
## test-e2e mostly waits on Prometheus: on 2 cores that window hides most of Hydra's cold build.
test: lint unit fuzz-smoke test-version test-rules test-dashboards test-kubernetes
	@$(MAKE) --no-print-directory -j3 test-e2e idp-servers
	@$(MAKE) --no-print-directory test-idps test-browser test-junit test-replicas
	@echo "make test: all suites passed"

unit:
	CGO_ENABLED=1 $(GO) test -race -count=1 ./...

lint: fmt-check vet

# The fuzz targets (docs/reliability.md#fuzzing), one `go test -fuzz` per target: go test fuzzes
# one target per package per invocation. fuzz-smoke runs each for a second (make test), fuzz for FUZZTIME.
FUZZ_TARGETS := ./internal/config:FuzzParse ./internal/backchannel:FuzzBackchannelLogout \
  ./internal/evidence:FuzzVerify ./internal/evidence:FuzzVerifyMutated ./probes/all:FuzzDriverAnswers \
  $(foreach t,FuzzIntrospect FuzzRefresh FuzzUserinfo FuzzDiscover FuzzTokenAnswer FuzzSessionChecks FuzzCodeLogin FuzzParseJWKS,./internal/oauth:$(t))
FUZZTIME ?= 60s
FUZZFLAGS ?=

# One worker: a second of fuzzing per target, so make test stays fast and leaves a core to the rest.
fuzz-smoke:
	@$(MAKE) --no-print-directory fuzz FUZZTIME=1s FUZZFLAGS=-parallel=1

fuzz:
	@for t in $(FUZZ_TARGETS); do pkg=$${t%%:*}; name=$${t##*:}; \
	  echo "fuzz $$name ($$pkg, $(FUZZTIME))"; \
	  $(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) $(FUZZFLAGS) $$pkg >/tmp/revprober-fuzz.$$$$.log 2>&1 || \
	  { cat /tmp/revprober-fuzz.$$$$.log; rm -f /tmp/revprober-fuzz.$$$$.log; \
	    echo "fuzz $$name found a crasher: it is in $$pkg/testdata/fuzz/$$name/ (commit it with the fix)"; exit 1; }; \
	  grep -h '^PASS\|^ok' /tmp/revprober-fuzz.$$$$.log | tail -1; rm -f /tmp/revprober-fuzz.$$$$.log; \
	done

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

## bench: requests and CPU per run, propagation-latency error, per driver; what the hold costs
bench: build
	REVPROBER_BIN=$(CURDIR)/$(BIN)/revprober $(GO) test -run '^$$' -bench . -benchtime 10x -count 1 ./internal/probe/

## bench-profile: a CPU profile of passing runs (global token revocation, no delay) against the simulator in its own
## process, then the functions that cost most: what a run spends besides its HTTP exchanges
bench-profile: build
	REVPROBER_BIN=$(CURDIR)/$(BIN)/revprober $(GO) test -run '^$$' -bench 'Run/janssen-global-token-revocation/delay=0s' \
	  -benchtime 200x -count 1 -cpuprofile $(BIN)/probe-cpu.prof -o $(BIN)/probe.test ./internal/probe/
	$(GO) tool pprof -top -cum -nodecount 40 $(BIN)/probe.test $(BIN)/probe-cpu.prof

## bench-scale: N probes on N canaries (interval 1 min) in `revprober run` against `revprober idpsim --users N`,
## each in its own process, for MINUTES minutes; per-minute figures and a summary; exit 1 when a scale target is
## missed (README "Scale"). Not part of make test: it takes the whole machine.
## PPROF=1 builds the prober with -tags pprof (bin/pprof/revprober) and keeps a heap profile of every minute in
## the kept temp dir: go tool pprof -sample_index=inuse_space (or alloc_space) bin/pprof/revprober DIR/heap-NN.pb.gz
N       ?= 10000
MINUTES ?= 10
PPROF   ?=
ifeq ($(PPROF),1)
bench-scale:
	$(GO) build -trimpath -tags pprof -ldflags '$(LDFLAGS)' -o $(BIN)/pprof/revprober ./cmd/revprober
	$(GO) run ./test/scale -bin $(CURDIR)/$(BIN)/pprof/revprober -n $(N) -minutes $(MINUTES) -pprof -keep
else
bench-scale: build
	$(GO) run ./test/scale -bin $(CURDIR)/$(BIN)/revprober -n $(N) -minutes $(MINUTES)
endif

# --- tools, installed on demand (Debian packages) ---------------------------
apt-updated:
	@mkdir -p $(BIN) && [ -f $(BIN)/.apt-updated ] || ($(APT) update -qq && touch $(BIN)/.apt-updated)

tools-prometheus: apt-updated
	@command -v promtool >/dev/null && command -v prometheus >/dev/null || \
	  $(APT) install -y -qq --no-install-recommends prometheus

tools-redis: apt-updated
	@command -v redis-server >/dev/null || $(APT) install -y -qq --no-install-recommends redis-server

# Debian's python3, not whatever python3 comes first on PATH: the package installs there.
tools-junitparser: apt-updated
	@/usr/bin/python3 -c 'import junitparser' 2>/dev/null || $(APT) install -y -qq --no-install-recommends python3-junitparser

tools-chromium: apt-updated
	@command -v chromium >/dev/null || $(APT) install -y -qq --no-install-recommends chromium

## promtool checks and unit-tests the shipped alert rules; Go tests hold rules and dashboards to the emitted metrics
test-rules: tools-prometheus
	promtool check rules dashboards/revprober.rules.yml
	promtool test rules dashboards/revprober-rules.test.yml

## grafana/dashboard-linter --strict on every dashboard (pinned in test/dashlint/go.mod; exclusions in dashboards/.lint)
.PHONY: test-dashboards
test-dashboards:
	cd test/dashlint && GONOSUMDB=github.com/grafana/dashboard-linter $(GO) build -o $(CURDIR)/$(BIN)/dashboard-linter github.com/grafana/dashboard-linter
	@rc=0; for f in dashboards/*.json; do \
	  echo "dashboard-linter lint --strict $$f"; $(BIN)/dashboard-linter lint --strict $$f || rc=1; \
	done; exit $$rc

## a real Prometheus scrapes a real `revprober run`; RevocationNotEnforced fires and resolves (~3.5 min)
test-e2e: build tools-prometheus
	REVPROBER_BIN=$(CURDIR)/$(BIN)/revprober $(GO) test -tags e2e -count=1 -timeout 10m -run TestPrometheusAlerts -v ./test/e2e/

## real identity providers written by others, on 127.0.0.1: panva oidc-provider (npm), zitadel/oidc (Go) and
## Ory Hydra v2.3.0 (Go) with our login and consent app; every passing case has a swallowed-revocation twin
test-idps: build idp-servers
	@command -v npm >/dev/null || { echo "test-idps needs Node.js 20 or newer with npm (README.md, make test)"; exit 1; }
	cd test/idps/oidc-provider && npm ci --no-audit --no-fund --loglevel=error
	REVPROBER_BIN=$(CURDIR)/$(BIN)/revprober ZITADEL_OP=$(CURDIR)/$(BIN)/zitadel-op HYDRA_BIN=$(CURDIR)/$(BIN)/hydra \
	  $(GO) test -tags idps -count=1 -timeout 10m ./test/idps/

# The Go servers of test-idps, each rebuilt only when its pinned module changes. Niced: make test builds
# them beside test-e2e, whose Prometheus and revprober must not starve.
.PHONY: idp-servers
idp-servers: $(BIN)/hydra $(BIN)/zitadel-op

$(BIN)/zitadel-op: test/idps/zitadel/go.mod test/idps/zitadel/go.sum test/idps/zitadel/main.go
	@mkdir -p $(BIN)
	cd test/idps/zitadel && nice -n 10 $(GO) build -o $(CURDIR)/$@.tmp . && mv $(CURDIR)/$@.tmp $(CURDIR)/$@

# Ory Hydra v2.3.0 from the Go module proxy, pinned by test/idps/hydra (go.mod, committed go.sum, tools.go:
# Hydra's go.mod has replace lines, so `go install ...@v2.3.0` is refused). CGO for its SQLite (DSN=memory).
# Cold: ~40 s of module downloads, then a few minutes of compiling (docs/compatibility.md).
HYDRA_FLAGS := -buildvcs=false -tags sqlite,sqlite_omit_load_extension -ldflags '-X github.com/ory/hydra/v2/driver/config.Version=v2.3.0'
$(BIN)/hydra: test/idps/hydra/go.mod test/idps/hydra/go.sum
	@mkdir -p $(BIN)
	cd test/idps/hydra && CGO_ENABLED=1 nice -n 10 $(GO) build $(HYDRA_FLAGS) -o $(CURDIR)/$@.tmp github.com/ory/hydra/v2 && \
	  mv $(CURDIR)/$@.tmp $(CURDIR)/$@

## the status page in headless Chromium, plain and over TLS with basic auth (screenshots in test/artifacts/)
test-browser: tools-chromium
	CGO_ENABLED=1 $(GO) test -race -count=1 -tags browser ./test/browser/

## `once --junit` read by a JUnit parser written by others (Debian's python3-junitparser)
test-junit: build tools-junitparser
	cd test/junit && REVPROBER_BIN=$(CURDIR)/$(BIN)/revprober JUNIT_PYTHON=/usr/bin/python3 $(GO) test -tags junit -count=1 .

## three `revprober run` replicas coordinated by a real redis-server: every tick once, failover (idle and mid-run),
## Redis outage, partition; and the canary lease against a real redis-server
test-replicas: tools-redis
	$(GO) test -tags redis -count=1 -v -timeout 10m ./test/replicas/ ./internal/coord/redis/

## the Kubernetes Lease backend (behind the `kubernetes` build tag) against client-go's fake clientset
test-kubernetes:
	CGO_ENABLED=1 $(GO) test -tags kubernetes -race -count=1 ./internal/coord/kube/

## `version` names the git revision, also when Go's VCS stamping is off (as in Docker builds, which have no .git)
test-version:
	GOFLAGS=-buildvcs=false $(MAKE) --no-print-directory build BIN=$(BIN)/novcs
	@out=$$($(BIN)/novcs/revprober version); echo "$$out"; \
	case "$$out" in *" $(REVISION)") ;; *) echo "test-version: want the revision $(REVISION)"; exit 1;; esac

docker:
	docker build --build-arg VERSION=$(VERSION) --build-arg REVISION=$(REVISION) -t revprober:$(VERSION) .

clean:
	rm -rf $(BIN)
