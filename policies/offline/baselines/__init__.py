"""Offline MARL baselines of the MA-CDMP paper on per-node data: behaviour cloning, MA-TD3+BC, MA-CQL."""
