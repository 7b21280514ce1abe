# Two commands do all set-up on a fresh machine with Python 3.11 and pip:
#   make reproduce   # the main job: every table and figure at the default scale
#   make test        # the test suite
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | cksum | cut -d' ' -f1)
CORES ?= 2
export HF_HUB_OFFLINE := 1
export DVC_NO_ANALYTICS := 1
export PYTHONUNBUFFERED := 1

.PHONY: setup reproduce smoke test bench schema clean-smoke remote push pull fetch-models

$(STAMP): requirements.lock pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	$(BIN)/engine remote || echo "no DVC remote configured (README, 'Sharing results')"
	rm -f $(VENV)/.installed-* && touch $@

setup: $(STAMP)

reproduce: setup
	$(BIN)/snakemake --cores $(CORES) --show-failed-logs --config scale=default

smoke: setup
	$(BIN)/snakemake --cores $(CORES) --show-failed-logs --config scale=smoke

test: setup
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python bench/overhead.py

fetch-models: setup   # paper scale: pin hub models (needs huggingface.co)
	HF_HUB_OFFLINE=0 $(BIN)/engine fetch-models

schema: setup
	$(BIN)/engine schema -o engine/spec.schema.json

# Sharing results through DVC (README, "Sharing results: DVC"). DVC_REMOTE_DIR=/path picks
# a local directory remote; without it the configured default (or ../dvc-remote) is used.
remote: setup
	$(BIN)/engine remote

push: setup
	$(BIN)/engine push

pull: setup
	$(BIN)/engine pull
