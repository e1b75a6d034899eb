# The README's two commands: `make run` and `make test`. Each builds what it needs on first use.
PYTHON ?= python3.11
VENV ?= .venv
SCALESIM_VENV ?= .venv-scalesim
ZIGZAG_VENV ?= .venv-zigzag
PY := $(VENV)/bin/python
PEERS := ACCELSIM_SCALESIM_PYTHON=$(abspath $(SCALESIM_VENV))/bin/python \
	ACCELSIM_ZIGZAG_PYTHON=$(abspath $(ZIGZAG_VENV))/bin/python

.PHONY: run test lint bench scalesim-venv zigzag-venv clean

# The product alone: `make run` needs no optional extra (and stays torch-free).
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	touch $@

# What the tests exercise: the importers (torch CPU build, onnx), notebooks (pandas), ruff, mypy.
$(VENV)/.installed-test: $(VENV)/.installed
	$(PY) -m pip install --quiet -e '.[dev,torch,onnx,pandas]'
	touch $@

# SCALE-Sim 3.0.0 needs numpy < 2.4, so it lives in an environment of its own and the
# cross-validation tests drive it by subprocess.
$(SCALESIM_VENV)/.installed:
	$(PYTHON) -m venv $(SCALESIM_VENV)
	$(SCALESIM_VENV)/bin/python -m pip install --quiet 'scalesim==3.0.0' 'numpy<2.4'
	touch $@

scalesim-venv: $(SCALESIM_VENV)/.installed

# ZigZag 3.9 (the second peer, docs/validation.md) in its own environment too, driven by
# subprocess through scripts/zigzag_run.py; `six` is an undeclared dependency of its wheel.
$(ZIGZAG_VENV)/.installed:
	$(PYTHON) -m venv $(ZIGZAG_VENV)
	$(ZIGZAG_VENV)/bin/python -m pip install --quiet 'zigzag-dse==3.9.1' six
	touch $@

zigzag-venv: $(ZIGZAG_VENV)/.installed

run: $(VENV)/.installed
	$(VENV)/bin/accelsim codesign --out results/codesign

lint: $(VENV)/.installed-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

test: lint $(SCALESIM_VENV)/.installed $(ZIGZAG_VENV)/.installed
	$(PEERS) $(PY) -m pytest -q

# Every benchmark, one after another (several minutes; the machine should be otherwise idle).
bench: $(VENV)/.installed-test $(SCALESIM_VENV)/.installed
	$(PY) benchmarks/bench_analytical.py
	$(PEERS) $(PY) benchmarks/bench_event.py
	$(PY) benchmarks/bench_event.py --sparse
	$(PY) benchmarks/bench_kernels.py
	$(PY) benchmarks/bench_sweep.py
	$(PY) benchmarks/bench_training.py
	$(PY) benchmarks/bench_import.py
	$(PY) benchmarks/bench_limits.py

clean:
	rm -rf $(VENV) $(SCALESIM_VENV) $(ZIGZAG_VENV)
