# smsflow — the two commands: `make demo` (a real campaign on embedded defaults) and `make test`.
SHELL := /bin/bash
export UV_PYTHON_DOWNLOADS := never
export UV_LINK_MODE := copy
# Installed modules compiled once: with PYTHONDONTWRITEBYTECODE set (as on the CI machines) every process would
# compile Airflow, SQLAlchemy and Great Expectations from source at each start.
export UV_COMPILE_BYTECODE := 1
UV = $(shell scripts/bootstrap-uv.sh)
BUCKET ?= bucket
ROWS ?= 10000

PORT ?= 8080
HOST ?= 127.0.0.1
SPEC ?= specs/soldes-vip.yaml

.PHONY: install demo demo-direct airflow airflow-stop trigger stack stack-down stack-status test test-unit soak bench clean

.venv/.installed: pyproject.toml uv.lock plugins/smsflow-provider/pyproject.toml
	$(UV) sync --frozen --all-groups --reinstall-package smsflow-provider
	@touch $@

install: .venv/.installed

demo: install  ## a whole campaign run by Airflow (standalone) against the SMSC simulator, approved via the REST API
	.venv/bin/smsflow demo --bucket $(BUCKET) --rows $(ROWS) --port $(PORT)

demo-direct: install  ## the same campaign driven by pipelines alone, without Airflow (~15 s)
	.venv/bin/smsflow demo --direct --bucket $(BUCKET) --rows $(ROWS)

airflow: install  ## Airflow and the simulator left running: http://127.0.0.1:8080, user admin, a new password printed at start
	.venv/bin/smsflow airflow --bucket $(BUCKET) --port $(PORT) --host $(HOST)

airflow-stop:  ## stop `make airflow` and every process it started (from another terminal)
	.venv/bin/smsflow airflow --stop

trigger:  ## a campaign run on the running `make airflow`: SPEC is a spec in its bucket (default specs/soldes-vip.yaml)
	.venv/bin/smsflow airflow --trigger $(SPEC)

stack: install  ## the production stack on this machine: PostgreSQL, Redis, moto (S3+SQS), Airflow (FAB, Celery, two workers), receiver, links, SMSC simulator
	.venv/bin/python -m pipelines.stack up

stack-down:  ## stop exactly what `make stack` started (never the machine's own PostgreSQL or Redis)
	.venv/bin/python -m pipelines.stack down

stack-status:  ## what `make stack` runs, and the Celery workers that answer
	.venv/bin/python -m pipelines.stack status

test: install  ## the whole test suite (the stack test included; the soak is `make soak`); installs Debian's chromium when missing
	@# The browser tests (tests/browser) drive Debian's chromium: Playwright cannot download a browser here.
	@if [ ! -x /usr/bin/chromium ]; then \
	  echo "Installing Debian's chromium for the browser tests (tests/browser) …"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; elif sudo -n true 2>/dev/null; then SUDO="sudo -n"; else \
	    echo "error: /usr/bin/chromium is missing and this user may not install it: run 'sudo apt-get install chromium' once, then make test again" >&2; \
	    exit 1; fi; \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q && \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium || exit 1; \
	fi
	@# --no-loadscope-reorder: the files run in tests/conftest.py's order (the longest first); xdist's default puts
	@# the files with the most tests first, which left the whole-Airflow files (one or two tests each) for the end.
	.venv/bin/python -m pytest -n 2 --dist loadfile --no-loadscope-reorder -q -m "not soak"

soak: install  ## the stack test with a bigger second drop (KILL_ROWS=100000) for the worker killed mid-dispatch
	SMSFLOW_STACK_KILL_ROWS=$(or $(KILL_ROWS),100000) .venv/bin/python -m pytest -q tests/stack

test-unit: install  ## the fast part: pure functions and files, no process, no socket, no Airflow (under a minute)
	.venv/bin/python -m pytest -m unit -n 2 -q tests/unit

bench: install  ## plan-stage benchmark against a row-wise baseline (ROWS=1000000 by default)
	.venv/bin/python bench/plan.py --rows $(if $(filter 10000,$(ROWS)),1000000,$(ROWS))

bench-warehouse: install  ## the warehouse (lake) against a single DuckDB file: load, stats, CSV, views, queries under load (RECIPIENTS=10000000)
	.venv/bin/python bench/warehouse.py --recipients $(or $(RECIPIENTS),10000000)

bench-links-plan: install  ## what tracked links (URL-1, 2 per message) add to smsflow plan (ROWS=1000000 by default)
	.venv/bin/python bench/links_plan.py --rows $(if $(filter 10000,$(ROWS)),1000000,$(ROWS))

bench-links: install  ## the short-link service against FastAPI + SQLite: redirects/s, p50/p99, RSS, lost clicks (LINKS=10000000)
	.venv/bin/python bench/links.py --links $(or $(LINKS),10000000) --repeat 2

clean:
	rm -rf .venv .tools $(BUCKET) bench/out airflow_home .stack
