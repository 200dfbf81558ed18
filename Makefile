# jobq: `make run` starts the service on SQLite; `make test` runs every check. Both set themselves up.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8080

.DEFAULT_GOAL := help
.PHONY: help run test test-full flake-hunt lint typecheck browser pgbouncer unit bench bench-peers profile clean

help:
	@echo "make run    start jobq serve on http://$(HOST):$(PORT) with SQLite at ./jobq.db"
	@echo "make test   lint, type-check and run the whole test suite (fault tests: fast tier)"
	@echo "make test-full  the same with the fault tests' full tier (more kills, restarts, examples)"
	@echo "make flake-hunt  the suite 5 times beside a CPU burner, listing every test that failed"
	@echo "make bench  the benchmarks (bench/): figures and bench/results.json"
	@echo "make bench-peers  jobq side by side with PgQueuer and Huey (installed into .bench-peers/)"
	@echo "make profile  flame graphs of a worker draining jobs (bench/profile-*.svg)"
	@echo "make clean  remove the virtual environment and caches"

# The venv itself: Python 3.11 or newer, with pip.
$(BIN)/.venv:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "jobq needs Python 3.11 or newer; this is " + sys.version.split()[0])'
	@test -x $(BIN)/pip || $(PYTHON) -m venv $(VENV) 2>/dev/null || { \
	  echo "python3 has no ensurepip (Debian/Ubuntu without python3-venv): fetching pip from PyPI"; \
	  $(PYTHON) -m venv --clear --without-pip $(VENV) && $(PYTHON) scripts/bootstrap_pip.py $(BIN)/python; } || { \
	  echo "could not create $(VENV); on Debian/Ubuntu: apt install python3-venv"; exit 1; }
	$(BIN)/python -m pip install --quiet --upgrade pip
	@touch $@

# What running needs (`make run`): jobq and the PostgreSQL driver, nothing of the toolchain.
# Each is installed again when pyproject.toml or the constraints change.
$(BIN)/.runtime: pyproject.toml constraints.txt $(BIN)/.venv
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[postgres]'
	@touch $@

# What testing needs besides (`make test`, `make bench`, ...): the dev extra.
$(BIN)/.installed: pyproject.toml constraints.txt $(BIN)/.venv
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $@

run: $(BIN)/.runtime
	$(BIN)/jobq serve --host $(HOST) --port $(PORT) --database-url sqlite:///jobq.db

LINTED := src tests scripts $(wildcard bench)

# lint-imports: the contracts in pyproject.toml ([tool.importlinter]) on which way imports point.
lint: $(BIN)/.installed
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)
	$(BIN)/lint-imports

typecheck: $(BIN)/.installed
	$(BIN)/mypy

browser:
	@sh scripts/ensure_browser.sh

# The PgBouncer tests start Debian's pgbouncer themselves (tests/pgbouncer.py).
pgbouncer:
	@sh scripts/ensure_pgbouncer.sh

# pytest exits 5 when it collects nothing; make treats that as the failure it is.
test: lint typecheck browser pgbouncer
	$(BIN)/pytest $(PYTEST_ARGS)

# The fault-injection tests (tests/faults) and the fuzzers read JOBQ_TEST_TIER.
test-full: lint typecheck browser pgbouncer
	JOBQ_TEST_TIER=full $(BIN)/pytest $(PYTEST_ARGS)

# Tests that fail only sometimes: the suite RUNS times (5) beside a CPU burner; see the script.
flake-hunt: $(BIN)/.installed browser pgbouncer
	bash scripts/flake_hunt.sh

# Benchmarks: never part of `make test`. Needs PostgreSQL (JOBQ_BENCH_POSTGRES_DSN; default the
# local test database). Prints a table; writes bench/results.json.
bench: $(BIN)/.installed
	sh scripts/ensure_wrk.sh
	$(BIN)/python -m bench

# jobq beside the queues users would pick instead, same machine, stores and workloads: PgQueuer
# (PostgreSQL) and Huey (SQLite), each installed from PyPI into .bench-peers/<name> at the version
# pinned in bench/peers/requirements-<name>.txt. Never part of `make test`. Writes
# bench/peers-results.json.
bench-peers: $(BIN)/.installed
	$(BIN)/python -m bench.peers

# Where a worker's time goes: py-spy over a 20,000-job drain on each store; prints the top
# functions, writes bench/profile-<store>.svg (flame graphs).
profile: $(BIN)/.installed
	$(BIN)/python -m bench.profile

clean:
	rm -rf $(VENV) .bench-peers .pytest_cache .mypy_cache .ruff_cache .import_linter_cache src/*.egg-info
