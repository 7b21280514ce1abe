# Two commands do all set-up on a fresh machine with Python 3.11 and pip:
#   make reproduce   # the main job: every table and figure at the default scale
#   make test        # the test suite
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | cksum | cut -d' ' -f1)
CORES ?= 2
SCALE ?= smoke
PROFILE ?= local
SNAKEMAKE = $(BIN)/snakemake --profile profiles/$(PROFILE) --cores $(CORES)
SLURM_PLUGIN := $(VENV)/slurm-plugin
export HF_HUB_OFFLINE := 1
export DVC_NO_ANALYTICS := 1
export PYTHONUNBUFFERED := 1

.PHONY: setup reproduce smoke test fuzz bench gpu-check gpu-wheels schema clean-smoke remote push pull fetch-models report cluster slurm-plugin system-deps upgrade-store

$(STAMP): requirements.lock pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	$(BIN)/engine remote || echo "no DVC remote configured (README, 'Sharing results')"
	rm -f $(VENV)/.installed-* && touch $@

setup: $(STAMP)

# PAPER=<id> (the specs' `paper:` field, e.g. 2510.10767): only that paper's tables and figures
reproduce: setup
	$(SNAKEMAKE) --config scale=default $(if $(PAPER),paper=$(PAPER))

smoke: setup
	$(SNAKEMAKE) --config scale=smoke

# One self-contained HTML page with every table, figure and sample grid of SCALE (default:
# smoke; `make report SCALE=default` after `make reproduce` reuses its results): runs what is
# missing first. README, "Report".
report: setup
	$(SNAKEMAKE) --config scale=$(SCALE) --report build/report/$(SCALE).html --report-after-run report_items
	@echo "report: build/report/$(SCALE).html ($$(du -h build/report/$(SCALE).html | cut -f1))"

# The DAG of SCALE through SLURM from a login node (README, "Cluster"). The plugin lives in
# $(SLURM_PLUGIN), on PYTHONPATH only here: with it importable every snakemake start queries
# SLURM (about 10 s when no controller answers).
cluster: setup slurm-plugin
	PYTHONPATH=$(CURDIR)/$(SLURM_PLUGIN) $(BIN)/snakemake --profile profiles/slurm --config scale=$(SCALE)

slurm-plugin: $(SLURM_PLUGIN)/.installed

$(SLURM_PLUGIN)/.installed: requirements-slurm.lock $(STAMP)
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps --upgrade --target $(SLURM_PLUGIN) \
		-r requirements-slurm.lock
	touch $@

# Debian packages the browser and SLURM tests need (chromium, slurm-wlm, munge): installed
# when missing if root; otherwise listed (those tests then skip, except in CI).
system-deps:
	sh .ci/system-deps.sh

test: setup slurm-plugin system-deps
	$(BIN)/python -m pytest -q -n 2 --dist loadfile --no-loadscope-reorder

# The two hypothesis fuzzers (spec loader; stored results) with many more examples than `make test`.
fuzz: setup
	FUZZ_EXAMPLES=20000 $(BIN)/python -m pytest -q -p no:cacheprovider tests/test_fuzz_specs.py tests/test_fuzz_store.py

bench: setup
	$(BIN)/python bench/overhead.py
	$(BIN)/python bench/rl_epoch.py
	$(BIN)/python bench/contention.py
	$(BIN)/python bench/validation.py

# The prepared GPU check's CPU modes (README, "GPU check"; on the GPU machine: sh bench/gpu_check.sh, with
# that machine's torch): tiny models, as make test runs it, or with SHALLOW=1 the published widths one block
# deep (16 GiB, minutes). A JSON report in build/.
gpu-check: setup
	@mkdir -p build
	$(BIN)/python bench/gpu_check.py --device cpu $(if $(SHALLOW),--shallow,--tiny) --out build/gpu_check_cpu.json

# The wheels the GPU machine lacks (no registry there), pinned by requirements.lock, into .whl/.
gpu-wheels: setup
	$(BIN)/python bench/gpu_wheels.py

fetch-models: setup   # paper scale: pin hub models (needs huggingface.co)
	HF_HUB_OFFLINE=0 $(BIN)/engine fetch-models

schema: setup
	$(BIN)/engine schema -o engine/spec.schema.json

# A store filled before the plug-in refactor (one stage rule instead of one per stage kind):
# Snakemake's code/params triggers see a changed rule text for every job manifest. The jobs are
# content-addressed (their names hash their instances), so that metadata carries no identity:
# forget it once and `snakemake -n` plans nothing (README, "Code and config identity"). Then seal
# the provenance records written before they carried a whole-record digest (engine upgrade-store).
upgrade-store: setup
	$(BIN)/snakemake --cores 1 --cleanup-metadata $$(ls results/jobs/*/*.json 2>/dev/null)
	$(BIN)/engine upgrade-store

# Sharing results through DVC (README, "Sharing results: DVC"). DVC_REMOTE_DIR=/path picks
# a local directory remote; without it the configured default (or ../dvc-remote) is used.
remote: setup
	$(BIN)/engine remote

push: setup
	$(BIN)/engine push $(if $(PAPER),--paper $(PAPER))

pull: setup
	$(BIN)/engine pull $(if $(PAPER),--paper $(PAPER))
