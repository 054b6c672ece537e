"""MA-CDMP: the multi-agent conditional diffusion planner with mean-field guidance (ma_cdmp_mf_tdma)."""
