"""The virtual CMDP's registry entry. Not a built-in env (it needs fitted models): name it in an
experiment as ``env: {name: "cfmarl.policies.offline.virtual_cmdp.registration:entry", scenario: vae_chmdn,
overrides: {models: DIR}}``, or call ``register_env(entry())``."""

from __future__ import annotations


def entry():
    from cfmarl.policies.baselines.urllc_ofdm import make_baseline
    from cfmarl.policies.offline.virtual_cmdp import env
    from cfmarl.registry import EnvEntry

    return EnvEntry(name="urllc_vcmdp", module=env.__name__, family="central (learned model of urllc)",
                    description="virtual CMDP of CF-MIMO OFDM URLLC learned offline (urllc_ee_virtual_cmdp)",
                    scenario_names=env.scenario_names, make_config=env.make_config,
                    make_core=lambda cfg, n: env.VirtualCmdpCore(cfg, num_envs=n), make_baseline=make_baseline,
                    baselines=("random", "orthogonal:on=-1,off=1,serve=best"), declaration=env.DECLARATION,
                    default_scenario="vae_chmdn")
