# `make run` and `make test` set everything up on a fresh machine, then run the hub or the tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
NODE_STAMP := web/node_modules/.installed-stamp

.PHONY: run test lint check bench install web browser services clean

run: install web
	$(BIN)/trackingbms run

test: install web browser services
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

check: test lint

# Each benchmark prints its figures, then one JSON line per target (measured in one run, ratios).
bench: install
	@for script in benchmarks/*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

install: $(STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# Front-end packages come from npm with the lock file (never from a CDN at run time).
web: $(NODE_STAMP)

$(NODE_STAMP): web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

# PostgreSQL, Redis and Mosquitto on 127.0.0.1, started when they are down.
services:
	bash .ci/services

# Browser tests drive Debian's chromium with Playwright (no browser download).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium missing: sudo apt-get install chromium" >&2; exit 1; fi; }

clean:
	rm -rf $(VENV) web/node_modules .pytest_cache .mypy_cache .ruff_cache data
