# Two entry points: `make run` and `make test`. Both set up what they need.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LISTEN ?= 127.0.0.1:8080

.PHONY: run test lint typecheck unit peers bench-peers bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV) || { rm -rf $(VENV); \
	  (apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv \
	  && $(PY) -m venv $(VENV); }
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

# Debian packages for tests that need real peers (nghttp, h2load, curl).
peers:
	@command -v nghttp >/dev/null 2>&1 && command -v h2load >/dev/null 2>&1 && command -v curl >/dev/null 2>&1 || \
	  { (apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nghttp2-client curl >/dev/null; }

run: $(STAMP)
	$(BIN)/mux serve --listen $(LISTEN)

lint: $(STAMP)
	$(BIN)/ruff check mux clients tests bench spec examples
	$(BIN)/ruff format --check mux clients tests bench spec examples

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/python -m pytest

test: $(STAMP) peers lint typecheck unit

# nghttpd (C) is the reference HTTP/2 server of the h2load benchmark.
bench-peers: peers
	@command -v nghttpd >/dev/null 2>&1 || \
	  { (apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nghttp2-server >/dev/null; }

bench: $(STAMP) bench-peers
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) build dist *.egg-info
