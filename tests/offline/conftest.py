"""Shared fixture: every virtual-CMDP model fitted (tiny sizes, a few seconds) to a tiny URLLC dataset."""

import pytest

from cfmarl.policies.offline.virtual_cmdp.fit import ModelSpec

TINY = ModelSpec(epochs=2, patience=2, batch_size=64, kan_grid=3, kan_grid_until=1, components=2,
                 transition_components=2, latent=2, hidden=8, diffusion_hidden=16, diffusion_layers=1,
                 diffusion_train_steps=10, ddpm_steps=5, ddim_steps=2, gan_epochs=1, fidelity_draws=1,
                 max_train_rows=40)  # the per-UE tables (70 rows) are subsampled


@pytest.fixture(scope="session")
def fitted(tmp_path_factory):
    pytest.importorskip("kan")
    pytest.importorskip("diffusers")
    from cfmarl.datasets import collect
    from cfmarl.policies.offline.virtual_cmdp.fit import fit_models

    root = tmp_path_factory.mktemp("vcmdp")
    collect("urllc", "s2222", {"episode_slots": 5}, ["random"], episodes=10, seed=32, out=root / "data", quiet=True)
    lines = []
    man = fit_models(root / "data", root / "models", TINY, log=lines.append)
    return root, man, lines, TINY


