# osflow: `make run` sets up and runs the dev environment; `make test` runs every test.
SHELL := /bin/bash
BIN := $(CURDIR)/bin
TEMPORAL := $(BIN)/temporal
TEMPORAL_CLI_VERSION := v1.5.1
DEB_PACKAGES := rpm createrepo-c dnf dnf-plugins-core gnupg zstd bzip2
# ssh-keygen signs approvals (osflow approve --key, and by hand in the tests, with jq building the Update's input).
DEB_PACKAGES += openssh-client jq
# The real monitoring and backup programs the integration tests drive.
DEB_PACKAGES += prometheus-alertmanager nagios4-core sqlite3 \
	bacula-director bacula-director-sqlite3 bacula-sd bacula-fd bacula-console
# Only for deploy/'s tests: nginx with njs and httpd with mod_lua serve a channel, systemd-analyze verifies the units.
TEST_DEB_PACKAGES := nginx libnginx-mod-http-js apache2-bin systemd
# tests/webui_test.go reads the Temporal Web UI in Debian's headless Chromium, over the DevTools protocol.
TEST_DEB_PACKAGES += chromium
# `make cluster-test`: a real Temporal server (the version inside the pinned CLI) on PostgreSQL.
TEMPORAL_SERVER_VERSION := v1.29.1
TEMPORAL_SERVER := $(BIN)/temporal-server-$(TEMPORAL_SERVER_VERSION)
CLUSTER_DEB_PACKAGES := postgresql
# deploy/helm's test renders the chart with it.
HELM := $(BIN)/helm
HELM_VERSION := v3.22.0
GO_TEST_FLAGS ?= -count=1 -timeout 40m

.PHONY: run test setup deps temporal helm build install bench bench-scale vet clean cluster-test temporal-server chaos

run: setup build
	$(BIN)/osflow dev

# OSFLOW_REQUIRE_TOOLS turns a test's missing tool into a failure, not a skip.
test: setup helm
	@$(MAKE) --no-print-directory deps DEB_PACKAGES="$(TEST_DEB_PACKAGES)"
	go vet ./...
	OSFLOW_REQUIRE_TOOLS=1 go test $(GO_TEST_FLAGS) ./...

# A multi-process Temporal cluster on PostgreSQL (deploy/temporal), the
# DailySync and test-cycle e2e tests against it, and the history service
# killed mid-sync. Not part of `make test`: .ci/run runs it as a second step.
cluster-test: setup build temporal-server
	@$(MAKE) --no-print-directory deps DEB_PACKAGES="$(CLUSTER_DEB_PACKAGES)"
	go vet -tags cluster ./deploy/temporal/...
	OSFLOW_REQUIRE_TOOLS=1 TEMPORAL_SERVER=$(TEMPORAL_SERVER)/server TEMPORAL_SQL_TOOL=$(TEMPORAL_SERVER)/sql OSFLOW_BIN=$(BIN)/osflow \
		go test -tags cluster -count=1 -timeout 30m -v -run TestCluster ./deploy/temporal/localcluster/

# The randomized process test (tests/chaos_test.go) at length: a seed
# replays the same actions and kill moments. `make test` runs a short one.
SEED ?= 1
STEPS ?= 60
chaos: setup
	OSFLOW_REQUIRE_TOOLS=1 go test -count=1 -timeout 150m -v -run TestChaos ./tests/ -args -chaos.seed=$(SEED) -chaos.steps=$(STEPS)

temporal-server: $(TEMPORAL_SERVER)/server

# The server and its SQL schema tool, side by side (go install names them server and sql).
$(TEMPORAL_SERVER)/server:
	@echo "installing the Temporal server $(TEMPORAL_SERVER_VERSION) and temporal-sql-tool into $(TEMPORAL_SERVER)"
	GOBIN=$(TEMPORAL_SERVER) go install go.temporal.io/server/cmd/server@$(TEMPORAL_SERVER_VERSION) go.temporal.io/server/cmd/tools/sql@$(TEMPORAL_SERVER_VERSION)


# Speed goals are benchmarks, never timed tests: the primary.xml parser
# (against the encoding/xml one it replaced), the release diff and its
# advisories, then the end-to-end comparison (BENCH_N packages, default 2000).
BENCH_GO_FLAGS ?= -run '^$$' -bench 'BenchmarkPrimaryParse|BenchmarkDiffSnapshots20k|BenchmarkReleaseAdvisories20k' -benchtime 20x -count 1
bench: setup build
	go test $(BENCH_GO_FLAGS) ./integrations/repo/rpmmd/ ./integrations/repo/
	go run ./bench

# Growth with the number of packages: 2,000, 20,000 and 100,000, and 12 repos
# at once. Not part of make test; a few minutes.
bench-scale: setup build
	go run ./bench -scale

build:
	go build -o $(BIN)/osflow ./cmd/osflow

# Puts osflow on PATH: `sudo make install`, or `make install PREFIX=$$HOME/.local`.
PREFIX ?= /usr/local
install: build
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(BIN)/osflow $(DESTDIR)$(PREFIX)/bin/osflow

setup: deps temporal

# Installs only what is missing, so a second run is quiet and fast.
deps:
	@missing=""; \
	for p in $(DEB_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq $$missing >/dev/null; \
	fi

temporal: $(TEMPORAL)

helm: $(HELM)

$(HELM):
	@echo "installing helm $(HELM_VERSION) into $(BIN)"
	GOBIN=$(BIN) go install helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)

$(TEMPORAL):
	@echo "installing the Temporal CLI $(TEMPORAL_CLI_VERSION) into $(BIN)"
	GOBIN=$(BIN) go install github.com/temporalio/cli/cmd/temporal@$(TEMPORAL_CLI_VERSION)

vet:
	go vet ./...

clean:
	rm -rf $(BIN)/osflow
