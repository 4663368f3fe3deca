# Quick start: `make demo` (train + evaluate on the bundled demo data), `make test`.
# Both install the pinned stack into .venv/ on first use (tools/install.sh; seconds later).
PY := .venv/bin/python

.PHONY: install demo test lint format
install:
	@bash tools/install.sh

demo: install
	@bash tools/demo.sh

test: install
	@$(PY) -m pytest -q tests

lint: install
	@$(PY) -m ruff check . && $(PY) -m ruff format --check .

format: install
	@$(PY) -m ruff check --fix . && $(PY) -m ruff format .
