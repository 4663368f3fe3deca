# Quick start: `make demo` (train + evaluate on the bundled demo data), `make test`.
# Both install the pinned stack into .venv/ on first use (tools/install.sh; seconds later).
PY := .venv/bin/python

.PHONY: install demo test lint format mutate
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

# Mutation testing of wider_mm/models and wider_mm/converters (docs/testing.md; not part of
# `make test`). mutmut is pinned in requirements/dev.txt; results stay in mutants/.
# One torch thread per mutant process: two processes share the two cores.
mutate: install
	@$(PY) -c 'import mutmut' 2>/dev/null || $(PY) -m pip install -r requirements/dev.txt
	@OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 .venv/bin/mutmut run --max-children 2 $(MUTANTS); .venv/bin/mutmut results
