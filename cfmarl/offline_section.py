"""The ``offline`` section of an experiment file (``cfmarl offline``; see cfmarl/offline.py)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class OfflineSection:
    """``cfmarl offline`` settings (ignored by train / tune): collect a dataset with a behaviour policy,
    fit a learned model of the env to it, pretrain the policy in the learned env, fine-tune it in the real
    env and compare with training from scratch (cfmarl/offline.py)."""

    behaviour: str = "random"  # behaviour policy of the dataset (a baseline spec of the env)
    episodes: int = 150
    dataset_seed: int = 32
    fit: str = ""  # "package.module:function" fitting the models: f(dataset_dir, out_dir, options, log) -> dict
    models: dict = field(default_factory=dict)  # the fitter's options (hyperparameters)
    virtual_env: str = ""  # "package.module:function" returning the learned env's EnvEntry
    virtual_overrides: dict = field(default_factory=dict)  # extra config fields of the learned env
    frameworks: list = field(default_factory=list)  # scenarios of the learned env to pretrain in (default: its first)
    pretrain_iterations: int = 50
    finetune_from: int = 0  # the pretraining iteration whose checkpoint starts the fine-tuning (0: the last)
    seeds: list = field(default_factory=lambda: [0])
    # offline learners (cfmarl train with an offline algorithm.name, cfmarl/offline_train.py)
    dataset: str = ""  # a `cfmarl collect` folder (collected there when missing); "" = <out>/datasets/<digest>
    behaviours: list = field(default_factory=list)  # behaviour policies of the dataset, shards alternate
    #                                                 between them ([] = [behaviour])
    dataset_overrides: dict = field(default_factory=dict)  # env config fields of the recorded episodes only
    val_fraction: float = 0.1  # episodes held out for the held-out losses
