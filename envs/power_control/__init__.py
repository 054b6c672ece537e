"""Downlink power control in cell-free massive MIMO (see :mod:`cfmarl.envs.power_control_v0`)."""
