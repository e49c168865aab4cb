# qpconv: the two commands of the README.
#   make book   build the executable book and reproduce the figures (quick settings; PRESET=full for the paper's)
#   make test   run the whole test suite
# Each creates its own virtual environment (.venv) and installs what it needs.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PRESET ?= quick
export QPCONV_DATA ?= $(CURDIR)/data

.PHONY: book test lab data system-deps venv clean

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	touch $@

system-deps:
	bash scripts/system_deps.sh

# Fashion-MNIST and CIFAR-10 in $(QPCONV_DATA): kept if present, else from a local copy or downloaded.
data: venv
	$(PY) -m qpconv data get fashion-mnist cifar10

# Lint, types, unit and source tests (the workflows and the wheel among them), the docstrings'
# examples; then nbval executes every notebook once and saves it, the book is built from those
# executions, and the rendered pages are checked in Chromium.
test: system-deps venv data
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy
	$(PY) -m pytest tests --ignore=tests/test_book_rendered.py
	$(PY) -m pytest --doctest-modules qpconv
	$(PY) -m pytest --nbval-lax --nbval-current-env notebooks/ --executed-notebooks _build/executed
	$(PY) scripts/build_book.py --no-execute
	$(PY) -m pytest tests/test_book_rendered.py

# The executable book: run every notebook with papermill (PRESET=quick|full), then
# build the HTML with warnings as errors; prints where index.html is.
book: system-deps venv data
	$(PY) scripts/build_book.py --preset $(PRESET)

# JupyterLab on the notebooks, with the package importable (scripts/lab.sh: as root it adds
# --allow-root). The notebooks use the kernel "python3", which inside the venv is the venv's
# own Python; "Python (qpconv)" is also registered for Jupyter installations outside the venv.
# LAB_ARGS go to JupyterLab, e.g. make lab LAB_ARGS="--no-browser --port=8899".
LAB_ARGS ?=
lab: venv
	bash scripts/lab.sh $(PY) $(LAB_ARGS)

clean:
	rm -rf _build build
