# Two targets a newcomer needs: `make demo` (the main job) and `make test`.
# Both set up what they need first (a virtualenv in .venv, the pinned npm packages).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test setup check bench

setup: $(VENV)/.installed contracts/node_modules/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev,devchain]'
	touch $@

contracts/node_modules/.installed: contracts/package.json contracts/package-lock.json
	npm ci --prefix contracts --no-audit --no-fund
	touch $@

demo: setup
	$(BIN)/dcmx demo

test: setup
	$(BIN)/pytest

# What CI checks besides the tests: compiled contracts and generated code are fresh, lint,
# types (mypy --strict on the packages pyproject.toml names).
check: setup
	npm --prefix contracts run check
	$(BIN)/dcmx-codegen --check
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: setup
	$(BIN)/python -m bench
