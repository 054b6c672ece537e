"""`cfmarl scale` end to end on tiny sizes: tidy CSV with every kind of row, plot, generalisation rows."""

import csv

import pytest

pytestmark = pytest.mark.usefixtures("ray_session")


def test_scale_tiny(tmp_path):
    from cfmarl.scale import scale

    run = scale("tune_configs/aps_scale_tiny.yaml", out=str(tmp_path), quiet=True)
    with open(run / "scale.csv") as f:
        rows = list(csv.DictReader(f))
    assert (run / "scale.png").stat().st_size > 10_000
    kinds = {(r["kind"], r["size"], r["granularity"]) for r in rows}
    assert {("kpi", "4x2", "graph"), ("kpi", "8x3", "graph"), ("throughput", "8x3", "graph"),
            ("throughput", "8x3", "per_agent")} <= kinds
    learned = [r for r in rows if r["kind"] == "kpi" and r["trained_at"] == "4x2"]
    assert {r["size"] for r in learned} == {"4x2", "8x3"}  # trained at 4x2, evaluated at both sizes
    assert all(float(r["latency_ms"]) > 0 and 0 <= float(r["mean_cost"]) for r in learned)
    runners = sorted(int(r["runners"]) for r in rows if r["kind"] == "runners")
    assert runners == [0, 1]
    for r in rows:
        if r["kind"] in ("throughput", "runners"):
            assert float(r["sample_node_steps_per_s"]) > 0 and float(r["peak_rss_mib"]) > 0


def test_scale_mftdma_tiny(tmp_path):
    """A non-AP-selection env scales along its own declared axis (nodes)."""
    from cfmarl.scale import scale

    run = scale("tune_configs/mftdma_scale_tiny.yaml", out=str(tmp_path), quiet=True)
    with open(run / "scale.csv") as f:
        rows = list(csv.DictReader(f))
    learned = [r for r in rows if r["kind"] == "kpi" and r["trained_at"] == "4"]
    assert [(r["size"], r["agents"]) for r in learned] == [("4", "4"), ("6", "6")]
    assert all(float(r["throughput_mbps"]) > 0 for r in learned)  # the env's declared KPIs are the columns
    assert (run / "scale.png").stat().st_size > 10_000


def test_scale_rejects_bad_sizes(tmp_path):
    from cfmarl.envs.validation import ConfigError
    from cfmarl.experiment import load_experiment
    from cfmarl.registry import get_env

    entry = get_env("aps")
    axes = entry.declaration.scale
    with pytest.raises(ValueError, match="NUM_APSxNUM_UES"):
        axes.parse("64by16")
    with pytest.raises(ValueError, match="2 positive integers"):
        axes.parse("64x16x2")
    assert axes.overrides(entry.make_config("tiny"), "16x6")["area_size_m"] == pytest.approx(150.0, abs=0.1)
    p = tmp_path / "s.yaml"
    p.write_text("name: s\nenv: {name: mftdma}\nscale: {sizes: ['4x2'], train_size: '4'}\n")
    with pytest.raises(ConfigError, match="NUM_NODES"):  # checked when the file loads, before anything trains
        load_experiment(p)
    p.write_text("name: s\nenv: {name: aps, scenario: tiny}\nscale: {sizes: ['4x2'], train_size: '8x3'}\n")
    from cfmarl.scale import scale

    with pytest.raises(ConfigError, match="scale.train_size"):
        scale(str(p), out=str(tmp_path))


def test_scale_trains_one_policy_on_a_mixture_of_sizes(tmp_path):
    """env.mix in a scaling study: the policy trains on both sizes (validated at each, one multiplier each) and is
    evaluated at every size; throughput is measured at one size each (without the mixture's settings)."""
    import yaml

    from cfmarl.scale import scale

    data = yaml.safe_load(open("tune_configs/aps_scale_tiny.yaml"))
    data["env"]["mix"] = ["8x3"]
    data["algorithm"]["multiplier_per_graph"] = True
    data["training"]["validate_every"] = 1
    data["training"]["validation_episodes"] = 2
    data["scale"].update(runners=[0], per_agent=False)
    path = tmp_path / "mix.yaml"
    path.write_text(yaml.safe_dump(data))
    run = scale(str(path), out=str(tmp_path), quiet=True)
    metrics = list(csv.DictReader(open(run / "train-aps_scale_tiny-4x2" / "metrics.csv")))
    assert {"val/4x2/mean_cost", "val/8x3/mean_cost", "lagrange/multiplier_0", "lagrange/multiplier_1"} <= set(
        metrics[-1])
    rows = list(csv.DictReader(open(run / "scale.csv")))
    learned = [r for r in rows if r["kind"] == "kpi" and r["trained_at"] == "4x2+8x3"]  # the sizes it trained on
    assert [(r["size"], r["agents"]) for r in learned] == [("4x2", "8"), ("8x3", "24")]
    assert learned[0]["policy"] == "aps_scale_tiny@4x2+8x3"
    tp = [r for r in rows if r["kind"] == "throughput"]
    assert [(r["size"], r["agents"]) for r in tp] == [("4x2", "8"), ("8x3", "24")]


def test_scale_seed_names_the_study_and_is_checked(tmp_path, monkeypatch):
    """--seed N trains with seed N into scale-<name>_s<N> (evaluation episodes unchanged); a bad seed is refused."""
    import cfmarl.train
    from cfmarl.envs.validation import ConfigError
    from cfmarl.scale import scale

    with pytest.raises(ConfigError, match="--seed: must be an integer >= 0"):
        scale("tune_configs/aps_scale_tiny.yaml", out=str(tmp_path), quiet=True, seed=-1)
    seen = {}

    def fake_train(path, out, quiet):  # stop the study at its training step: what would it train?
        import yaml

        seen.update(yaml.safe_load(open(path)))
        raise KeyboardInterrupt

    monkeypatch.setattr(cfmarl.train, "train", fake_train)
    with pytest.raises(KeyboardInterrupt):
        scale("tune_configs/aps_scale_tiny.yaml", out=str(tmp_path), quiet=True, seed=3)
    assert seen["seed"] == 3 and seen["name"].startswith("aps_scale_tiny_s3-")
    assert seen["evaluation"]["seed"] == 1000
    assert (tmp_path / "scale-aps_scale_tiny_s3" / "train.yaml").exists()
