"""Env adapters: cfmarl array cores -> RLlib MultiAgentEnv (graph mode, per-agent mode)."""
