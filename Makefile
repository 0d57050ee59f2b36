# The README's commands. Each target does its own set-up, so a fresh machine needs nothing else:
# `make gameday` and `make test` create .venv, install the project, and install Debian's
# PostgreSQL and dig when they are missing. Every step is skipped when it is already done.
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
# This machine's pip config names local mirrors that may be absent; their warnings are noise. So is
# setuptools' banner about editable installs (PYTHONWARNINGS reaches pip's build subprocess).
QUIET_PIP := 2>&1 | { grep -v '^WARNING: Location' || true; }
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := PYTHONWARNINGS=ignore $(BIN)/pip
STAMP := $(VENV)/.installed
PG_BIN := $(firstword $(wildcard /usr/lib/postgresql/*/bin/pg_ctl))
PYTEST_ARGS ?=

.PHONY: setup system-packages lint test gameday bench clean stack-up stack-down

setup: system-packages $(STAMP)

# apt needs `apt-get update` first on a fresh machine; only run it when something is missing.
system-packages:
	@missing=""; \
	[ -n "$(PG_BIN)" ] || missing="$$missing postgresql"; \
	command -v dig >/dev/null || missing="$$missing bind9-dnsutils"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v nft >/dev/null || missing="$$missing nftables"; \
	command -v openssl >/dev/null || missing="$$missing openssl"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" != 0 ]; then \
	    echo "gameday: missing Debian package(s):$$missing; install them as root: apt-get install$$missing" >&2; exit 1; \
	  fi; \
	  echo "gameday: installing$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "gameday: installing the Python packages into $(VENV) (pyproject.toml)"
	@$(PIP) install -q --upgrade pip $(QUIET_PIP)
	@$(PIP) install -q -e . $(QUIET_PIP)
	@touch $@

# The static checkers come from pyproject.toml's `test` extra, installed once after the project.
LINT_STAMP := $(VENV)/.installed-test
$(LINT_STAMP): $(STAMP)
	@echo "gameday: installing the static checkers into $(VENV) (pyproject.toml's test extra)"
	@$(PIP) install -q -e '.[test]' $(QUIET_PIP)
	@touch $@

# Static checks (configured in pyproject.toml): ruff (style, likely bugs, stale noqa), mypy --strict,
# import-linter (the floors; no part of the local stack imports another).
lint: $(LINT_STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# The static checks, the framework's own tests, then the design card's CI command: every merge proves the
# failover game day.
test: setup lint
	$(BIN)/pytest -n 2 tests $(PYTEST_ARGS)
	$(BIN)/pytest -m failover -p no:cacheprovider

gameday: setup
	$(BIN)/gameday run

bench: setup
	@for b in benchmarks/bench_*.py; do echo "== $$b" >&2; $(BIN)/python $$b || exit 1; done

stack-up: setup
	$(BIN)/gameday stack up --detach

stack-down: setup
	$(BIN)/gameday stack down

clean:
	rm -rf $(VENV) reports/out *.egg-info
