# resilience — chaos-engineering harness for the AGENT chat service.
# `make gameday` and `make test` work on a fresh Debian/Ubuntu machine as root (or with sudo).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SCENARIO ?= scenarios/gameday.yaml
PYTEST_ARGS ?=

LOCK := requirements.lock
# The chat image's lock: chat/pyproject.toml's dependencies pinned to the versions of $(LOCK).
CHAT_LOCK := deploy/chat-requirements.lock

.PHONY: setup test test-unit lint lock schema gameday clean help

help:
	@echo "make setup    install Debian packages and the venv (idempotent, instant when done)"
	@echo "make test     setup, then the whole test suite (unit, integration, e2e)"
	@echo "make lint     ruff check, ruff format --check, mypy, import-linter layer contracts, shellcheck, actionlint"
	@echo "make schema   regenerate docs/run.schema.json and docs/capacity.schema.json from their models"
	@echo "make lock     re-resolve $(LOCK) from pyproject.toml (after changing a dependency)"
	@echo "make gameday  setup, then run $(SCENARIO) on the embedded local stack"
	@echo "make clean    remove the venv, caches and results"

setup: $(STAMP)
	@scripts/install-system-deps

# Exactly the versions in the lock file (hash-checked), then the project itself without resolving anything.
$(STAMP): $(LOCK) pyproject.toml chat/pyproject.toml
	@scripts/install-system-deps
	@test -x $(PY) || /usr/bin/python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --require-hashes -r $(LOCK)
	$(PY) -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e . -e ./chat
	@touch $@

# Every platform and Python >= 3.11 in one file, then the chat image's subset at the same versions; run
# after editing the dependencies in pyproject.toml (or chat/pyproject.toml), commit all together.
lock: setup
	$(VENV)/bin/uv pip compile pyproject.toml --extra dev --universal --python-version 3.11 \
		--generate-hashes --no-header --annotation-style line -o $(LOCK)
	$(VENV)/bin/uv pip compile chat/pyproject.toml -c $(LOCK) --universal --python-version 3.11 \
		--generate-hashes --no-header --annotation-style line -o $(CHAT_LOCK)
	$(VENV)/bin/uv pip compile deploy/netfault-requirements.in -c $(LOCK) --universal --python-version 3.11 \
		--generate-hashes --no-header --annotation-style line -o deploy/netfault-requirements.lock

# The suite mostly waits on real servers, so it runs more xdist workers than cores (docs/testing.md has the
# measurements); tests/conftest.py keeps a module on one worker and the modules sharing one local stack together.
TEST_WORKERS ?= $(shell echo $$(( $$(nproc) * 2 )))

test: setup
	$(VENV)/bin/pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

test-unit: setup
	$(VENV)/bin/pytest -m unit -n $(TEST_WORKERS) $(PYTEST_ARGS)

LINT_PATHS := resilience chat tests benchmarks

lint: setup
	$(VENV)/bin/ruff check $(LINT_PATHS)
	$(VENV)/bin/ruff format --check $(LINT_PATHS)
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache
	shellcheck --severity=style deploy/kind/*.sh scripts/install-system-deps .ci/run
	$(VENV)/bin/actionlint -shellcheck=shellcheck .github/workflows/*.yml

schema: setup
	$(PY) -m resilience.rundoc > docs/run.schema.json
	$(PY) -m resilience.capacity.result > docs/capacity.schema.json

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
