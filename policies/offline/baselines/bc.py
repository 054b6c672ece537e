"""Behaviour cloning: an MLP from a node's observation row to its action, mean squared error in [-1, 1]
action units (deterministic at execution)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from cfmarl.envs.validation import ConfigError
from cfmarl.policies.offline.method import NodeData, OfflineMethod


def mlp(sizes: list[int], out_act: nn.Module | None = None) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-2], sizes[1:-1]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    layers.append(nn.Linear(sizes[-2], sizes[-1]))
    if out_act is not None:
        layers.append(out_act)
    return nn.Sequential(*layers)


def check_hidden(hidden: list, key: str = "algorithm.options.hidden") -> None:
    if not hidden or any(isinstance(h, bool) or not isinstance(h, int) or h < 1 for h in hidden):
        raise ConfigError(f"{key}: needs a non-empty list of positive integers, got {hidden!r}")


def sample_transitions(data: NodeData, size: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    idx = rng.integers(0, data.transitions, size)
    e, t, n = data.flat_index(idx)
    return {"obs": data.obs[e, t, n], "actions": data.actions[e, t, n], "rewards": data.rewards[e, t, n],
            "next_obs": data.next_obs[e, t, n]}


@dataclass(frozen=True)
class BCOptions:
    hidden: list = field(default_factory=lambda: [256, 256])
    mean_field: bool = True  # see the neighbour (mean-field) observation features

    def check(self) -> None:
        check_hidden(self.hidden)


class BehaviourCloning(OfflineMethod):
    Options = BCOptions

    def __init__(self, spec, options: BCOptions, algorithm, seed: int):
        super().__init__(spec, options, algorithm, seed)
        torch.manual_seed(seed)
        self.cols = spec.features(options.mean_field)
        self.pi = mlp([len(self.cols), *options.hidden, spec.action_dim], nn.Tanh())
        self.optimizers = {"pi": torch.optim.Adam(self.pi.parameters(), lr=self.lr)}

    def sample(self, data, size, rng):
        b = sample_transitions(data, size, rng)
        return {"s": self.norm_obs(b["obs"], self.cols), "a": self.norm_action(b["actions"])}

    def _loss(self, batch) -> torch.Tensor:
        return ((self.pi(batch["s"]) - batch["a"]) ** 2).mean()

    def update(self, batch, step):
        loss = self._loss(batch)
        opt = self.optimizers["pi"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        return {"bc_loss": float(loss.detach())}

    @torch.no_grad()
    def held_out(self, batch):
        return {"bc_loss": float(self._loss(batch).detach())}

    @torch.no_grad()
    def act(self, obs, gen):
        return self.env_action(self.pi(self.norm_obs(obs, self.cols)))
