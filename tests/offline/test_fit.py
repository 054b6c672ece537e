"""The model-fitting stage of the virtual CMDP end to end on a tiny URLLC dataset: every model of every
family is fitted, saved with its hash, measured, reused on a rerun and refused when damaged."""

import json

import numpy as np
import pytest
import torch

pytest.importorskip("kan")
pytest.importorskip("diffusers")

from cfmarl.envs.validation import ConfigError  # noqa: E402
from cfmarl.policies.offline.virtual_cmdp.fit import (  # noqa: E402
    FRAMEWORKS, ModelSpec, draw, fit_models, load_model)

def test_every_model_is_fitted_measured_and_loadable(fitted):
    root, man, lines, TINY = fitted
    kinds = [k for pair in FRAMEWORKS.values() for k in pair]
    want = {"reward_kan", "cost_kan", "reward_mlp", "cost_mlp"} | {f"init_{v}_{k}" for v in "rq" for k in kinds[0::2]} \
        | {f"next_{v}_{k}" for v in "rq" for k in kinds[1::2]}
    assert set(man["models"]) == want
    assert man["complete"] and set(man["fidelity"]["transition"]) == {n for n in want if n.startswith("next_")}
    fid = man["fidelity"]
    for name, row in fid["predictors"].items():
        assert np.isfinite(row["mae"]) and row["params"] > 0, name
    # the MLP matches the KAN's trainable parameter count within 5 % (tiny widths round coarsely)
    assert abs(fid["predictors"]["reward_mlp"]["params"] - fid["kan_params"]) / fid["kan_params"] < 0.05
    for row in list(fid["initial"].values()) + list(fid["transition"].values()):
        assert np.isfinite(row["us_per_sample"]) and row["us_per_sample"] > 0
    entry = man["models"]["next_r_ea_cgmm"]
    kind, model = load_model(root / "models" / entry["file"], TINY, entry["sha256"])
    w = torch.zeros(3, entry["dims"]["cond"])
    assert kind == "ea_cgmm" and draw(kind, model, 3, w, TINY, torch.Generator().manual_seed(0)).shape == (3, 8)
    assert any("next_q_cgan" in line for line in lines)


def test_rerun_reuses_and_a_damaged_file_is_refused(fitted, tmp_path):
    root, man, _, TINY = fitted
    lines = []
    again = fit_models(root / "data", root / "models", TINY, log=lines.append)
    assert any("every model fitted before" in line for line in lines)
    assert again["models"] == man["models"]
    entry = man["models"]["reward_kan"]
    path = tmp_path / entry["file"]
    path.write_bytes((root / "models" / entry["file"]).read_bytes()[:-10])
    with pytest.raises(ConfigError, match="SHA-256"):
        load_model(path, TINY, entry["sha256"])
    assert json.loads((root / "models" / "manifest.json").read_text())["spec_digest"] == TINY.digest()


@pytest.mark.parametrize("field,value", [("epochs", 0), ("alpha", 1.5), ("families", ("diffusion", "flow")),
                                         ("ddim_steps", 500), ("kan_hidden", ()), ("transition_z_prior", "flat"),
                                         ("transition_clip", -1.0), ("transition_clip", True)])
def test_spec_validated(field, value):
    with pytest.raises(ConfigError, match=field if field != "ddim_steps" else "ddim_steps"):
        ModelSpec(**{field: value})


def test_a_changed_spec_drops_interrupted_fits(fitted, tmp_path):
    root, _, _, TINY = fitted
    out = tmp_path / "models"
    fit_models(root / "data", out, TINY, log=lambda m: None)
    stale = out / ".reward_kan.fit.pt"
    stale.write_bytes(b"an interrupted fit of the old spec")
    other = ModelSpec(**{**TINY.__dict__, "lr": 2e-3})
    man = fit_models(root / "data", out, other, log=lambda m: None)
    assert not stale.exists() and man["spec_digest"] == other.digest() != TINY.digest()


def test_the_z_prior_option_keeps_recorded_digests_and_builds_its_model():
    """transition_z_prior was added after models were recorded: at its default the digest is what it was (the
    value below is ModelSpec().digest() before the field existed); another value is another fit."""
    assert ModelSpec().digest() == "a9cd64a399f512a3"
    cond = ModelSpec(transition_z_prior="conditional")
    assert cond.digest() != ModelSpec().digest()
    from cfmarl.policies.offline.virtual_cmdp.fit import build

    assert build("ea_cgmm", {"x": 3, "cond": 2}, cond).prior_net is not None
    assert build("ea_cgmm", {"x": 3, "cond": 2}, ModelSpec()).prior_net is None


def test_a_sampling_option_remeasures_without_refitting(fitted, tmp_path):
    """transition_z_draws (like diffusion_clip) changes only how models are drawn: a rerun with another value keeps
    every fitted file and the digest and measures the fidelity again; a manifest written before the option
    existed reads as its default (no re-measuring)."""
    import shutil

    root, man, _, TINY = fitted
    out = tmp_path / "models"
    shutil.copytree(root / "models", out)
    lines = []
    resampled = ModelSpec(**{**TINY.__dict__, "transition_z_draws": 3})
    again = fit_models(root / "data", out, resampled, log=lines.append)
    assert any("sampling options changed" in line for line in lines)
    assert again["models"] == man["models"] and again["spec_digest"] == TINY.digest() == resampled.digest()
    assert again["spec"]["transition_z_draws"] == 3
    assert np.isfinite(again["fidelity"]["transition"]["next_r_ea_cgmm"]["mae"])
    old = json.loads((out / "manifest.json").read_text())
    old["spec"].pop("transition_z_draws")
    (out / "manifest.json").write_text(json.dumps(old))
    lines.clear()
    fit_models(root / "data", out, TINY, log=lines.append)
    assert not any("sampling options changed" in line for line in lines)
    with pytest.raises(ConfigError, match="transition_z_draws"):
        ModelSpec(transition_z_draws=0)


def test_transition_clip_bounds_every_transition_draw_and_no_initial_one(fitted):
    """models.transition_clip: the standardised draws of each transition family lie in [-c, c] and equal the
    unclipped draws clamped (same generator); initial-state draws are untouched; sampling-only (same digest)."""
    import dataclasses

    root, man, _, TINY = fitted
    assert dataclasses.replace(TINY, transition_clip=0.5).digest() == TINY.digest()
    for name, entry in man["models"].items():
        if not name.startswith(("next_", "init_")):
            continue
        _, model = load_model(root / "models" / entry["file"], TINY, entry["sha256"])
        cond = torch.randn(64, entry["dims"]["cond"], generator=torch.Generator().manual_seed(3)) \
            if "cond" in entry["dims"] else None
        free = draw(entry["kind"], model, 64, cond, TINY, torch.Generator().manual_seed(7))
        c = float(free.abs().max()) / 2  # half the largest draw: the clip bites
        cut = draw(entry["kind"], model, 64, cond, dataclasses.replace(TINY, transition_clip=c),
                   torch.Generator().manual_seed(7))
        if name.startswith("next_"):
            assert cut.abs().max() <= c, name
            torch.testing.assert_close(cut, free.clamp(-c, c))
        else:
            torch.testing.assert_close(cut, free)
