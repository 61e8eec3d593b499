# Two commands on a fresh machine: `make up` (run the platform, embedded engines) and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install up down test lint test-embedded tools lock

install: $(STAMP)

# constraints.txt pins the whole dependency tree (scripts/lock_dependencies.py); the embedded extra brings
# the engines `make up` starts when no URL is set (the production image leaves them out).
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e ".[dev,embedded]"
	touch $(STAMP)

up: install
	$(BIN)/hotelctl up

down: install
	$(BIN)/hotelctl down

lint: install
	$(BIN)/ruff check .
	$(BIN)/dagster definitions validate -w workspace.yaml

# Re-pin constraints.txt after changing pyproject.toml (keeps the current pins; --fresh re-resolves all).
lock: install
	$(BIN)/python scripts/lock_dependencies.py

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
