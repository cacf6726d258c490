# Flotilla — see README.md. Every target installs what it needs itself.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c

GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/flotilla-dev/flotilla/internal/version.Version=$(VERSION)
GOLANGCI_LINT := $(GO) run github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0
# Cold `make test` must stay well inside CI's 90 minutes; the go test timeout is the backstop.
TEST_TIMEOUT ?= 25m
DEMO_DIR ?= .flotilla-demo

.PHONY: all build build-agent tools chromium prometheus generate fmt vet lint verify test demo bench bench-agent bench-agent-check bench-agent-green bench-promise clean

all: build

## build: the flotilla binary in bin/, and bin/kubectl-flotilla (a hard link) for `kubectl flotilla`
build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/flotilla ./cmd/flotilla
	ln -f bin/flotilla bin/kubectl-flotilla

## build-agent: bin/flotilla-agent, the same CLI built with -tags agent: only `agent` and
## `version`, without the hub's dependencies — what member clusters run. Static (no cgo):
## it maps no C library, about 1.5 MiB less resident memory (docs/benchmarks.md)
build-agent:
	CGO_ENABLED=0 $(GO) build -tags agent -ldflags "$(LDFLAGS)" -o bin/flotilla-agent ./cmd/flotilla

## tools: pinned kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, etcd and kwok in bin/kube
## (cached; hack/build-kube.sh NAME... builds some of them)
tools:
	hack/build-kube.sh >/dev/null

# debian_package installs Debian's package $(1) when $(2) is missing (as root, with apt-get,
# updating the package lists if the first try fails); $(3) are the tests that need it, which
# install it themselves or skip loudly if this fails.
define debian_package
	@if [ ! -x $(2) ]; then \
	  echo "installing Debian's $(1) for $(3)"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  { apt-get install -y -qq --no-install-recommends $(1) >/dev/null \
	    || { apt-get update -qq && apt-get install -y -qq --no-install-recommends $(1) >/dev/null; }; } \
	    || echo "WARNING: could not install $(1); $(3) will skip"; \
	fi
endef

