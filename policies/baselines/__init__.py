"""Classical controllers (baselines) for every env, evaluated by the cfmarl harness."""
