"""Search-space tags in experiment YAML: parsing, strict validation with key paths, translation to Tune."""

import textwrap

import pytest

from cfmarl.envs.validation import ConfigError
from cfmarl.experiment import load_experiment, load_tune_experiment
from cfmarl.search_space import Space, parse_space, set_path, split_search_space, to_tune


def _write(tmp_path, text):
    p = tmp_path / "exp.yaml"
    p.write_text(textwrap.dedent(text))
    return p


def test_split_replaces_tags_at_any_depth():
    data = {"seed": {"grid": [0, 1]}, "algorithm": {"lr": {"loguniform": [1e-5, 1e-3]}, "gamma": 0.9},
            "env": {"overrides": {"se_target_bps_hz": {"choice": [1.0, 1.5]}}}, "tune": {"mutations": {"a": 1}}}
    base, spaces = split_search_space(data, skip={"tune"})
    assert set(spaces) == {"seed", "algorithm.lr", "env.overrides.se_target_bps_hz"}
    assert base["seed"] == 0 and base["env"]["overrides"]["se_target_bps_hz"] == 1.0
    assert base["algorithm"]["lr"] == pytest.approx(1e-4)  # geometric midpoint
    assert base["algorithm"]["gamma"] == 0.9 and base["tune"] == {"mutations": {"a": 1}}
    assert data["seed"] == {"grid": [0, 1]}  # input untouched


@pytest.mark.parametrize("value, message", [
    ({"loguniform": [0.0, 1.0]}, "loguniform bounds must be > 0"),
    ({"uniform": [2.0, 1.0]}, "needs low < high"),
    ({"uniform": [1.0]}, "exactly two bounds"),
    ({"randint": [1.5, 3]}, "randint bounds must be integers"),
    ({"choice": []}, "non-empty list"),
])
def test_bad_spaces_name_the_key(value, message):
    with pytest.raises(ConfigError, match=rf"algorithm\.lr: .*{message}"):
        parse_space("algorithm.lr", value)


def test_to_tune_domains():
    from ray.tune.search.sample import Categorical, Float, Integer

    assert isinstance(to_tune(Space("loguniform", (1e-5, 1e-3))), Float)
    assert isinstance(to_tune(Space("choice", (1, 2))), Categorical)
    dom = to_tune(Space("randint", (3, 5)))
    assert isinstance(dom, Integer) and dom.upper == 6  # high included
    assert to_tune(Space("grid", (0, 1))) == {"grid_search": [0, 1]}


def test_every_candidate_is_checked_by_the_schema(tmp_path):
    p = _write(tmp_path, """
        name: x
        env: {name: aps, scenario: tiny}
        algorithm: {gamma: {choice: [0.9, 1.5]}}
        """)
    with pytest.raises(ConfigError, match=r"algorithm\.gamma: must be in \[0, 1\], got 1.5"):
        load_tune_experiment(p)
    p = _write(tmp_path, """
        name: x
        env: {name: aps, scenario: {choice: [tiny, huge]}}
        """)
    with pytest.raises(ConfigError, match="huge"):
        load_tune_experiment(p)


def test_train_rejects_search_spaces(tmp_path):
    p = _write(tmp_path, """
        name: x
        env: {name: aps, scenario: tiny}
        algorithm: {lr: {loguniform: [1.0e-5, 1.0e-3]}}
        """)
    with pytest.raises(ConfigError, match=r"algorithm\.lr: a search space \(loguniform\) is only allowed with"):
        load_experiment(p)


def test_mutations_are_validated(tmp_path):
    p = _write(tmp_path, """
        name: x
        env: {name: aps, scenario: tiny}
        tune: {scheduler: pbt, mutations: {model.hidden: {choice: [8, 16]}}}
        """)
    with pytest.raises(ConfigError, match=r"tune\.mutations\.model\.hidden: not a mutable hyperparameter"):
        load_tune_experiment(p)
    p = _write(tmp_path, """
        name: x
        env: {name: aps, scenario: tiny}
        tune: {scheduler: pbt, mutations: {algorithm.lr: {uniform: [-1.0, 1.0]}}}
        """)
    with pytest.raises(ConfigError, match=r"algorithm\.lr: must be > 0"):
        load_tune_experiment(p)
    p = _write(tmp_path, """
        name: x
        env: {name: aps, scenario: tiny}
        algorithm: {lr_schedule: [[0, 1.0e-4], [10, 1.0e-5]]}
        tune: {scheduler: pbt, mutations: {algorithm.lr: {loguniform: [1.0e-5, 1.0e-3]}}}
        """)
    with pytest.raises(ConfigError, match=r"tune\.mutations\.algorithm\.lr: algorithm\.lr_schedule sets lr"):
        load_tune_experiment(p)
    p = _write(tmp_path, """
        name: x
        env: {name: aps, scenario: tiny}
        algorithm: {lr: {loguniform: [1.0e-5, 1.0e-3]}, lr_schedule: [[0, 1.0e-4]]}
        """)
    with pytest.raises(ConfigError, match=r"algorithm\.lr: algorithm\.lr_schedule replaces lr"):
        load_tune_experiment(p)
    p = _write(tmp_path, """
        name: x
        env: {name: aps, scenario: tiny}
        tune: {scheduler: pbt}
        """)
    with pytest.raises(ConfigError, match="needs at least one mutation"):
        load_tune_experiment(p)
    p = _write(tmp_path, """
        name: x
        env: {name: aps, scenario: tiny}
        tune: {scheduler: hyperband}
        """)
    with pytest.raises(ConfigError, match=r"tune\.scheduler: must be one of fifo, asha, pbt, pb2"):
        load_tune_experiment(p)


def test_trial_config_applies_values():
    texp = load_tune_experiment("tune_configs/aps_random_tiny.yaml")
    assert set(texp.spaces) == {"algorithm.lr", "algorithm.lambda_lr"}
    exp = texp.config_for({"algorithm.lr": 3e-4, "algorithm.lambda_lr": 2.0})
    assert exp.algorithm.lr == 3e-4 and exp.algorithm.lambda_lr == 2.0
    assert set_path({"a": {"b": 1}}, "a.c", 2) == {"a": {"b": 1, "c": 2}}


def test_fitness_ranks_feasible_first():
    from cfmarl.tune_trainable import INFEASIBLE_OFFSET, fitness

    feasible_bad = fitness(-100.0, 0.02, 0.02, "constrained", 0)
    infeasible_good = fitness(-1.0, 0.021, 0.02, "constrained", 0)
    assert feasible_bad == -100.0 and infeasible_good == pytest.approx(INFEASIBLE_OFFSET - 0.05)
    assert feasible_bad > infeasible_good
    assert fitness(-1.0, 0.03, 0.02, "constrained", 0) < infeasible_good  # larger violation ranks lower
    assert fitness(-1.0, 0.03, 0.02, "penalty", 100.0) == pytest.approx(-2.0)
    assert fitness(-1.0, 0.03, 0.02, "reward", 100.0) == -1.0
