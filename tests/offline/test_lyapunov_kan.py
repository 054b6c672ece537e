"""The KAN-driven Lyapunov controller: the candidate it plays minimises -V r~ + Z c~ under the fitted
predictors, its virtual queue follows Z <- max(Z + c~ - d, 0), and it acts in the real env."""

import numpy as np
import pytest

pytest.importorskip("kan")

from cfmarl.envs.urllc_ofdm.config import make_config  # noqa: E402
from cfmarl.envs.urllc_ofdm.core import UrllcCore  # noqa: E402
from cfmarl.policies.baselines.urllc_ofdm import make_baseline  # noqa: E402


def test_picks_the_drift_plus_penalty_minimiser_and_tracks_the_queue(fitted):
    models = str(fitted[0] / "models")
    core = UrllcCore(make_config("s2222", episode_slots=5), 2)
    state, obs = core.reset([4, 5])
    ctrl = make_baseline(f"lyapunov-kan:models={models},v=0.5,candidates=16,seed=3")
    twin = make_baseline(f"lyapunov-kan:models={models},v=0.5,candidates=16,seed=3")
    zs = np.zeros(2)
    for _ in range(3):
        # the twin draws the same candidates; score them by hand
        cand = twin._rng.uniform(-1, 1, (2, 16, core.action_dim))
        r, c = ctrl.predict(obs[:, 0], cand)
        want = np.argmin(-0.5 * r + zs[:, None] * c, axis=1)
        act = ctrl.act(core, state, obs)
        np.testing.assert_array_equal(act[:, 0], cand[np.arange(2), want])
        zs = np.maximum(zs + c[np.arange(2), want] - 0.005, 0.0)
        np.testing.assert_allclose(ctrl._z, zs)
        state, obs, *_ = core.step(state, act)
    structured = make_baseline(f"lyapunov-kan:models={models},candidates=8,structured=true")
    assert structured.structured is True and structured.act(core, state, obs).shape == (2, 1, core.action_dim)


@pytest.mark.parametrize("spec,match", [("lyapunov-kan", "models"), ("lyapunov-kan:models=x,candidates=0", "candidates"),
                                        ("lyapunov-kan:models=x,structured=maybe", "structured"),
                                        ("lyapunov-kan:models=x,predictor=tree", "predictor")])
def test_options_validated(spec, match):
    with pytest.raises(ValueError, match=match):
        make_baseline(spec)
