# Loadout — the two commands a newcomer needs are `make demo` and `make test`.
# Everything is provisioned on first use and reused afterwards (cache: $LOADOUT_CACHE, default ~/.cache/loadout).
SHELL := /bin/bash
VENV ?= $(CURDIR)/.venv
PY := $(VENV)/bin/python
export LOADOUT_VENV := $(VENV)
NAME ?=

.PHONY: all provision models test test-unit test-integration test-workflows test-reliability soak demo bench run clean

all: test

provision:
	bash scripts/provision.sh

models: provision
	$(PY) scripts/make_tiny_models.py

test: models
	$(PY) -m pytest tests

test-unit: provision
	$(PY) -m pytest tests/unit

test-integration: models
	$(PY) -m pytest tests/integration

test-workflows: models
	$(PY) -m pytest tests/workflows

test-reliability: models
	$(PY) -m pytest tests/reliability

soak: models
	LOADOUT_SOAK_N=200 $(PY) -m pytest tests/reliability/test_soak.py -s

demo: models
	$(PY) scripts/demo.py

bench: models
	$(PY) bench/run.py $(NAME)

WORKFLOW ?= workflows/api/lora_stack.json
ARGS ?=
run: models
	$(PY) scripts/run_workflow.py $(WORKFLOW) $(ARGS)

clean:
	rm -rf out .pytest_cache
