# Two commands on a fresh machine: `make up` (run the platform, embedded engines) and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install up down test lint test-embedded tools

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

up: install
	$(BIN)/hotelctl up

down: install
	$(BIN)/hotelctl down

lint: install
	$(BIN)/ruff check .
	$(BIN)/dagster definitions validate -w workspace.yaml

# Debian tools the tests drive (Chromium, shellcheck, promtool, wrk); installs only what is missing.
tools:
	@bash scripts/install-system-tools.sh

# The whole suite against the servers named by DATABASE_URL / REDIS_URL (embedded engines when
# unset), then the embedded-engine subset with those URLs unset, so both paths run every time.
# Each area runs in its own pytest process on a fresh database (scripts/run_tests.py). The
# embedded subset runs first so the closing summary line is the whole suite's.
test: install lint tools
	$(MAKE) test-embedded
	$(BIN)/python scripts/run_tests.py

test-embedded: install
	env -u DATABASE_URL -u REDIS_URL -u CLICKHOUSE_URL $(BIN)/python scripts/run_tests.py -m embedded
