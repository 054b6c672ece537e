"""cfmarl environments (installed as ``cfmarl.envs``). Nothing here imports torch or ray."""
