# Two commands for a fresh machine (both safe to repeat):
#   make demo   set up and run the server on the demo defaults
#   make test   set up and run the checks: ruff, mypy, then pytest
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PORT   ?= 8000

.PHONY: setup demo test lint format bench indexes

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(BIN)/python -m server --demo --port $(PORT)

test: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m pytest

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: setup
	$(BIN)/python -m scripts.bench

indexes: setup
	$(BIN)/python -m scripts.ensure_indexes
