# Two entry points: `make run` and `make test`. Both set up what they need and say so.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
LISTEN ?= 127.0.0.1:8080

# `make run` installs only what serving needs; `make test` adds the `dev` extra.
RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev

# Third-party peers the interop tests talk to, as command:debian-package pairs.
# Missing ones are installed with apt-get when possible; otherwise their tests skip.
PEERS := nghttp:nghttp2-client h2load:nghttp2-client nghttpd:nghttp2-server curl:curl \
  haproxy:haproxy chromium:chromium tmux:tmux
# Peers only the benchmarks need.
BENCH_PEERS := nginx:nginx
# Whether missing peers may be installed: root with apt-get (`make test CAN_APT=` never tries).
CAN_APT ?= $(shell [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && echo yes)

.PHONY: run test lint typecheck unit node-test peers bench-peers bench build-fast clean

$(BIN)/python:
	@echo "make: creating the virtual environment $(VENV) with $(PY)"
	@$(PY) -m venv $(VENV) || { rm -rf $(VENV); \
	  echo "make: $(PY) -m venv failed; installing python3-venv with apt-get"; \
	  (apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv \
	  && $(PY) -m venv $(VENV); }

$(RUN_STAMP): pyproject.toml | $(BIN)/python
	@echo "make: installing mux and its runtime dependencies (trio, h2, h11, msgpack, attrs, prometheus-client) into $(VENV)"
	@$(BIN)/python -m pip install -q -e .
	@touch $@

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	@echo "make: installing mux with the test and lint tools (extra 'dev': pytest, hypothesis, ruff, mypy, httpx, grpcio, ...) into $(VENV)"
	@$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $@ $(RUN_STAMP)

# check_peers(LIST): install missing commands of LIST with apt-get when that works,
# else name them and go on (their tests skip, saying which command is missing).
define check_peers
	@missing=""; packages=""; \
	for pair in $(1); do cmd=$${pair%%:*}; pkg=$${pair#*:}; \
	  command -v $$cmd >/dev/null 2>&1 || { missing="$$missing $$cmd"; \
	    case " $$packages " in *" $$pkg "*) ;; *) packages="$$packages $$pkg";; esac; }; \
	done; \
	if [ -z "$$missing" ]; then echo "make: peers present:$$(for p in $(1); do printf ' %s' $${p%%:*}; done)"; exit 0; fi; \
	echo "make: peers missing:$$missing (debian packages:$$packages)"; \
	if [ "$(CAN_APT)" = yes ] && echo "make: installing$$packages with apt-get" \
	   && { apt-get update -qq || true; } \
	   && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$packages >/dev/null; then \
	  echo "make: installed$$packages"; \
	else \
	  echo "make: cannot install them (needs root and apt-get): the tests that use$$missing will be skipped"; \
	fi
endef

peers:
	$(call check_peers,$(PEERS))

run: $(RUN_STAMP)
	@echo "make: running the gateway on $(LISTEN) in front of demo upstreams over mux, h2c and HTTP/1.1 (admin on 127.0.0.1:9901; Ctrl-C stops)"
	$(BIN)/mux gateway --listen $(LISTEN)

lint: $(DEV_STAMP)
	$(BIN)/ruff check mux clients tests bench spec examples
	$(BIN)/ruff format --check mux clients tests bench spec examples

typecheck: $(DEV_STAMP)
	$(BIN)/mypy

unit: $(DEV_STAMP)
	$(BIN)/python -m pytest -rs

# The Node.js client (clients/node): installs Node.js with apt-get when missing and root
# (else skipped, saying so), then npm ci, tsc, node --test (vectors + interop with mux serve).
node-test: $(DEV_STAMP)
	@echo "make: testing the Node.js client (clients/node)"
	MUX_PYTHON=$(abspath $(BIN))/python clients/node/run-tests.sh

test: $(DEV_STAMP) peers lint typecheck unit node-test

# nghttpd (C) is the reference HTTP/2 server of the h2load benchmark; nginx and HAProxy the
# reference gateways of bench/gateway.py.
bench-peers:
	$(call check_peers,$(PEERS) $(BENCH_PEERS))

bench: $(DEV_STAMP) bench-peers
	$(BIN)/python bench/run.py

# Optional: the mux/msgpack protocol core compiled with mypyc into build/fast (the installed
# package stays pure Python); runs the core tests against the compiled copy.
build-fast: $(DEV_STAMP)
	@echo "make: compiling the mux/msgpack protocol core with mypyc into build/fast (needs a C compiler and the Python headers)"
	@$(BIN)/python -m pip install -q -e '.[fast]'
	@$(BIN)/python scripts/build_fast.py --dest build/fast --check

clean:
	rm -rf $(VENV) build dist *.egg-info clients/node/node_modules clients/node/dist
