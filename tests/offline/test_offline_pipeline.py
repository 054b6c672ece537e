"""`cfmarl offline` end to end on the tiny URLLC config (real Ray, real RLlib): collect, fit, pretrain in
the learned env, fine-tune from it in the real env, train from scratch, report; a rerun reuses every stage."""

import numpy as np
import pytest
import yaml

pytest.importorskip("kan")
pytest.importorskip("diffusers")

from cfmarl.cli import main  # noqa: E402

CONFIG = "tune_configs/urllc_vcmdp_tiny.yaml"


@pytest.mark.slow
def test_offline_pipeline_end_to_end_and_resumed(ray_session, tmp_path, capsys):
    assert main(["offline", CONFIG, "--out", str(tmp_path), "--quiet"]) == 0
    out = capsys.readouterr().out
    root = tmp_path / "offline-urllc_vcmdp_tiny"
    for arm in ("pretrain-vae_chmdn-s0", "finetune-vae_chmdn-s0", "scratch-s0"):
        assert (root / "rl" / f"train-{arm}" / "evaluation.csv").exists(), arm
    assert "Initialised the policy from" in out and "pretrain-vae_chmdn-s0" in out
    pre = yaml.safe_load((root / "configs" / "pretrain-vae_chmdn-s0.yaml").read_text())
    assert pre["env"]["name"].endswith("registration:entry") and pre["env"]["overrides"]["episode_slots"] == 10
    assert pre["pretrain"]["enabled"] is False
    fine = yaml.safe_load((root / "configs" / "finetune-vae_chmdn-s0.yaml").read_text())
    assert fine["env"]["name"] == "urllc" and fine["training"]["init_from"].endswith("train-pretrain-vae_chmdn-s0")
    report = (root / "report.md").read_text()
    assert "pretrained (vae_chmdn)" in report and "from scratch" in report and (root / "report.png").stat().st_size
    assert main(["offline", CONFIG, "--out", str(tmp_path)]) == 0
    again = capsys.readouterr().out
    assert again.count("done before") == 3 and "every model fitted before" in again
    # refitted models: the arms trained on the old ones are not silently reused
    stamp = root / "rl" / "train-pretrain-vae_chmdn-s0" / "offline_models.txt"
    stamp.write_text("0123456789abcdef\n")
    assert main(["offline", CONFIG, "--out", str(tmp_path), "--stages", "pretrain"]) == 2
    assert "trained with other models" in capsys.readouterr().err


def test_offline_section_errors(tmp_path, capsys):
    data = yaml.safe_load(open(CONFIG))
    data["offline"].pop("fit")
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    assert main(["offline", str(path), "--out", str(tmp_path)]) == 2
    assert "offline.fit: required" in capsys.readouterr().err
    data = yaml.safe_load(open(CONFIG))
    data["offline"]["frameworks"] = ["flow"]
    path.write_text(yaml.safe_dump(data))
    assert main(["offline", str(path), "--out", str(tmp_path)]) == 2
    assert "offline.frameworks" in capsys.readouterr().err
    data = yaml.safe_load(open(CONFIG))
    data["offline"]["models"]["depth"] = 3
    path.write_text(yaml.safe_dump(data))
    assert main(["offline", str(path), "--out", str(tmp_path), "--stages", "collect", "fit"]) == 2
    assert "offline.models.depth: unknown option" in capsys.readouterr().err
    assert main(["offline", CONFIG, "--out", str(tmp_path), "--stages", "train"]) == 2


def test_converge_step_by_hand():
    from cfmarl.offline import converge_step

    steps = np.arange(1, 9) * 100.0
    vals = np.array([0.0, 5.0, 9.0, 10.0, 10.0, 10.0, 10.0, 10.0])
    # window 2: moving means 2.5, 7, 9.5, 10, 10, 10, 10; within 5 % of 10 from the 3rd on (9.5), which
    # ends at iteration 4 -> env step 400
    assert converge_step(steps, vals, window=2, tol=0.05) == 400.0
    assert converge_step(steps, vals, window=2, tol=0.01) == 500.0
    assert np.isnan(converge_step(steps[:1], vals[:1], window=2))
