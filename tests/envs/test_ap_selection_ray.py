"""The env travels to Ray workers (pickled, as RLlib ships it) and reproduces the
local trajectory there."""

import os

import numpy as np

from cfmarl.envs import ap_selection_v0


def test_env_runs_identically_in_ray_workers(ray_session):
    ray = ray_session

    # defined inside the test so that cloudpickle ships it by value
    def trajectory(env, seed, steps=3):
        obs, _ = env.reset(seed=seed)
        out = []
        for t in range(steps):
            acts = {a: (i + t) % 2 for i, a in enumerate(env.agents)}
            obs, rew, _, _, infos = env.step(acts)
            out.append((np.stack(list(obs.values())), np.array(list(rew.values())),
                        np.array([i["cost"] for i in infos.values()])))
        return out

    @ray.remote(num_cpus=1)
    def remote_rollout(e, seed):
        return os.getpid(), trajectory(e, seed)

    env = ap_selection_v0.parallel_env(scenario="medium-vehicular", se_target_bps_hz=2.0)
    local = trajectory(env, 21)
    results = ray.get([remote_rollout.remote(env, 21), remote_rollout.remote(env, 21)])
    assert all(pid != os.getpid() for pid, _ in results)
    for _, remote in results:
        for (o1, r1, c1), (o2, r2, c2) in zip(local, remote):
            np.testing.assert_array_equal(o1, o2)
            np.testing.assert_array_equal(r1, r2)
            np.testing.assert_allclose(c1, c2, rtol=0, atol=1e-12)  # BLAS threads may differ in ulps
    assert any(c.max() > 0 for _, _, c in local)  # the constraint is active in this rollout
