# resilience — chaos-engineering harness for the AGENT chat service.
# `make gameday` and `make test` work on a fresh Debian/Ubuntu machine as root (or with sudo).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SCENARIO ?= scenarios/gameday.yaml
PYTEST_ARGS ?=

.PHONY: setup test test-unit lint gameday clean help

help:
	@echo "make setup    install Debian packages and the venv (idempotent, instant when done)"
	@echo "make test     setup, then the whole test suite (unit, integration, e2e)"
	@echo "make lint     ruff + mypy"
	@echo "make gameday  setup, then run $(SCENARIO) on the embedded local stack"
	@echo "make clean    remove the venv, caches and results"

setup: $(STAMP)
	@scripts/install-system-deps

$(STAMP): pyproject.toml
	@scripts/install-system-deps
	@test -x $(PY) || /usr/bin/python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'
	@touch $@

test: setup
	$(VENV)/bin/pytest $(PYTEST_ARGS)

test-unit: setup
	$(VENV)/bin/pytest -m unit $(PYTEST_ARGS)

lint: setup
	$(VENV)/bin/ruff check resilience chat tests benchmarks
	$(VENV)/bin/mypy

gameday: setup
	$(VENV)/bin/resilience run $(SCENARIO)

clean:
	-$(VENV)/bin/resilience down >/dev/null 2>&1
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info

.PHONY: kind-up kind-down
kind-up:  ## kind cluster + CloudNativePG + the chart (needs docker, kind, kubectl, helm)
	deploy/kind/up.sh

kind-down:
	deploy/kind/down.sh
