# The README's commands. Each target does its own set-up, so a fresh machine needs nothing else:
# `make gameday` and `make test` create .venv, install the project, and install the Debian packages
# below when they are missing. Every step is skipped when it is already done.
# Python packages come from the lock files, every one pinned with its hashes (requirements/*.txt,
# made from pyproject.toml by `make lock`): `make gameday` installs requirements/gameday.txt (the core,
# the local stack and the report's charts), `make test` adds requirements/test.txt (awscli, the static
# checkers) to the same .venv. The project itself is installed editable, without dependencies.
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
TEST_STAMP := $(VENV)/.installed-test
LOCK := requirements/gameday.txt
TEST_LOCK := requirements/test.txt
# Bytecode is compiled at install (pip's default), and the project's own modules at every set-up (only the
# changed ones): where PYTHONDONTWRITEBYTECODE is set, as on some CI runners, nothing is cached on import, and
# every process of the local stack (the supervisor, each checkout instance) compiled its imports from source
# each time it started; `stack up` took 7.1 s instead of 4.8.
LOCKED_PIP := $(PIP) install -q --require-hashes -r
PROJECT_PACKAGES := base environments stack probes faults experiments gameday reports
PG_BIN := $(firstword $(wildcard /usr/lib/postgresql/*/bin/pg_ctl))
PYTEST_ARGS ?=

.PHONY: setup setup-test system-packages lint test gameday bench clean stack-up stack-down lock

setup: system-packages $(STAMP)
	@$(BIN)/python -m compileall -q -j 0 $(PROJECT_PACKAGES) >/dev/null

setup-test: setup $(TEST_STAMP)

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

$(STAMP): pyproject.toml $(LOCK)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "gameday: installing the Python packages into $(VENV) ($(LOCK))"
	@$(PIP) install -q --upgrade pip $(QUIET_PIP)
	@$(LOCKED_PIP) $(LOCK) $(QUIET_PIP)
	@$(PIP) install -q --no-deps -e . $(QUIET_PIP)
	@touch $@

$(TEST_STAMP): $(STAMP) $(TEST_LOCK)
	@echo "gameday: installing the test tools into $(VENV) ($(TEST_LOCK))"
	@$(LOCKED_PIP) $(TEST_LOCK) $(QUIET_PIP)
	@touch $@

# Static checks (configured in pyproject.toml): ruff (style, likely bugs, stale noqa), mypy --strict,
# import-linter (the floors; no part of the local stack imports another). The checkers come from the test lock.
lint: $(TEST_STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# The static checks, the framework's own tests, then the design card's CI command: every merge proves the
# failover game day. -rs lists each skipped test with its reason (no AWS account, a tool not installed).
test: setup-test lint
	$(BIN)/pytest -n 2 -rs tests $(PYTEST_ARGS)
	$(BIN)/pytest -m failover -rs -p no:cacheprovider

gameday: setup
	$(BIN)/gameday run

# Every benchmark's JSON is kept in BENCH_OUT; a failing one is recorded as an error and the rest still run.
# Then the summary: every goal of the performance issue with its figure from this run and a met flag.
BENCH_OUT := reports/out/bench
bench: setup
	@rm -rf $(BENCH_OUT) && mkdir -p $(BENCH_OUT); failed=""; \
	for b in benchmarks/bench_*.py; do \
	  name=$$(basename $$b .py); echo "== $$b" >&2; \
	  if ! $(BIN)/python $$b | tee $(BENCH_OUT)/$$name.json; then \
	    failed="$$failed $$name"; echo '{"error": "the benchmark exited with an error"}' > $(BENCH_OUT)/$$name.json; \
	  fi; \
	done; \
	echo "== summary ($(BENCH_OUT)/summary.json)" >&2; \
	$(BIN)/python benchmarks/summary.py $(BENCH_OUT) | tee $(BENCH_OUT)/summary.json; \
	if [ -n "$$failed" ]; then echo "gameday: benchmark(s) failed:$$failed" >&2; exit 1; fi

stack-up: setup
	$(BIN)/gameday stack up --detach

stack-down: setup
	$(BIN)/gameday stack down

# After a dependency change in pyproject.toml: re-pin both lock files (uv, in a throw-away venv).
lock:
	@test -x .lock-venv/bin/uv || { $(PYTHON) -m venv .lock-venv && PYTHONWARNINGS=ignore .lock-venv/bin/pip install -q uv $(QUIET_PIP); }
	UV=.lock-venv/bin/uv requirements/compile.sh

# The evidence packs in reports/out are an audit record: a clean never removes them.
clean:
	rm -rf $(VENV) .lock-venv *.egg-info
