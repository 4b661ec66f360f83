# digitrec: `make run` serves the app, `make test` runs every test, `make bench` measures speed.
# The first Python found in TensorFlow 2.21's range (3.11-3.13), the production version first;
# `make PYTHON=/path/to/python3.12 ...` picks another.
PYTHON ?= $(shell for candidate in python3.11 python3.12 python3.13 python3; do \
	"$$candidate" -c 'import sys; sys.exit(not (3, 11) <= sys.version_info[:2] <= (3, 13))' \
	>/dev/null 2>&1 && { echo "$$candidate"; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 5000
export PORT

.PHONY: install install-dev chromium run test lint bench train evaluate slug-size clean

$(BIN)/python:
	@test -n "$(PYTHON)" || { echo "No supported Python found: digitrec needs Python 3.11, 3.12 or 3.13" \
	  "(TensorFlow 2.21's range). Install one (e.g. apt install python3.11, brew install python@3.12)" \
	  "or name it: make PYTHON=/path/to/python3.12 ..." >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.train: requirements-train.txt requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-train.txt
	touch $(VENV)/.runtime $@

$(VENV)/.dev: requirements-dev.txt requirements-train.txt requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(VENV)/.runtime $(VENV)/.train $@

install: $(VENV)/.runtime

install-dev: $(VENV)/.dev chromium

# The browser tests drive a system Chromium when there is one (tests/browser_helpers.py finds it:
# $$DIGITREC_CHROMIUM, /usr/bin/chromium, `chromium` on PATH), else Playwright's own download.
chromium: $(VENV)/.dev
	@found="$$($(BIN)/python -c 'from tests.browser_helpers import system_chromium; print(system_chromium() or "")')"; \
	if [ -n "$$found" ]; then echo "browser tests use $$found"; \
	elif $(BIN)/playwright install chromium; then echo "browser tests use Playwright's Chromium"; \
	else echo "No Chromium for the browser tests: install one (apt install chromium, brew install --cask" \
	  "chromium) or set DIGITREC_CHROMIUM=/path/to/chromium, or let 'playwright install chromium'" \
	  "download its own (needs network)." >&2; exit 1; fi

run: install
	@echo "digitrec serves http://127.0.0.1:$(PORT) (Ctrl-C stops it; PORT=5001 make run picks another port)"
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

train: $(VENV)/.train
	$(BIN)/python -m digitrec train

evaluate: install
	$(BIN)/python -m digitrec evaluate --split test

# The Heroku slug's compressed size, built as the Python buildpack builds it (scripts/slug_size.py).
slug-size: install
	$(BIN)/python scripts/slug_size.py

clean:
	rm -rf tmp/store tmp/test-* .pytest_cache .ruff_cache
