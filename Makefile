# smsflow — the two commands: `make demo` (a real campaign on embedded defaults) and `make test`.
SHELL := /bin/bash
export UV_PYTHON_DOWNLOADS := never
export UV_LINK_MODE := copy
UV = $(shell scripts/bootstrap-uv.sh)
BUCKET ?= bucket
ROWS ?= 10000

.PHONY: install demo test bench clean

.venv/.installed: pyproject.toml uv.lock
	$(UV) sync --frozen --all-groups
	@touch $@

install: .venv/.installed

demo: install  ## generate a CRM export in ./bucket, plan a sample campaign, print its summary
	.venv/bin/smsflow demo --bucket $(BUCKET) --rows $(ROWS)

test: install  ## the whole test suite
	.venv/bin/python -m pytest -n 2 -q

bench: install  ## plan-stage benchmark against a row-wise baseline (ROWS=1000000 by default)
	.venv/bin/python bench/plan.py --rows $(if $(filter 10000,$(ROWS)),1000000,$(ROWS))

clean:
	rm -rf .venv .tools $(BUCKET) bench/out
