# `make run` and `make test` are the two commands a newcomer needs; both set up first.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
TWIN_HOME ?= $(CURDIR)/.twin
export TWIN_HOME
export DAGSTER_HOME := $(TWIN_HOME)/dagster
export DAGSTER_COMPUTE_LOG_DIR := $(TWIN_HOME)/dagster/compute-logs
export GX_ANALYTICS_ENABLED := false
export BENTOML_DO_NOT_TRACK := true
export HF_HUB_OFFLINE := 1
SETUP_STAMP := $(VENV)/.setup-stamp

.PHONY: setup run materialize ui test bench clean

setup: $(SETUP_STAMP)

# Re-installs only when the dependency files change, so a second `make setup` does nothing.
$(SETUP_STAMP): pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) is required"; exit 1; }
	@command -v git >/dev/null || { echo "git is required"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	mkdir -p $(DAGSTER_HOME) $(DAGSTER_COMPUTE_LOG_DIR)
	cp dagster.yaml $@

# Materialize every asset on the embedded defaults, then serve the UI on 127.0.0.1:3000.
run: materialize ui

materialize: setup $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/dagster definitions validate -m twin_assets.definitions
	$(BIN)/dagster asset materialize -m twin_assets.definitions --select '*'

ui: setup $(DAGSTER_HOME)/dagster.yaml
	set -m; exec $(BIN)/dagster dev -m twin_assets.definitions --host 127.0.0.1 --port 3000

test: setup
	$(BIN)/python -m pytest

bench: setup
	$(BIN)/python bench/collect_realworld.py
	$(BIN)/python bench/clean_realworld.py
	$(BIN)/python bench/features_realworld.py
	$(BIN)/python bench/datasets_realworld.py

clean:
	rm -rf $(TWIN_HOME)
