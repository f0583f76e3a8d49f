# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-fast install clean-cache bench bench-train bench-ingest

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

# The whole suite, end-to-end runs of the console scripts included, on TEST_WORKERS processes
# (files stay whole on one worker, so module-scoped runs are made once). `make test-fast` skips the
# slow end-to-end tests.
TEST_WORKERS ?= 2
test: $(STAMP)
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) -m "not slow" $(PYTEST_ARGS)

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
