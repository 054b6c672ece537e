"""Typed experiment -> RLlib AlgorithmConfig, for any registered env and learner.

``model.mode`` picks the adapter and module (graph: per-node GNN / MLP model on the
graph agent; central: one joint model on the graph agent; per_agent: stock RLlib
multi-agent with a shared MLP), ``algorithm.name`` the learner (its registry entry
says what it supports and maps the ``algorithm`` section to its ``.training()``).
"""

from __future__ import annotations

from typing import Any

from cfmarl.experiment import ExperimentConfig


def module_spec(exp: ExperimentConfig, env_config: dict | None = None) -> Any:
    """The RLModuleSpec of a graph / central experiment's model, with the env's graph."""
    from ray.rllib.core.rl_module.rl_module import RLModuleSpec

    from cfmarl.envs.declarations import action_levels
    from cfmarl.policies.adapters.graph_env import GraphEnv
    from cfmarl.policies.learners.registry import get_learner
    from cfmarl.policies.models.graph_actor_critic import CentralActorCritic, GraphActorCritic
    from cfmarl.policies.models.mat import MATActorCritic

    probe = GraphEnv(env_config or exp.env_config())
    m = exp.model
    learner = get_learner(exp.algorithm.name)
    module_class = learner.module_class(m.mode) if learner.module_class else \
        (GraphActorCritic if m.mode != "central" else MATActorCritic if m.encoder == "mat" else CentralActorCritic)
    levels = action_levels(probe.core)  # quantised action components, if the env declares them
    spaces = dict(observation_space=probe.observation_spaces["graph"], action_space=probe.action_spaces["graph"])
    # read by the off-policy modules only: their critics, and the learner's own module settings
    critic = {"critic": m.critic, "critic_rounds": m.critic_rounds, "pi_init_scale": m.pi_init_scale,
              **(learner.module_config(exp.algorithm) if learner.module_config else {})}
    head = m.action_head
    if head == "auto" and learner.off_policy:  # SAC: the squashed Gaussian of the paper; DDPG / TD3: deterministic
        head = "deterministic" if learner.deterministic else "squashed_gaussian"
    if m.mode == "central":
        return RLModuleSpec(module_class=module_class, **spaces,
                            model_config={"hidden": m.hidden, "num_costs": probe.core.n_costs, "encoder": m.encoder,
                                          "rounds": m.rounds, "action_head": head, "action_levels": levels,
                                          "cost_encoder": m.cost_encoder, **critic})
    edge_index, edge_type = probe.graph()
    graphs = probe.graphs()
    mixture = {"graphs": graphs} if len(graphs) > 1 else {}  # a mixture of sizes: every graph, by graph_id
    return RLModuleSpec(
        module_class=module_class, **spaces,
        model_config={"edge_index": edge_index, "edge_type": edge_type, "num_relations": int(edge_type.max()) + 1
                      if edge_type.size else 1, "num_nodes": probe.n, **mixture,
                      "sequence_features": getattr(probe.core, "sequence_features", 0), "encoder": m.encoder,
                      "rounds": m.rounds, "hidden": m.hidden, "use_gru": m.use_gru, "gru_hidden": m.gru_hidden,
                      "num_costs": probe.core.n_costs, "action_head": head, "action_levels": levels,
                      "gate_relation": m.gate_relation, **critic})


def build_algo_config(exp: ExperimentConfig) -> Any:
    from cfmarl.policies.adapters.graph_env import MODULE_ID, GraphEnv, policy_mapping_fn
    from cfmarl.policies.callbacks import GraphEpisodeMetrics
    from cfmarl.policies.learners.registry import get_learner

    a, r = exp.algorithm, exp.resources
    learner = get_learner(a.name)
    if learner.offline is not None:
        from cfmarl.envs.validation import ConfigError

        raise ConfigError(f"algorithm.name {a.name!r} is an offline learner: `cfmarl train` runs it from a dataset; "
                          "RLlib-based commands (tune, scale) do not")
    env_config = exp.env_config()
    envs = r.num_envs_per_env_runner * max(1, r.num_env_runners)
    cfg = learner.make_config()
    # on-policy: RLlib sizes fragments from the train batch; off-policy: one iteration samples train_batch_size steps
    fragment = -(-a.train_batch_size // envs) if learner.off_policy else "auto"
    cfg = (cfg.env_runners(num_env_runners=r.num_env_runners, num_envs_per_env_runner=r.num_envs_per_env_runner,
                           rollout_fragment_length=fragment, episodes_to_numpy=False)
           .callbacks(GraphEpisodeMetrics)
           .training(**learner.training_kwargs(a))
           .debugging(seed=exp.seed)
           .reporting(metrics_num_episodes_for_smoothing=max(1, envs)))
    if exp.model.mode == "per_agent":
        from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig

        from cfmarl.policies.adapters.per_agent import PerAgentEnv, per_agent_policy_mapping_fn

        cfg = (cfg.environment(PerAgentEnv, env_config=env_config)
               .multi_agent(policies={MODULE_ID}, policy_mapping_fn=per_agent_policy_mapping_fn)
               .rl_module(model_config=DefaultModelConfig(fcnet_hiddens=[exp.model.hidden, exp.model.hidden])))
    else:
        from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec

        # the heads emit actions inside the env's bounds: no normalisation or clipping by RLlib
        spec = module_spec(exp, env_config)
        # a plain spec lets env runners build inference-only modules (no critics: SAC); PPO's have no split
        cfg = (cfg.environment(GraphEnv, env_config=env_config, normalize_actions=False, clip_actions=False)
               .multi_agent(policies={MODULE_ID}, policy_mapping_fn=policy_mapping_fn)
               .rl_module(rl_module_spec=spec if learner.off_policy else
                          MultiRLModuleSpec(rl_module_specs={MODULE_ID: spec})))
    cfg.validate()
    return cfg
