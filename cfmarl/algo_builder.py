"""Typed experiment -> RLlib AlgorithmConfig (graph mode, PPO-Lagrangian)."""

from __future__ import annotations

from typing import Any

from cfmarl.experiment import ExperimentConfig


def module_spec(exp: ExperimentConfig, env_config: dict | None = None) -> Any:
    """The RLModuleSpec of the experiment's model, with the env's static graph."""
    from ray.rllib.core.rl_module.rl_module import RLModuleSpec

    from cfmarl.policies.adapters.graph_env import GraphEnv
    from cfmarl.policies.models.graph_actor_critic import CentralActorCritic, GraphActorCritic

    probe = GraphEnv(env_config or exp.env_config())
    m = exp.model
    if m.architecture == "central":
        return RLModuleSpec(module_class=CentralActorCritic, observation_space=probe.observation_spaces["graph"],
                            action_space=probe.action_spaces["graph"],
                            model_config={"hidden": m.hidden, "num_costs": probe.core.n_costs})
    edge_index, edge_type = probe.graph()
    return RLModuleSpec(
        module_class=GraphActorCritic, observation_space=probe.observation_spaces["graph"],
        action_space=probe.action_spaces["graph"],
        model_config={"edge_index": edge_index, "edge_type": edge_type, "num_relations": int(edge_type.max()) + 1,
                      "sequence_features": getattr(probe.core, "sequence_features", 0), "encoder": m.encoder,
                      "rounds": m.rounds, "hidden": m.hidden, "use_gru": m.use_gru, "gru_hidden": m.gru_hidden,
                      "num_costs": probe.core.n_costs})


def build_algo_config(exp: ExperimentConfig) -> Any:
    from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec

    from cfmarl.policies.adapters.graph_env import MODULE_ID, GraphEnv, policy_mapping_fn
    from cfmarl.policies.callbacks import GraphEpisodeMetrics
    from cfmarl.policies.learners.ppo_lagrangian import PPOLagrangianConfig

    a, r = exp.algorithm, exp.resources
    env_config = exp.env_config()
    envs = r.num_envs_per_env_runner * max(1, r.num_env_runners)
    cfg = (PPOLagrangianConfig()
           .environment(GraphEnv, env_config=env_config)
           .env_runners(num_env_runners=r.num_env_runners, num_envs_per_env_runner=r.num_envs_per_env_runner,
                        rollout_fragment_length="auto", episodes_to_numpy=False)
           .multi_agent(policies={MODULE_ID}, policy_mapping_fn=policy_mapping_fn)
           .rl_module(rl_module_spec=MultiRLModuleSpec(rl_module_specs={MODULE_ID: module_spec(exp, env_config)}))
           .callbacks(GraphEpisodeMetrics)
           .training(lr=a.lr, gamma=a.gamma, lambda_=a.lambda_, clip_param=a.clip_param,
                     vf_clip_param=a.vf_clip_param, grad_clip=a.grad_clip, entropy_coeff=a.entropy_coeff,
                     vf_loss_coeff=a.vf_loss_coeff, num_epochs=a.num_epochs, minibatch_size=a.minibatch_size,
                     train_batch_size_per_learner=a.train_batch_size, cost_limit=a.cost_limit,
                     lagrangian_rule=a.lagrangian_rule, lambda_lr=a.lambda_lr, lambda_init=a.lambda_init,
                     pid_kp=a.pid_kp, pid_ki=a.pid_ki, pid_kd=a.pid_kd, pid_ema_alpha=a.pid_ema_alpha,
                     advantage_scaling=a.advantage_scaling)
           .debugging(seed=exp.seed)
           .reporting(metrics_num_episodes_for_smoothing=max(1, envs)))
    cfg.validate()
    return cfg
