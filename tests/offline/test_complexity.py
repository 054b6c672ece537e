"""The analytic FLOPs of the scaling study (Fig. 10) against torch's counter on real, small models."""

import torch

from cfmarl.policies.offline.virtual_cmdp import complexity
from cfmarl.policies.offline.virtual_cmdp.metrics import flops
from cfmarl.policies.offline.virtual_cmdp.vae_chmdn import EaCgmm, VaeChMdn


def test_vae_chmdn_draw_matches_torch_counter_plus_the_solve():
    torch.manual_seed(0)
    dim, g, latent, hidden = 5, 3, 4, 8
    model = VaeChMdn(dim, g, latent, hidden)
    counted = flops(lambda: model.sample(1, torch.Generator().manual_seed(0)))  # matmuls only
    assert counted == complexity.linear_flops(model, skip=("encoder",)) > 0
    assert complexity.vae_chmdn_draw_flops(dim, g, latent, hidden) == counted + dim * dim


def test_ea_cgmm_draw_matches_torch_counter():
    torch.manual_seed(0)
    m, c, j, latent, hidden = 3, 4, 2, 4, 8
    model = EaCgmm(m, c, j, latent, hidden)
    counted = flops(lambda: model.sample(torch.zeros(1, c), torch.Generator().manual_seed(0)))
    # torch counts U12 diff (2 m c) and U22 diff as full products (2 c^2) per component; ours counts the
    # triangular U22 product as c^2 and adds the two m x m triangular solves the counter does not see
    linear = complexity.linear_flops(model, skip=("joint.encoder",))
    assert counted == linear + j * (2 * m * c + 2 * c * c)
    assert complexity.ea_cgmm_draw_flops(m, c, j, latent, hidden) == linear + j * (2 * m * c + m * m + c * c) + m * m


def test_module_flops_scale_with_the_system():
    small = complexity.module_flops(complexity.Sizes(2, 2, 2, 2))
    big = complexity.module_flops(complexity.Sizes(8, 8, 8, 8))
    assert set(small) == {"ppo_policy", "reward_cost_kan", "transition_ea_cgmm", "initial_vae_chmdn"}
    assert all(big[k] > small[k] > 0 for k in small)
    # per-UE views: doubling U doubles the mixture modules; doubling M (the view's size) more than doubles them
    base = complexity.module_flops(complexity.Sizes(4, 4, 4, 4))
    more_u = complexity.module_flops(complexity.Sizes(4, 8, 4, 4))
    more_m = complexity.module_flops(complexity.Sizes(4, 4, 4, 8))
    for k in ("transition_ea_cgmm", "initial_vae_chmdn"):
        assert more_u[k] == 2 * base[k]
        assert more_m[k] > 2.5 * base[k]
