PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: help install demo test typecheck bench all

help: ## list the targets
	@grep -E '^[a-z]+:.*##' Makefile | sed 's/:.*## /\t/'

$(BIN)/python:
	$(PY) -m venv $(VENV)

install: $(BIN)/python ## create .venv and install stratum with its dev extras
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'

demo: install ## run the offline demo flow
	$(BIN)/stratum demo

test: install ## run the test suite and the typing checks
	$(BIN)/python -m pytest -q
	$(BIN)/pyright

typecheck: install ## pyright strict over src/ and tests/typing
	$(BIN)/pyright

bench: install ## run the benchmarks (installs the peers they compare against)
	$(BIN)/pip install -q -r benchmarks/requirements.txt
	$(BIN)/python benchmarks/run.py

all: test bench ## everything
