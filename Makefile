# openvod — two commands: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8080
DATA ?= openvod-data

.PHONY: install dev run test lint typecheck unit clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet -e .

dev: $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'

# Start openvod on embedded defaults, ingest a generated demo clip, print its URLs.
run: install
	$(BIN)/openvod demo --data-dir $(DATA) --port $(PORT)

lint: dev
	$(BIN)/ruff check openvod tests bench

typecheck: dev
	$(BIN)/mypy

unit: dev
	$(BIN)/python -m pytest -q -p no:cacheprovider

test: dev lint typecheck unit

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
