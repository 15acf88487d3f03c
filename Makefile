# Two commands on a fresh Debian machine with Python 3.11+:
#   make demo   -> system packages, virtual environment, then the demo brief in reportgen-out/
#   make test   -> system packages, virtual environment, then the whole test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
OUT    ?= reportgen-out

.PHONY: demo test lint bench system-deps clean

demo: system-deps $(STAMP)
	$(BIN)/reportgen demo --out $(OUT)
	@echo "Open $(OUT)/brief.pdf"

test: system-deps $(STAMP)
	$(BIN)/python -m pytest -q

# Style, the import contract of the layers (pyproject [tool.importlinter]) and types.
lint: $(STAMP)
	$(BIN)/ruff check reportgen tests benchmarks data
	$(BIN)/ruff format --check reportgen tests benchmarks data
	$(BIN)/lint-imports
	$(BIN)/mypy

system-deps:
	@PYTHON=$(PYTHON) ./scripts/install-system-deps.sh

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[test,dask]"
	@touch $(STAMP)

clean:
	rm -rf $(VENV) $(OUT) build *.egg-info .pytest_cache
