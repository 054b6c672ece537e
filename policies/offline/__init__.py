"""Offline learning: models fitted to recorded transitions (``cfmarl collect`` datasets).

``virtual_cmdp``: the URLLC paper's learned virtual CMDP (KAN reward / cost, VAE-ChMDN initial
states, EA-CGMM transitions) and the generative models it is compared with.
``method``: per-node data and the interface of the decentralised offline MARL learners (cfmarl train);
``diffusion_planner``: MA-CDMP; ``baselines``: BC, MA-TD3+BC, MA-CQL.
"""
