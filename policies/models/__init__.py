"""RLModules (torch / torch-geometric): graph actor-critics, distributions, layers."""
