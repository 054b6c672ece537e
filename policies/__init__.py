"""cfmarl policies (installed as ``cfmarl.policies``): baselines now; RLlib modules and learners later."""
