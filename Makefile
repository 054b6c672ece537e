# cfmarl: `make run` sets up .venv and runs the main job; `make test` sets up and runs the tests.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
EXPERIMENT ?= tune_configs/aps_gnn_medium_quick.yaml

.PHONY: run test install bench reproduce per-user-baselines per-node-baselines constraints clean

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# the CPU build of torch first, so that nothing can pull a CUDA build
	$(PY) -m pip install --quiet -c constraints.txt torch==2.13.0
	$(PY) -m pip install --quiet -c constraints.txt -e ".[rl,dev,offline]"
	touch $@

install: $(VENV)/.installed

# main job: a short fine-tuning of the shipped APS-GNN policy on `medium`, then its evaluation against the baselines
# (re-running resumes an interrupted run; `make run ARGS=--fresh` starts over)
run: install
	$(VENV)/bin/cfmarl train $(EXPERIMENT) $(ARGS)

test: install
	$(PY) -m pytest -q

bench: install
	$(PY) benchmarks/env_throughput.py --out benchmarks/results/env_throughput.md
	$(PY) benchmarks/env_families.py --out benchmarks/results/env_families.md
	$(PY) benchmarks/rllib_throughput.py --out benchmarks/results/rllib_throughput.md
	$(PY) benchmarks/cluster_scaling.py

reproduce: install
	$(PY) benchmarks/aps_reproduction.py --seeds 0 1 2 --iterations 70 --parallel 2

per-user-baselines: install
	$(PY) benchmarks/per_user_baselines.py

per-node-baselines: install
	$(PY) benchmarks/per_node_baselines.py

constraints: install
	$(PY) -m pip freeze --exclude-editable | grep -v -E '^(pip|setuptools|wheel)==' | sed 's/+cpu//' > constraints.txt

clean:
	rm -rf $(VENV) .pytest_cache
