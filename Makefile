# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-e2e test-all install clean-cache bench bench-train bench-ingest

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip

# Re-install when the package metadata changes.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/balance-run $(ARGS)

# The test suite on TEST_WORKERS processes (files stay whole on one worker, so module-scoped runs are made once):
# `make test` the default set (unit tests and the quick end-to-end runs of the console scripts, within about 10
# minutes on 2 cores), `make test-e2e` the slow end-to-end runs (a real one-node SLURM cluster among them),
# `make test-all` both. CI (.ci/run) runs `make test` and then `make test-e2e`.
TEST_WORKERS ?= 2
test: $(STAMP)
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile -m "not slow" $(PYTEST_ARGS)

test-e2e: $(STAMP)
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile -m slow $(PYTEST_ARGS)

test-all: $(STAMP)
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python scripts/benchmark_smote.py

# Training loop against the same steps on synthetic tensors (pipeline efficiency), images/s, MFU on CUDA.
bench-train: $(STAMP)
	$(BIN)/python scripts/benchmark_training.py $(ARGS)

# Image-folder ingest (listing, split, decode, cache write) against a plain read + decode loop, same files and threads.
bench-ingest: $(STAMP)
	$(BIN)/python scripts/benchmark_ingest.py $(ARGS)

clean-cache: $(STAMP)
	$(BIN)/balance-cache clear
