"""The learned virtual CMDP of urllc_ee_virtual_cmdp (Sec. IV): the pieces are

* :mod:`.gmm` - Gaussian mixtures in the upper-Cholesky precision parametrisation (eqs. 26-27),
  conditioning (eqs. 32-33) and the evidence-aware component weights (eqs. 34-36);
* :mod:`.vae_chmdn` - the VAE with a channel mixture-density decoder (VAE-ChMDN, eq. 28) for the
  initial-state distribution, and :class:`.vae_chmdn.EaCgmm` for the transitions (Alg. 1).

Everything here is torch and numpy; nothing reads YAML.
"""
