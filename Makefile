# Nacre — two commands on a fresh machine:
#   make run    installs a nats-server if none is on PATH, builds, starts Nacre standalone on 127.0.0.1:8848
#   make test   the same install, then every test (against the pinned newest nats-server and the 2.10 floor),
#               and the web console's unit and browser tests

NATS_VERSION       := $(shell cat NATS_VERSION)
NATS_FLOOR_VERSION := 2.10.26
TOOLS              := $(CURDIR)/.tools
NATS_BIN           := $(TOOLS)/nats-server-$(NATS_VERSION)/nats-server
NATS_FLOOR_BIN     := $(TOOLS)/nats-server-$(NATS_FLOOR_VERSION)/nats-server
CARGO              ?= cargo

CONSOLE            := $(CURDIR)/console
VENV               := $(CURDIR)/.venv
CLIENTS            := tests/clients/requirements.txt

.PHONY: run test nats-server nats-server-floor clients build release lint bench clean console console-deps console-fresh console-test chromium

# The nats-server used by `make run`: one on PATH if present, else the pinned one installed here.
RUN_NATS := $(shell command -v nats-server 2>/dev/null)
ifeq ($(RUN_NATS),)
RUN_NATS := $(NATS_BIN)
RUN_NATS_DEP := nats-server
endif

run: console-fresh $(RUN_NATS_DEP)
	$(CARGO) build --release
	NACRE_NATS_STANDALONE_BINARY=$(RUN_NATS) ./target/release/nacre serve

# The real clients the acceptance tests drive (py-consul), in a virtualenv.
clients: $(VENV)/.installed

$(VENV)/.installed: $(CLIENTS)
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r $(CLIENTS)
	touch $@

# The web console. Its build, console/dist, is committed and embedded by `cargo build`, so
# building Nacre needs no Node.js; these targets rebuild it from console/ (npm ci, Vite).
console-deps: $(CONSOLE)/node_modules/.package-lock.json

$(CONSOLE)/node_modules/.package-lock.json: $(CONSOLE)/package-lock.json
	cd $(CONSOLE) && npm ci --no-audit --no-fund
	touch $@

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

build:
	$(CARGO) build --all-targets

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

# Every test against the newest pinned nats-server, then the integration tests again against the
# 2.10 floor.
test: nats-server nats-server-floor clients lint
	NACRE_TEST_NATS_SERVER=$(NATS_BIN) NACRE_TEST_PYTHON=$(VENV)/bin/python $(CARGO) test --all-targets
	NACRE_TEST_NATS_SERVER=$(NATS_FLOOR_BIN) NACRE_TEST_PYTHON=$(VENV)/bin/python $(CARGO) test --test '*'
	$(MAKE) console-test

bench: nats-server
	$(CARGO) build --release
	NACRE_NATS_STANDALONE_BINARY=$(NATS_BIN) ./target/release/nacre bench

clean:
	$(CARGO) clean
	rm -rf $(TOOLS) $(VENV)
