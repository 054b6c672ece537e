"""MF-TDMA resource-block requests in a multi-hop ad hoc network (see :mod:`cfmarl.envs.mf_tdma_v0`)."""
