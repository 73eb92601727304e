# tst — test-space training. `make help` lists the targets.
# Stage targets pass Hydra overrides through ARGS, e.g. make collect ARGS="scene.seed=3 frames=128".

SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
TST := $(VENV)/bin/tst
STAMP := $(VENV)/.tst-installed
ARGS ?=
# glibc keeps large arrays on the heap instead of mmap/munmap per allocation (+10–20% measured here
# on large-array code); 32 MiB is the largest mmap threshold glibc accepts.
export MALLOC_MMAP_THRESHOLD_ ?= 33554432
export MALLOC_TRIM_THRESHOLD_ ?= 268435456
# numpy's OpenBLAS only sees small matrices here (per-pixel normals, PCA); its threads would fight the
# ray caster and torch (which has its own thread pool) for the cores.
export OPENBLAS_NUM_THREADS ?= 1
export PYTHONUNBUFFERED := 1

.DEFAULT_GOAL := help
.PHONY: help setup habitat-venv test test-fast lint bench demo results collect pretrain transfer deploy sweep report preview export clean

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-10s\033[0m %s\n", $$1, $$2}'

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

$(STAMP): pyproject.toml
	@# open3d's Python module links against libusb-1.0 (a system library, not on PyPI)
	@ldconfig -p | grep -q 'libusb-1\.0\.so\.0' || { echo "installing libusb-1.0-0 (needed by open3d)"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq libusb-1.0-0; }
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev]"
	@touch $(STAMP)

setup: $(STAMP) ## create .venv and install tst (quick when already done)

# habitat-lab pins numpy 1.26 and gym < 0.23, so the habitat sensor test runs in its own small venv:
# habitat-lab and the packages habitat.core imports (no deps pulled: its simulator and opencv are not
# needed), with .venv layered underneath by a .pth file for torch and tst; its own pins win. ~10 s.
HABITAT_VENV ?= .venv-habitat
HABITAT_STAMP := $(HABITAT_VENV)/.tst-installed
HABITAT_PKGS := habitat-lab==0.3.320260507 numpy==1.26.4 gym==0.22.0 gym-notices==0.1.0 cloudpickle \
	numpy-quaternion==2024.0.13 attrs

$(HABITAT_STAMP): $(STAMP) Makefile
	@test -x $(HABITAT_VENV)/bin/python || $(PY) -m venv $(HABITAT_VENV)
	$(HABITAT_VENV)/bin/python -m pip install -q --no-deps $(HABITAT_PKGS)
	$(PY) -c "import sysconfig; print(f\"import site; site.addsitedir({sysconfig.get_paths()['purelib']!r})\")" \
	  > "$$($(HABITAT_VENV)/bin/python -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")/zz_tst_main_venv.pth"
	@touch $(HABITAT_STAMP)

habitat-venv: $(HABITAT_STAMP) ## the habitat-lab venv (.venv-habitat) the habitat sensor test runs in

test: $(STAMP) $(HABITAT_STAMP) ## run the test suite (what CI runs)
	$(PY) -m pytest -q

test-fast: $(STAMP) ## the tests not marked slow
	$(PY) -m pytest -q -m "not slow"

lint: $(STAMP) ## ruff
	$(VENV)/bin/ruff check tst envs collect pretrain transfer tests bench

bench: $(STAMP) ## benchmarks: ratios measured side by side, JSON under runs/bench/
	$(PY) -m bench

demo: $(STAMP) ## the whole pipeline on the default generated scene (runs/demo/)
	$(PY) -m tst.demo $(ARGS)

collect: $(STAMP) ## tst collect $(ARGS)
	$(TST) collect $(ARGS)
pretrain: $(STAMP) ## tst pretrain $(ARGS)
	$(TST) pretrain $(ARGS)
transfer: $(STAMP) ## tst transfer $(ARGS)
	$(TST) transfer $(ARGS)
deploy: $(STAMP) ## tst deploy $(ARGS)
	$(TST) deploy $(ARGS)
sweep: $(STAMP) ## tst sweep $(ARGS)
	$(TST) sweep $(ARGS)
ANALYSES ?= gain matrix external ablation
results: $(STAMP) ## run the paper's analyses at the recipe (jobs=2) and publish them into docs/results/<analysis>/
	@for a in $(ANALYSES); do \
	  $(TST) sweep experiment=analysis_$$a jobs=2 out=runs/results/$$a $(ARGS) || exit 1; \
	  $(PY) -m tst.publish runs/results/$$a docs/results/$$a "make results ANALYSES=$$a ARGS='$(ARGS)'" || exit 1; \
	done

report: $(STAMP) ## tst report $(ARGS): tables and plots of a finished sweep, e.g. ARGS="dir=runs/sweep/analysis_gain"
	$(TST) report $(ARGS)
preview: $(STAMP) ## tst preview $(ARGS): contact sheet + top-down map of a split
	$(TST) preview $(ARGS)
export: $(STAMP) ## tst export $(ARGS): write a generated scene in the Replica on-disk format
	$(TST) export $(ARGS)

clean: ## remove run outputs (keeps .venv)
	rm -rf runs outputs multirun
