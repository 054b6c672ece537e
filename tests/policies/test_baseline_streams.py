"""Baselines with a random stream of their own expose its state (``OwnStream``): restoring a saved state repeats
the draws that followed it, which is what lets ``cfmarl collect`` resume a dataset exactly."""

import numpy as np
import pytest

from cfmarl.evaluate import episode_seeds
from cfmarl.registry import get_env

CASES = [("mftdma", "n4-1:3", "random"), ("mftdma", "n4-1:3", "load-proportional:noise=0.5,seed=3"),
         ("urllc", "s2222", "random"), ("urllc", "s2222", "lyapunov:candidates=8"),
         ("power", "tiny", "max-sum-rate:starts=2,max_iter=5")]


@pytest.mark.parametrize("env, scenario, spec", CASES, ids=[c[2].split(":")[0] + "-" + c[0] for c in CASES])
def test_restored_stream_repeats_the_draws(env, scenario, spec):
    entry = get_env(env)
    cfg = entry.make_config(scenario)
    ctrl = entry.make_baseline(spec)

    def decide():
        core = entry.make_core(cfg, 2)
        state, obs = core.reset(episode_seeds(4, 2))
        return np.asarray(ctrl.act(core, state, obs), float)

    decide()  # move the stream off its seed
    saved = ctrl.rng_state()
    first, second = decide(), decide()
    after = ctrl.rng_state()
    assert after != saved  # these controllers do draw (their decisions may still coincide: best of the candidates)
    ctrl.set_rng_state(saved)
    np.testing.assert_array_equal(decide(), first)
    np.testing.assert_array_equal(decide(), second)
    assert ctrl.rng_state() == after


def test_every_baseline_with_a_stream_of_its_own_exposes_it():
    """A baseline holding a generator but not OwnStream's interface would be resumed from its seed again."""
    from cfmarl.registry import env_registry

    seen = 0
    for entry in env_registry().values():
        for spec in entry.baselines:
            ctrl = entry.make_baseline(spec)
            if any(isinstance(v, np.random.Generator) for v in vars(ctrl).values()):
                seen += 1
                assert hasattr(ctrl, "rng_state") and hasattr(ctrl, "set_rng_state"), f"{entry.name}: {spec}"
    assert seen >= 4  # random (MF-TDMA, URLLC), lyapunov, max-sum-rate
