"""AP selection (per-AP-UE-link agents). Public module: :mod:`cfmarl.envs.ap_selection_v0`."""
