# dmdlab — every target creates the virtualenv it needs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-dev

.PHONY: test sweep notebooks lab bench studies lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: lint
	$(PY) -m pytest -q -n 2 --dist loadfile --durations=15

sweep: $(STAMP)
	$(PY) -m dmdlab sweep --preset default --out results/default

notebooks: $(STAMP)
	$(PY) tools/run_notebooks.py

# JupyterLab on notebooks/; jupytext (in the lab extra) opens each .py as a notebook paired
# with its .ipynb. LAB_ARGS passes options (the tests: --no-browser --port=...).
LAB_STAMP := $(VENV)/.installed-lab
$(LAB_STAMP): $(STAMP)
	$(PY) -m pip install -q -e '.[lab]'
	touch $(LAB_STAMP)

lab: $(LAB_STAMP)
	$(VENV)/bin/jupyter lab --notebook-dir=notebooks $(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_ARGS)

bench: $(STAMP)
	$(PY) benchmarks/bench.py

studies: $(STAMP)
	for s in $$($(PY) studies/_registry.py); do \
		$(PY) studies/$$s.py --quick || exit 1; done
	$(PY) studies/report.py --quick

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
