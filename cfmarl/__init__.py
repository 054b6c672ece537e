"""cfmarl: Ray-distributed multi-agent RL for wireless resource allocation in
cell-free massive MIMO. Subpackages: ``cfmarl.envs`` (simulators),
``cfmarl.policies`` (baselines, RLlib modules and learners), and the
orchestration modules here (CLI, evaluation harness, run directories)."""

__version__ = "0.1.0"
