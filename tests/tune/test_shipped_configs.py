"""Every shipped experiment in tune_configs/ loads strictly and becomes a validated RLlib AlgorithmConfig."""

from pathlib import Path

import pytest

from cfmarl.algo_builder import build_algo_config
from cfmarl.experiment import load_experiment, load_tune_experiment, read_yaml
from cfmarl.search_space import split_search_space

CONFIGS = sorted(Path(__file__).resolve().parents[2].glob("tune_configs/*.yaml"))


def test_configs_exist():
    names = {p.stem for p in CONFIGS}
    assert {"aps_gnn_medium", "aps_gnn_large", "aps_pbt_medium", "aps_asha_medium", "aps_scale",
            "aps_ablation_nogru", "aps_ablation_nopretrain", "aps_ablation_unconstrained"} <= names
    # PPO-Lagrangian on every env: a tiny file (tests) and a full one (benchmarks/ppo_every_env.py)
    for env in ("power", "precoding", "mftdma", "urllc"):
        assert f"{env}_ppo_tiny" in names and any(n.startswith(f"{env}_ppo_") and n != f"{env}_ppo_tiny"
                                                   for n in names)


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_config_builds(path):
    _, spaces = split_search_space(read_yaml(path), skip={"tune"})
    texp = load_tune_experiment(path)
    if not spaces:
        assert load_experiment(path) == texp.exp  # plain experiments also run with `cfmarl train`
    from cfmarl.policies.learners.registry import get_learner

    if get_learner(texp.exp.algorithm.name).offline is not None:  # offline learners: no RLlib config;
        from cfmarl.offline_train import method_class  # their options were checked by the schema above
        from cfmarl.policies.offline.method import parse_options

        cls = method_class(texp.exp.algorithm.name)
        assert parse_options(cls.Options, texp.exp.algorithm.options, texp.exp.algorithm.name) is not None
        return
    # the representative trial, and one trial per grid/choice value, build a validated AlgorithmConfig
    trials = [{}] + [{k: v} for k, s in spaces.items() if s.kind in ("grid", "choice") for v in s.args]
    for values in trials:
        exp = texp.config_for(values)
        cfg = build_algo_config(exp)
        if get_learner(exp.algorithm.name).constrained:
            assert cfg.cost_limit == exp.algorithm.cost_limit
    if texp.exp.tune.scheduler != "fifo":
        from cfmarl.tune import scheduler

        assert scheduler(texp, texp.exp.training.iterations) is not None
