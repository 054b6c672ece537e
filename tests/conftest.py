"""Shared fixtures. Ray is started once per session with 2 CPUs (never `ray stop`)."""

import os

# One intra-op thread per process (torch's OpenMP pool, BLAS), as `resources.torch_threads` gives every run: the
# suite's processes (pytest, Ray's workers) share the cores, and an OpenMP pool whose threads other processes
# deschedule spins at every barrier - a 21 s learning test (test_planner_learns_...) took over 10 min beside three
# busy processes on the 2-core machine. Set before torch or numpy is imported; a user's own setting is kept.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def ray_session():
    ray = pytest.importorskip("ray")
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()
