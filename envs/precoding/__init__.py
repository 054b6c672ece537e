"""WMMSE-expert distributed precoding in cell-free O-RAN (see :mod:`cfmarl.envs.precoding_v0`)."""
