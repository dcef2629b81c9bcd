# openvod — two commands: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8080
DATA ?= openvod-data

.PHONY: install dev run test test-deps lint typecheck unit clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -qq --upgrade pip

# -qq: errors only. editable_mode=compat: a plain .pth, without setuptools' notice about
# the import finder it would otherwise install.
install: $(BIN)/python
	$(BIN)/pip install -qq -e . --config-settings editable_mode=compat

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

# System packages and player libraries the tests need: Debian's chromium, hls.js,
# dash.js and shaka-player from npm (into .npm-deps/), playwright (never a browser download).
test-deps: dev
	bash scripts/test-deps.sh

test: dev test-deps lint typecheck unit

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
