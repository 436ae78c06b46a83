# Loadout — the two commands a newcomer needs are `make demo` and `make test`.
# Everything is provisioned on first use and reused afterwards (cache: $LOADOUT_CACHE, default ~/.cache/loadout).
SHELL := /bin/bash
# COMFY selects the ComfyUI everything runs on: empty (or 0.3.75) = the pinned ComfyUI 0.3.75; COMFY=0.33 = ComfyUI
# 0.33.0 from ../shared/comfyui-0.33.0 (override: COMFY_SRC), with its own venv (.venv-0.33), harness and env file,
# provisioned on first use: `make test COMFY=0.33`. Without that tree it prints one line and exits 0.
# COMFYUI_PATH=/your/ComfyUI still selects any other ComfyUI (with the default venv and harness).
COMFY ?=
ifneq ($(filter 0.33 0.33.0,$(COMFY)),)
  VENV ?= $(CURDIR)/.venv-0.33
  COMFY_SRC ?= $(abspath $(CURDIR)/../shared/comfyui-0.33.0)
  export LOADOUT_COMFY := 0.33
  export LOADOUT_COMFY_SRC := $(COMFY_SRC)
  ifeq ($(wildcard $(COMFY_SRC)/main.py)$(COMFYUI_PATH),)
    $(info [loadout] COMFY=0.33 skipped: no ComfyUI 0.33.0 tree at $(COMFY_SRC) (CI provides it; set COMFY_SRC))
    SKIP := @exit 0;
  endif
else ifneq ($(filter-out 0.3.75,$(COMFY)),)
  $(error COMFY=$(COMFY): known versions are 0.3.75 (the default) and 0.33)
else
  export LOADOUT_COMFY :=
endif
# FRONTEND selects another ComfyUI frontend than the one the ComfyUI under test bundles: a comfyui-frontend-package
# release from PyPI (FRONTEND=1.58: the newest 1.58.x; FRONTEND=1.58.1: that one), fetched once into the cache by
# scripts/frontend.sh and served with --front-end-root by every server the tests start, e.g.
# `make test-browser COMFY=0.33 FRONTEND=1.58`.
FRONTEND ?=
ifneq ($(FRONTEND),)
  FRONTEND_ROOT := $(shell bash scripts/frontend.sh $(FRONTEND))
  ifeq ($(FRONTEND_ROOT),)
    $(error FRONTEND=$(FRONTEND): scripts/frontend.sh found no such comfyui-frontend-package release)
  endif
  export LOADOUT_SERVER_ARGS := $(LOADOUT_SERVER_ARGS) --front-end-root $(FRONTEND_ROOT)
  export LOADOUT_FRONTEND := $(FRONTEND)
endif
# The browser layer (the real frontend in headless chromium): also part of `make test`.
BROWSER_TESTS := tests/integration/test_frontend_reports.py tests/integration/test_frontend_workflows.py \
  tests/integration/test_saved_workflows_v1.py tests/integration/test_template_browser.py
SKIP ?=
PYTEST_ARGS ?=  # e.g. PYTEST_ARGS="-x --junitxml=out/junit.xml"
VENV ?= $(CURDIR)/.venv
PY := $(VENV)/bin/python
export LOADOUT_VENV := $(VENV)
NAME ?=
# UNIT_ONCE=1: leave out the pure unit tests (those not running ComfyUI in-process), for a second ComfyUI version's
# pass after a first full one (.ci/run); integration, workflow, reliability and browser layers always run in full.
UNIT_ONCE ?=
export LOADOUT_UNIT_ONCE := $(UNIT_ONCE)

.PHONY: all provision models test test-browser test-unit test-integration test-workflows test-reliability soak demo bench bench-gpu gpu-prepare run requests clean

all: test

provision:
	$(SKIP)bash scripts/provision.sh

models: provision
	$(SKIP)$(PY) scripts/make_tiny_models.py

test: models
	$(SKIP)$(PY) -m pytest tests $(PYTEST_ARGS)

test-browser: models
	$(SKIP)$(PY) -m pytest $(BROWSER_TESTS) $(PYTEST_ARGS)

test-unit: provision
	$(SKIP)$(PY) -m pytest tests/unit $(PYTEST_ARGS)

test-integration: models
	$(SKIP)$(PY) -m pytest tests/integration $(PYTEST_ARGS)

test-workflows: models
	$(SKIP)$(PY) -m pytest tests/workflows $(PYTEST_ARGS)

test-reliability: models
	$(SKIP)$(PY) -m pytest tests/reliability $(PYTEST_ARGS)

soak: models
	$(SKIP)LOADOUT_SOAK_N=200 $(PY) -m pytest tests/reliability/test_soak.py -s

demo: models
	$(SKIP)$(PY) scripts/demo.py

bench: models
	$(SKIP)$(PY) bench/run.py $(NAME)

# The GPU suite (bench/gpu/). `make bench-gpu` runs it on the GPU machine (bench/gpu/run_on_device.sh: the wheels
# and the ComfyUI copy from .gpu/, made here by `make gpu-prepare`; results in $$OUT or bench/results/gpu/).
# `make bench-gpu DRY=1` runs every case at toy sizes on this CPU into out/gpu-dry-run/ (DRY=1, not --dry-run:
# make takes --dry-run as its own -n). ARGS passes options on, e.g. ARGS="--only vae_tiled".
DRY ?=
bench-gpu: $(if $(filter 1,$(DRY)),provision,)
ifeq ($(DRY),1)
	$(SKIP)$(PY) bench/gpu/suite.py --dry-run $(ARGS)
else
	bash bench/gpu/run_on_device.sh $(ARGS)
endif

gpu-prepare: provision
	$(SKIP)PY=$(PY) bash scripts/gpu_prepare.sh $(ARGS)

# `loadout-run` / `loadout-requests` (cli/) on the harness ComfyUI, started for the run (or ARGS="--url ...").
WORKFLOW ?= workflows/api/lora_stack.json
REQUESTS ?=
ARGS ?=
run: models
	$(SKIP)$(PY) tests/harness/local_run.py run $(WORKFLOW) $(ARGS)

requests: models
	$(SKIP)test -n "$(REQUESTS)" || { echo "usage: make requests REQUESTS=requests.json [ARGS=...]" >&2; exit 2; }
	$(SKIP)$(PY) tests/harness/local_run.py requests $(REQUESTS) $(ARGS)

clean:
	rm -rf out .pytest_cache
