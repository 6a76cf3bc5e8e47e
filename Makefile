# Two entry points: `make demo` (set up, then run the main job) and `make test`.
# Set-up creates .venv and installs moldiff with constraints.txt, which pins the CPU torch wheel.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.moldiff-installed
OUT ?= demo-output

.PHONY: setup demo test clean moses

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/moldiff sample --guidance cfg --gamma 2 --target rings --out $(OUT)/samples.csv

test: $(STAMP)
	$(BIN)/python -m pytest -q --durations=15 -n auto

# MOSES (issue 30): fetch its data once into data/moses/ (pip download of the molsets wheel, sha256-checked).
moses: $(STAMP)
	$(BIN)/moldiff data fetch moses --root .

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache
