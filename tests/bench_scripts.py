"""Loading a script of benchmarks/ in a test (they are scripts, not a package): ``load("name")`` executes
benchmarks/name.py as module ``name``; ``siblings=True`` puts benchmarks/ on sys.path while it runs, for the
scripts that import their siblings (e.g. seed_runs, oran_report). pytest puts this folder on sys.path (the
conftest.py beside it), so any test can ``from bench_scripts import load``."""

import importlib.util
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def load(name: str, siblings: bool = False):
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    if siblings:
        sys.path.insert(0, str(BENCHMARKS))
    try:
        spec.loader.exec_module(module)
    finally:
        if siblings:
            sys.path.remove(str(BENCHMARKS))
    return module
