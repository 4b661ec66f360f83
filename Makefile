# digitrec: `make run` serves the app, `make test` runs every test, `make bench` measures speed.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 5000
export PORT

.PHONY: install install-dev chromium run test lint bench train evaluate clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: requirements-dev.txt requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(VENV)/.runtime $@

install: $(VENV)/.runtime

install-dev: $(VENV)/.dev chromium

chromium:
	@command -v chromium >/dev/null || { \
	  (apt-get update -q && apt-get install -y -q chromium) >/dev/null || \
	  { echo "could not install Debian's chromium (needs root and apt)"; exit 1; }; }

run: install
	MALLOC_MMAP_THRESHOLD_=4194304 MALLOC_TRIM_THRESHOLD_=67108864 MALLOC_ARENA_MAX=8 \
	  $(BIN)/gunicorn --config gunicorn.conf.py app:app

test: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: install
	$(BIN)/python -m bench

train: install
	$(BIN)/python -m digitrec train

evaluate: install
	$(BIN)/python -m digitrec evaluate --split test

clean:
	rm -rf tmp/store tmp/test-* .pytest_cache .ruff_cache
