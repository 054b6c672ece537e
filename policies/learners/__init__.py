"""Constrained learners on RLlib's new API stack (PPO-Lagrangian now, SAC-Lagrangian later)."""
