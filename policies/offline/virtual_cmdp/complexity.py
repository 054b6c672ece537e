"""Inference FLOPs of the virtual CMDP's modules and the PPO policy at any system size (urllc_ee_virtual_cmdp
Sec. V-D, Fig. 10), counted from the layer shapes without building the weights.

Counting rules (2 FLOPs per multiply-add, as torch's counter and the paper's FLOPs):

* a linear layer: 2 in out per row (the networks are built on torch's ``meta`` device, so the count follows
  the code's architecture and a (8, 8, 8, 8) EA-CGMM - 0.5 G parameters - costs no memory);
* VAE-ChMDN draw (eq. 29): the decoder (trunk and the four heads; the encoder is not used to sample) and
  one triangular solve U_g^-1 eps, D^2 FLOPs;
* EA-CGMM draw (Alg. 1): the joint decoder over D = m + c, then per component the conditional mean
  (U12 diff: 2 m c, one m x m solve: m^2) and the evidence (U22 diff: c^2, as U22 is triangular), then
  one m x m solve for the draw; with the conditional z prior also its network (c -> h -> h -> 2 latent);
* KAN (pykan, order k, grid G): per edge the SiLU base (4), the Cox-de Boor recursion over G + 2k knots
  (about 6 per basis function and level: 6 k (G + k)), the spline's weighted sum (2 (G + k)) and the two
  scales (4), plus the node sums - an estimate: torch's counter sees none of it (no matrix product);
* PPO policy: the central actor's MLP obs -> h -> h -> 2 A (mean and log-std per action dimension).

:func:`module_flops` gives the four modules' FLOPs per env step (transition, reward + cost) or per
generated initial state: U draws of the per-UE channel view and U of the queue view each.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


def linear_flops(module: nn.Module, skip: tuple[str, ...] = ()) -> int:
    """2 in out summed over the linear layers of ``module`` whose names do not start with ``skip``."""
    return sum(2 * m.in_features * m.out_features for name, m in module.named_modules()
               if isinstance(m, nn.Linear) and not name.startswith(skip))


def vae_chmdn_draw_flops(dim: int, components: int, latent: int, hidden: int) -> int:
    from cfmarl.policies.offline.virtual_cmdp.vae_chmdn import VaeChMdn

    with torch.device("meta"):
        model = VaeChMdn(dim, components, latent, hidden)
    return linear_flops(model, skip=("encoder",)) + dim * dim


def ea_cgmm_draw_flops(target: int, cond: int, components: int, latent: int, hidden: int,
                       z_prior: str = "standard") -> int:
    from cfmarl.policies.offline.virtual_cmdp.vae_chmdn import EaCgmm

    with torch.device("meta"):
        model = EaCgmm(target, cond, components, latent, hidden, z_prior=z_prior)
    m, c = target, cond
    return (linear_flops(model, skip=("joint.encoder",)) + components * (2 * m * c + m * m + c * c) + m * m)


def kan_flops(widths: list[int], grid: int, order: int) -> int:
    per_edge = 4 + 6 * order * (grid + order) + 2 * (grid + order) + 4
    return sum(a * b * per_edge + a * b for a, b in zip(widths[:-1], widths[1:]))


def mlp_policy_flops(obs_dim: int, action_dim: int, hidden: int) -> int:
    return 2 * (obs_dim * hidden + hidden * hidden + hidden * 2 * action_dim)


@dataclass(frozen=True)
class Sizes:
    B: int
    U: int
    K: int
    M: int

    def __str__(self) -> str:
        return f"({self.B},{self.U},{self.K},{self.M})"


def module_flops(size: Sizes, spec=None, policy_hidden: int = 256) -> dict[str, int]:
    """FLOPs of the PPO policy, the reward + cost KANs, the transition module and the initial-state module
    for a URLLC system of ``size`` (central agent; the hidden sizes of ``spec``, a :class:`.fit.ModelSpec`)."""
    from cfmarl.policies.offline.virtual_cmdp.data import Layout
    from cfmarl.policies.offline.virtual_cmdp.fit import ModelSpec

    spec = spec or ModelSpec()
    lay = Layout(size.B, size.U, size.K, size.M, 1.0, 1.0, 1, 1.0)
    G, J = spec.components, spec.transition_components
    ch, qc, zp = lay.channel_dim, lay.queue_cond_dim, spec.transition_z_prior
    return {
        "ppo_policy": mlp_policy_flops(lay.obs_dim, lay.action_dim, policy_hidden),
        "reward_cost_kan": 2 * kan_flops([lay.obs_dim + lay.action_dim, *spec.kan_hidden, 1], spec.kan_grid,
                                         spec.kan_order),
        "transition_ea_cgmm": size.U * (ea_cgmm_draw_flops(ch, ch, J, spec.latent, spec.hidden, zp)
                                        + ea_cgmm_draw_flops(2, qc, J, spec.latent, spec.hidden, zp)),
        "initial_vae_chmdn": size.U * (vae_chmdn_draw_flops(ch, G, spec.latent, spec.hidden)
                                       + vae_chmdn_draw_flops(2, G, spec.latent, spec.hidden)),
    }
