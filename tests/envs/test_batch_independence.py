"""Every env core: an env copy's episode does not depend on the other copies batched with it. Each copy draws
from its own random stream (seeded by its episode seed), so B copies stepped together must give what B single
runs with the same seeds and the same deterministic policy give, bit for bit. Otherwise an evaluation's numbers
would depend on its batch size (the MF-TDMA core used to hand one copy's link-success draws to another's packets
under limited RF, and the URLLC core drew every copy's packet sizes for the batch's largest arrival count).
The policies are deterministic ones: a controller with its own random stream (random, lyapunov) draws for the
whole batch from it, which is the controller's business, not the env's."""

import numpy as np
import pytest

from cfmarl.evaluate import episode_seeds
from cfmarl.registry import env_registry

# (env, scenario with short episodes, a deterministic baseline); the limited-RF MF-TDMA scenario draws a success per
# transmitted packet, the ideal one none
CASES = [("aps", "tiny", {}, "k-strongest"), ("power", "tiny", {}, "equal-power"), ("precoding", "tiny", {}, "mrt"),
         ("mftdma", "n4-1:3", {"episode_frames": 40}, "load-proportional"),
         ("mftdma", "n4-1:3-limited", {"episode_frames": 40}, "equal"),
         ("mftdma", "n8-2:6-limited", {"episode_frames": 40}, "load-proportional"),
         ("urllc", "s2222", {"episode_slots": 40}, "heuristic")]


def test_every_registered_env_is_covered():
    assert {c[0] for c in CASES} == set(env_registry()), "add the new env to CASES"


def _rollout(core, policy, seeds) -> dict[str, np.ndarray]:
    """Observations, rewards, costs and done flags of whole episodes, (B, T, ...) each."""
    state, obs = core.reset(list(seeds))
    step_kwargs = getattr(policy, "step_kwargs", {})  # controllers that act inside the step (precoding's)
    rec = {k: [] for k in ("obs", "rewards", "costs", "done")}
    done = np.zeros(core.num_envs, bool)
    while not done.all():
        state, nxt, rew, cost, done = core.step(state, policy.act(core, state, obs), **step_kwargs)
        for k, v in (("obs", obs), ("rewards", rew), ("costs", cost), ("done", done)):
            rec[k].append(np.array(v))
        obs = nxt
    return {k: np.stack(v, axis=1) for k, v in rec.items()}


@pytest.mark.parametrize("name,scenario,overrides,policy", CASES)
def test_batched_copies_equal_single_runs(name, scenario, overrides, policy):
    entry = env_registry()[name]
    cfg = entry.make_config(scenario, **overrides)
    seeds = episode_seeds(11, 3)
    batched = _rollout(entry.make_core(cfg, 3), entry.make_baseline(policy), seeds)
    for i, s in enumerate(seeds):
        single = _rollout(entry.make_core(cfg, 1), entry.make_baseline(policy), [s])
        for k, v in single.items():
            np.testing.assert_array_equal(batched[k][i], v[0], err_msg=f"{name}/{scenario}: copy {i}, {k}")
