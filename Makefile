# probnn: every target sets up what it needs on a fresh machine.
#   make demo      fit every model/backend on scikit-learn's diabetes data, print a table, write plots
#   make test      the fast test suite (what CI runs)
#   make test-all  the full suite, including slow statistical checks and notebook/benchmark smoke runs
#   make bench     run the benchmarks, writing benchmarks/results/*.json and *.md
#   make lint      ruff
# TORCH_SPEC / TORCH_CONSTRAINTS choose the torch build (default: the CPU build pinned in
# constraints-torch.txt), e.g. `make test TORCH_SPEC="torch==2.13.0" TORCH_PIP_ARGS="--index-url https://download.pytorch.org/whl/cpu"`.

PYTHON ?= python3
VENV ?= .venv
TORCH_CONSTRAINTS ?= constraints-torch.txt
TORCH_SPEC ?= $(shell grep -E '^torch' $(TORCH_CONSTRAINTS) | head -n 1)
TORCH_PIP_ARGS ?=
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed
OUT ?= demo-output

.PHONY: demo test test-all bench lint install clean

$(STAMP): pyproject.toml $(TORCH_CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip setuptools wheel
	$(PY) -m pip install $(TORCH_PIP_ARGS) "$(TORCH_SPEC)"
	$(PY) -m pip install -c $(TORCH_CONSTRAINTS) -e ".[dev,botorch]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/probnn demo --out $(OUT)

test: $(STAMP)
	$(PY) -m pytest -n 2 -q

test-all: $(STAMP)
	$(PY) -m pytest -n 2 -q -m "" 

bench: $(STAMP)
	@for script in benchmarks/bench_*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

lint: $(STAMP)
	$(BIN)/ruff check probnn tests benchmarks examples

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache
