"""The paper's Lyapunov drift-plus-penalty controller driven by the learned predictors (urllc_ee_virtual_cmdp
Sec. V-C, Fig. 9): each slot, ``candidates`` actions drawn uniformly from the action box are scored with
the KAN reward and cost predictions r~(s, a), c~(s, a) and the one minimising -V r~ + Z c~ is played; the
virtual queue Z <- max(Z + c~(pick) - d, 0) tracks the delay-violation target d. It needs no model of the
env beyond what was learned offline (``privileged = False``), unlike the true-model ``lyapunov`` baseline.
``structured=true`` adds the heuristic's and three orthogonal schedules to the candidates (what makes the
true-model controller strong), for a comparison on equal candidates.

Spec: ``lyapunov-kan:models=DIR[,v=0.001][,candidates=200][,predictor=kan][,structured=false][,seed=0]``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cfmarl.policies.baselines.spec import OwnStream


@dataclass
class LyapunovKan(OwnStream):
    models: str = ""
    candidates: int = 200
    v: float = 0.001
    predictor: str = "kan"
    structured: bool = False
    seed: int = 0
    name: str = "lyapunov-kan"
    privileged: bool = False
    _z: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.models, str) or not self.models:
            raise ValueError("lyapunov-kan.models: the folder of the fitted models is required "
                             "(lyapunov-kan:models=DIR)")
        if isinstance(self.candidates, bool) or not isinstance(self.candidates, int) or self.candidates < 1:
            raise ValueError(f"lyapunov-kan.candidates: must be an integer >= 1, got {self.candidates!r}")
        if isinstance(self.v, bool) or not isinstance(self.v, (int, float)) or self.v < 0:
            raise ValueError(f"lyapunov-kan.v: must be a number >= 0, got {self.v!r}")
        flag = {"true": True, "false": False, 1: True, 0: False, True: True, False: False}
        if not isinstance(self.structured, (str, int, bool)) or self.structured not in flag:
            raise ValueError(f"lyapunov-kan.structured: true or false, got {self.structured!r}")
        self.structured = flag[self.structured]
        if self.predictor not in ("kan", "mlp"):
            raise ValueError(f"lyapunov-kan.predictor: must be kan or mlp, got {self.predictor!r}")
        self._rng = np.random.default_rng(self.seed)
        self._loaded = None

    def predict(self, obs: np.ndarray, cand: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Predicted reward [Mbit/J] and cost of candidates (E, n, A) in states obs (E, F): (E, n) each."""
        import torch

        from cfmarl.policies.offline.virtual_cmdp.env import open_models

        if self._loaded is None:
            self._loaded = open_models(self.models)
        _, _, _, norms, nets = self._loaded
        e, n, a = cand.shape
        x = np.concatenate([np.repeat(obs[:, None].astype(np.float64), n, 1), cand], -1).reshape(e * n, -1)
        xt = torch.as_tensor(norms["sa"](x))
        with torch.no_grad():
            r = norms["r"].inverse(nets[f"reward_{self.predictor}"](xt).numpy()[:, None].astype(np.float64))[:, 0]
            c = norms["c"].inverse(nets[f"cost_{self.predictor}"](xt).numpy()[:, None].astype(np.float64))[:, 0]
        return np.maximum(r, 0.0).reshape(e, n), np.clip(c, 0.0, 1.0).reshape(e, n)

    def act(self, core, state, obs) -> np.ndarray:
        from cfmarl.policies.baselines.urllc_ofdm import heuristic_actions, orthogonal_actions

        if core.n_agents != 1:
            raise ValueError("lyapunov-kan: the predictors were fitted to the central agent (env agents: central)")
        if state.t == 0 or self._z is None or len(self._z) != core.num_envs:
            self._z = np.zeros(core.num_envs)
        cand = self._rng.uniform(-1.0, 1.0, (core.num_envs, self.candidates, core.action_dim))
        if self.structured:
            fixed = [heuristic_actions(core, state), orthogonal_actions(core, state),
                     orthogonal_actions(core, state, on=-1.0, off=1.0),
                     orthogonal_actions(core, state, on=-1.0, off=1.0, serve="best")]
            for i, x in enumerate(fixed[:self.candidates]):
                cand[:, i] = x
        r, c = self.predict(np.asarray(obs).reshape(core.num_envs, -1), cand)
        zeta, _, power = core.decode(cand)  # a candidate that sends nothing has no energy efficiency (eq. 16)
        r = np.where((zeta * power).sum((-1, -2, -3)) > 0, r, 0.0)
        pick = np.argmin(-self.v * r + self._z[:, None] * c, axis=1)
        rows = np.arange(core.num_envs)
        limit = getattr(core.config, "delay_cost_limit", 0.005)
        self._z = np.maximum(self._z + c[rows, pick] - limit, 0.0)
        return cand[rows, pick].reshape(core.num_envs, 1, core.action_dim)
