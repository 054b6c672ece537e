# cfmarl: `make run` sets up .venv and runs the main job; `make test` sets up and runs the tests.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
EPISODES ?= 20
SEED ?= 0

.PHONY: run test install bench constraints clean

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# the CPU build of torch first, so that nothing can pull a CUDA build
	$(PY) -m pip install --quiet -c constraints.txt torch==2.13.0
	$(PY) -m pip install --quiet -c constraints.txt -e ".[rl,dev]"
	touch $@

install: $(VENV)/.installed

run: install
	$(VENV)/bin/cfmarl evaluate --env aps --scenario medium --policy all --episodes $(EPISODES) --seed $(SEED)

test: install
	$(PY) -m pytest -q

bench: install
	$(PY) benchmarks/env_throughput.py --out benchmarks/results/env_throughput.md

constraints: install
	$(PY) -m pip freeze --exclude-editable | grep -v -E '^(pip|setuptools|wheel)==' | sed 's/+cpu//' > constraints.txt

clean:
	rm -rf $(VENV) .pytest_cache
