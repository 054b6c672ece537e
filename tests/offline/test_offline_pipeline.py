"""`cfmarl offline` end to end on the tiny URLLC config (real Ray, real RLlib): collect, fit, pretrain in
the learned env, fine-tune from it in the real env, train from scratch, report; a rerun reuses every stage."""

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
