# The two commands: `make run` starts the app on a fresh clone; `make test` runs the whole suite
# on PostgreSQL and Redis. See README.md.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# The suite's services: local PostgreSQL and Redis (a dedicated Redis database number).
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/itb
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15

.PHONY: run test lint fmt typecheck bench install install-dev services browser clean

$(VENV)/.installed: requirements.txt
	@scripts/venv.sh $(PYTHON) requirements.txt
	@touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt
	@scripts/venv.sh $(PYTHON) requirements-dev.txt
	@touch $(VENV)/.installed $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

## run: install, migrate, seed the demo and start web + worker + scheduler
run: install
	@scripts/run.sh

## test: the full suite (lint, checks, pytest incl. browser tests) on PostgreSQL and Redis
test: install-dev
	@scripts/test-services.sh
	@scripts/browser.sh
	@DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) scripts/test.sh

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

fmt: install-dev
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

typecheck: install-dev
	$(VENV)/bin/mypy .

## bench: the benchmark scripts (figures go to docs/benchmarks.md); bench/sweep.py needs
## PostgreSQL (BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/itb_bench);
## bench/soak.py runs the whole stack for 10 minutes (its own database itb_soak, a private Redis)
bench: install-dev
	$(PY) bench/dosing.py
	$(PY) bench/sweep.py
	@scripts/bench-tools.sh
	$(PY) bench/api.py
	$(PY) bench/soak.py

clean:
	rm -rf $(VENV) var/itb.sqlite3 var/celery-broker var/cache var/celerybeat-schedule*
