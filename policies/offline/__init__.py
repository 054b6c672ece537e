"""Offline learning: models fitted to recorded transitions (``cfmarl collect`` datasets).

``virtual_cmdp``: the URLLC paper's learned virtual CMDP (KAN reward / cost, VAE-ChMDN initial
states, EA-CGMM transitions) and the generative models it is compared with.
"""