## chromium: Debian's chromium for the dashboard's browser tests, installed when missing
chromium:
	$(call debian_package,chromium,/usr/bin/chromium,the dashboard's browser tests)

## prometheus: Debian's prometheus for the verification checks' tests, installed when missing
prometheus:
	$(call debian_package,prometheus,/usr/bin/prometheus,the verification checks' tests)

## generate: deepcopy and CRDs from api/ (controller-gen), a copy of the CRDs for the Helm chart,
## then the generated docs: the field tables of docs/reference/*.md (from the CRDs) and the
## command reference docs/reference/cli
generate:
	$(GO) generate ./...
	rm -f charts/flotilla/crds/*.yaml && cp config/crd/bases/*.yaml charts/flotilla/crds/
	$(GO) run ./hack/gen-api-docs && $(GO) run ./hack/gen-cli-docs

fmt:
	gofmt -w $$(git ls-files '*.go')

vet:
	$(GO) vet ./...
	$(GO) vet -tags agent ./...
	cd hack/tools && $(GO) vet ./...

lint:
	$(GOLANGCI_LINT) run ./...

## verify: generate + gofmt + vet + lint + the import rules (test/layers), then fail if anything changed the tree
verify: generate
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	$(MAKE) vet lint
	$(GO) test -count=1 ./test/layers/
	@if [ -n "$$(git status --porcelain)" ]; then \
	  echo "the tree is dirty after generate:"; git status --porcelain; git --no-pager diff --stat; exit 1; fi

## test: every test, against real control planes (builds the tools first), then
## a check that none of this run's control-plane processes outlived its test
test: tools chromium prometheus
	$(GO) build -tags agent -o /dev/null ./cmd/flotilla
	run_dir=$$(mktemp -d -t flotilla-test-run.XXXXXX); \
	  status=0; TMPDIR=$$run_dir $(GO) test -timeout $(TEST_TIMEOUT) ./... || status=$$?; \
	  hack/check-orphans.sh "$$run_dir" || status=1; \
	  rm -rf "$$run_dir"; exit $$status

## bench-agent: the agent build as its own process with 50 Works / 500 resources: time to green,
## then RSS, CPU and requests over 5m30s at rest (one resync inside), then a full re-apply; one
## table (about 7 minutes; not part of test)
bench-agent: tools
	FLOTILLA_AGENT_BENCH=5m30s $(GO) test -count=1 -timeout 30m -run TestAgentBench -v ./internal/agent/

## bench-agent-check: bench-agent with one agent-placed 30-second metric check against a real Prometheus (about 7 minutes; not part of test)
bench-agent-check: tools prometheus
	FLOTILLA_AGENT_BENCH=5m30s FLOTILLA_AGENT_BENCH_CHECK=1 $(GO) test -count=1 -timeout 30m -run TestAgentBench -v ./internal/agent/

## bench-agent-green: bench-agent with a 1-minute window at rest and a 20 s resync (three resyncs
## inside): time to green and requests at rest, quickly (about 2 minutes; not part of test)
bench-agent-green: tools
	FLOTILLA_AGENT_BENCH=1m FLOTILLA_AGENT_BENCH_ARGS=--resync-interval=20s $(GO) test -count=1 -timeout 15m -run TestAgentBench -v ./internal/agent/

## bench-promise: a Promise change re-rendering 1,000 instances into Works on a real hub (about 1 minute; not part of test)
bench-promise: tools
	$(GO) test -run '^$$' -bench BenchmarkPromiseChange1000Instances -benchtime 3x -count 1 -timeout 20m ./internal/controller/instance/

## bench: fleet-scale benchmarks with the simulator (docs/sim.md; not part of test): an Immediate
## rollout to 1,000 and to 10,000 clusters and a 3-wave rollout over 1,000; tables on stdout,
## progress on stderr. About 8 minutes per 1,000-cluster run (5 of them counting steady-state
## requests); 10,000 takes about 25 minutes on 2 cores (docs/benchmarks.md).
## BENCH_SIZES="1000" skips 10,000, BENCH_SIZES="10000" skips the Immediate 1,000; BENCH_FLAGS adds flags
## (e.g. --cpu-profile-dir DIR). The API server runs without its cache consistency checker
## (BENCH_APISERVER, docs/sim.md). State goes to BENCH_DIR (a tmpfs by default)
BENCH_DIR ?= $(if $(wildcard /dev/shm),/dev/shm,$(CURDIR))/flotilla-bench
BENCH_SIZES ?= 1000 10000
BENCH_APISERVER ?= --apiserver-arg=--feature-gates=DetectCacheInconsistency=false
BENCH_FLAGS ?=
bench: build tools
	for n in $(BENCH_SIZES); do \
	  bin/flotilla sim bench --clusters $$n --mode immediate --join-parallelism 32 $(BENCH_APISERVER) $(BENCH_FLAGS) --dir "$(BENCH_DIR)/immediate-$$n"; \
	  rm -rf "$(BENCH_DIR)/immediate-$$n"; \
	done
	bin/flotilla sim bench --clusters 1000 --mode waves --join-parallelism 32 $(BENCH_APISERVER) $(BENCH_FLAGS) --dir "$(BENCH_DIR)/waves-1000"
	rm -rf "$(BENCH_DIR)/waves-1000"

## demo: the guided demo (docs/quickstart.md): a hub and 5 members, a Promise, a good rollout
## with an approval and a bad one that rolls back; then stop (DEMO_KEEP=1 keeps it running).
## Cold, it builds only what the demo starts: the control-plane modules download while flotilla
## compiles, then the five binaries build (sharing the standard library flotilla compiled);
## kubectl, which the demo only shows, builds at low priority while the demo runs and at normal
## priority after it where the system allows (docs/benchmarks.md#time-to-first-demo)
DEMO_TOOLS := etcd kube-apiserver kube-controller-manager kube-scheduler kwok
demo:
	hack/build-kube.sh --download $(DEMO_TOOLS) & \
	  $(MAKE) --no-print-directory build; wait $$!
	hack/build-kube.sh $(DEMO_TOOLS) >/dev/null
	@mkdir -p "$(DEMO_DIR)"; \
	  setsid nice -n 19 hack/build-kube.sh kubectl >/dev/null 2>"$(DEMO_DIR)/build-kubectl.log" & kubectl=$$!; \
	  trap 'kill -- -$$kubectl 2>/dev/null' INT TERM; \
	  echo 'bin/flotilla demo --dir "$(DEMO_DIR)"$(if $(filter 1,$(DEMO_KEEP)), --keep)   # kubectl builds meanwhile'; \
	  status=0; bin/flotilla demo --dir "$(DEMO_DIR)"$(if $(filter 1,$(DEMO_KEEP)), --keep) || status=$$?; \
	  renice -n 0 -g $$kubectl >/dev/null 2>&1 || true; \
	  wait $$kubectl || { status=$$((status ? status : 1)); echo "kubectl was not built ($(DEMO_DIR)/build-kubectl.log); make tools builds it" >&2; }; \
	  exit $$status

clean:
	rm -rf bin $(DEMO_DIR) .flotilla-dev
