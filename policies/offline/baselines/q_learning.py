"""Offline actor-critic baselines of the MA-CDMP paper, extended to the decentralised multi-agent setting as
the paper does (DTDE, parameter sharing; a node's critic and actor see its own observation row, which holds
the env's mean-field features, and its own action; its reward is its own):

* **MA-TD3+BC** (Fujimoto & Gu 2021): TD3 (twin critics, target policy smoothing, delayed actor and target
  updates) with the actor loss ``-alpha Q(s, pi(s)) / mean|Q| + (pi(s) - a)^2``;
* **MA-CQL** (Kumar et al. 2020) on the same TD3 machinery: the critic loss adds
  ``cql_alpha (logsumexp_a' Q(s, a') - Q(s, a))`` with a' drawn uniformly and around the actor's action
  (CQL(H) without importance weights), the actor maximises Q.

Episodes end by a time limit only, so targets always bootstrap (no terminal states). Actions in [-1, 1].
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import torch
from torch import nn

from cfmarl.envs.validation import ConfigError
from cfmarl.policies.offline.baselines.bc import check_hidden, mlp, sample_transitions
from cfmarl.policies.offline.method import OfflineMethod


@dataclass(frozen=True)
class TD3BCOptions:
    hidden: list = field(default_factory=lambda: [256, 256])
    mean_field: bool = True
    alpha: float = 2.5  # TD3+BC: weight of the Q term against the behaviour-cloning term
    tau: float = 0.005
    policy_noise: float = 0.2  # target policy smoothing (action units of [-1, 1])
    noise_clip: float = 0.5
    policy_delay: int = 2
    reward_scale: float = 1.0  # rewards are multiplied by this in the targets

    def check(self) -> None:
        check_hidden(self.hidden)
        for k in ("alpha", "tau", "policy_noise", "noise_clip", "reward_scale"):
            if not getattr(self, k) >= 0:
                raise ConfigError(f"algorithm.options.{k}: must be >= 0, got {getattr(self, k)!r}")
        if not 0 < self.tau <= 1:
            raise ConfigError(f"algorithm.options.tau: must be in (0, 1], got {self.tau!r}")
        if self.policy_delay < 1:
            raise ConfigError(f"algorithm.options.policy_delay: must be >= 1, got {self.policy_delay!r}")


@dataclass(frozen=True)
class CQLOptions(TD3BCOptions):
    cql_alpha: float = 1.0  # weight of the conservative penalty
    cql_samples: int = 10  # sampled actions per state (each of uniform and around the actor)

    def check(self) -> None:
        super().check()
        if self.cql_samples < 1:
            raise ConfigError(f"algorithm.options.cql_samples: must be >= 1, got {self.cql_samples!r}")


class TD3BC(OfflineMethod):
    """MA-TD3+BC (and the machinery MA-CQL shares)."""

    Options = TD3BCOptions

    def __init__(self, spec, options, algorithm, seed: int):
        super().__init__(spec, options, algorithm, seed)
        torch.manual_seed(seed)
        o = options
        self.cols = spec.features(o.mean_field)
        F, A = len(self.cols), spec.action_dim
        self.pi = mlp([F, *o.hidden, A], nn.Tanh())
        self.q1, self.q2 = mlp([F + A, *o.hidden, 1]), mlp([F + A, *o.hidden, 1])
        self.pi_t, self.q1_t, self.q2_t = (copy.deepcopy(m).requires_grad_(False) for m in (self.pi, self.q1, self.q2))
        self.optimizers = {"pi": torch.optim.Adam(self.pi.parameters(), lr=self.lr),
                           "q": torch.optim.Adam([*self.q1.parameters(), *self.q2.parameters()], lr=self.lr)}

    def sample(self, data, size, rng):
        b = sample_transitions(data, size, rng)
        return {"s": self.norm_obs(b["obs"], self.cols), "a": self.norm_action(b["actions"]),
                "r": torch.as_tensor(b["rewards"], dtype=torch.float32) * self.options.reward_scale,
                "s2": self.norm_obs(b["next_obs"], self.cols)}

    def target(self, batch) -> torch.Tensor:
        o = self.options
        with torch.no_grad():
            a2 = self.pi_t(batch["s2"])
            noise = (torch.randn(a2.shape, generator=self.gen) * o.policy_noise).clamp(-o.noise_clip, o.noise_clip)
            a2 = (a2 + noise).clamp(-1, 1)
            sa2 = torch.cat([batch["s2"], a2], -1)
            return batch["r"] + self.gamma * torch.minimum(self.q1_t(sa2), self.q2_t(sa2)).squeeze(-1)

    def critic_loss(self, batch, y: torch.Tensor) -> tuple[torch.Tensor, dict]:
        sa = torch.cat([batch["s"], batch["a"]], -1)
        q1, q2 = self.q1(sa).squeeze(-1), self.q2(sa).squeeze(-1)
        loss = ((q1 - y) ** 2).mean() + ((q2 - y) ** 2).mean()
        return loss, {"q_loss": float(loss.detach()), "q_mean": float(q1.mean().detach())}

    def actor_loss(self, batch) -> tuple[torch.Tensor, dict]:
        pi = self.pi(batch["s"])
        q = self.q1(torch.cat([batch["s"], pi], -1))
        lam = self.options.alpha / q.abs().mean().detach().clamp_min(1e-6)
        bc = ((pi - batch["a"]) ** 2).mean()
        return -lam * q.mean() + bc, {"bc_loss": float(bc.detach())}

    def update(self, batch, step):
        o = self.options
        loss, info = self.critic_loss(batch, self.target(batch))
        self.optimizers["q"].zero_grad()
        loss.backward()
        self.optimizers["q"].step()
        if step % o.policy_delay == 0:
            aloss, ainfo = self.actor_loss(batch)
            self.optimizers["pi"].zero_grad()
            aloss.backward()
            self.optimizers["pi"].step()
            info.update(ainfo, pi_loss=float(aloss.detach()))
            with torch.no_grad():
                for net, tgt in ((self.pi, self.pi_t), (self.q1, self.q1_t), (self.q2, self.q2_t)):
                    for p, pt in zip(net.parameters(), tgt.parameters()):
                        pt.mul_(1 - o.tau).add_(o.tau * p)
        return info

    def held_out(self, batch):
        with torch.no_grad():
            _, info = self.critic_loss(batch, self.target(batch))
            _, ainfo = self.actor_loss(batch)
        return {**info, **ainfo}

    @torch.no_grad()
    def act(self, obs, gen):
        return self.env_action(self.pi(self.norm_obs(obs, self.cols)))


class CQL(TD3BC):
    """MA-CQL: the TD3 critic with the conservative penalty; the actor maximises Q (no BC term)."""

    Options = CQLOptions

    def critic_loss(self, batch, y):
        loss, info = super().critic_loss(batch, y)
        o = self.options
        s, A = batch["s"], self.spec.action_dim
        R, M = s.shape[0], o.cql_samples
        with torch.no_grad():
            unif = torch.rand((R, M, A), generator=self.gen) * 2 - 1
            near = (self.pi(s)[:, None] + 0.3 * torch.randn((R, M, A), generator=self.gen)).clamp(-1, 1)
        acts = torch.cat([unif, near, batch["a"][:, None]], 1)  # (R, 2M + 1, A)
        sa = torch.cat([s[:, None].expand(-1, acts.shape[1], -1), acts], -1)
        pen = 0.0
        for q in (self.q1, self.q2):
            qs = q(sa).squeeze(-1)
            pen = pen + (torch.logsumexp(qs, 1) - qs[:, -1]).mean()
        info["cql_penalty"] = float(pen.detach())
        return loss + o.cql_alpha * pen, info

    def actor_loss(self, batch):
        pi = self.pi(batch["s"])
        q = self.q1(torch.cat([batch["s"], pi], -1))
        return -q.mean(), {"bc_loss": float(((pi - batch["a"]) ** 2).mean().detach())}
