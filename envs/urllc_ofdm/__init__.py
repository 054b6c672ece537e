"""CF-MIMO OFDM URLLC downlink with energy efficiency (see :mod:`cfmarl.envs.urllc_ofdm_v0`)."""
