"""The AP-selection studies recorded in benchmarks/results/aps/ and benchmarks/results/scale/, by folder, with what
differs in each: the registry benchmarks/aps_claims.py reads its claims rows from (a new study: one entry here)."""

#: APS-GNN on `large` (trained there from its own clone, or a medium policy fine-tuned there): newest recipe first
LARGE_SOURCES = (("large_rank_lam1/large.csv", "trained on large from its own clone of 4-strongest (30 episodes), with "
                                               "the link-rank feature and the multiplier started at 1, 80 iterations, "
                                               "80 validation episodes; 20 test episodes"),
                 ("large_rank/large.csv", "trained on large from its own clone of 4-strongest (30 episodes), with the "
                                          "link-rank feature, 80 iterations, 80 validation episodes; 20 test episodes"),
                 ("large_seeds/large.csv", "the cost-credit medium policy of the same seed fine-tuned 60 iterations, 80 "
                                           "validation episodes; 20 test episodes"),
                 ("large_credit80/large.csv", "the cost-credit medium policy fine-tuned 60 iterations, 80 validation "
                                              "episodes; 20 test episodes"),
                 ("large_credit/large.csv", "the cost-credit medium policy fine-tuned 60 iterations, 20 validation "
                                            "episodes; 20 test episodes"),
                 ("large.csv", "the medium policy fine-tuned 10 iterations; 5 test episodes"))

RECIPE_VARIANTS = {  # variants of the medium recipe with 3 seeds x 2 mobilities (aps_reproduction.py --base
    # <folder>/base.yaml --only gnn_ped gnn_veh --out benchmarks/results/aps/<folder>): folder -> what differs
    "pid": "training target 0.02, PID multiplier",
    "target0.03": "training target 0.03, PID multiplier",
    "target0.04": "training target 0.04, PID multiplier",
    "warmup_retarget": "critic warm-up (10 iterations), PID multiplier, training target steered by validation",
    "credit": "critic warm-up, PID multiplier, steered target, cost credit by large-scale gain (env cost_credit)",
    "credit150": "the cost-credit variant trained 150 iterations instead of 100",
    "credit_floor": "credit150 with the steered target's lower bound at 0.25 x the limit (0.5 before)",
    "credit_lr": "credit150 with the lr decayed linearly from 1e-4 (iteration 75) to 2e-5 (150)",
    "credit_lam16": "credit150 with the multiplier started at 16 (8 before)",
    "large_seeds": "credit150 retrained with the fused Adam (the medium policies the large fine-tunings start from)",
    "rank": "credit150 with the link-rank feature (env observe_link_rank: the link's rank among its UE's APs)",
    "rank_rollback": "rank with training.rollback (back to the best validated checkpoint after an infeasible "
                     "validation, lr x 0.7 each time)",
    "rank_rollback_p3": "rank with training.rollback after 3 infeasible validations in a row (rollback_patience 3), "
                        "the step kept, onto the warmed critics",
    "rank_k3": "rank_rollback_p3 warm-started from an exact clone of the best feasible k-strongest (k = 3 in the "
               "vehicular case; vehicular runs only)",
    "rank_exact_p3": "rank_rollback_p3 warm-started from an exact clone of the best feasible k-strongest (k = 4 in the "
                     "pedestrian case, cloned on 3x the episodes; pedestrian runs only)",
    "rank_k3_ls_floor": "rank_k3 with the clone label-smoothed (pretrain.label_smoothing 0.004) and the entropy floor "
                        "(algorithm.entropy_floor 0.005 nats per link, an adaptive entropy bonus; vehicular runs only)",
    "rank_exact_p3_ls_floor": "rank_exact_p3 with the clone label-smoothed (pretrain.label_smoothing 0.004) and "
                              "the entropy floor (algorithm.entropy_floor 0.005 nats per link, an adaptive entropy "
                              "bonus; pedestrian runs only)",
}
MIX_STUDIES = {  # mixture-of-sizes studies (cfmarl scale tune_configs/<name>.yaml): name -> what differs
    "aps_gnn_mix": "one multiplier shared by the sizes",
    "aps_gnn_mix_per_size": "one multiplier per size",
    "aps_gnn_mix_per_size_pid": "one multiplier per size, PID rule",
    "aps_gnn_mix_per_size_mult": "one multiplier per size, multiplicative rule",
    "aps_gnn_mix_per_size_mult_lr01": "one multiplier per size, multiplicative rule with a third of the step",
    "aps_gnn_mix_per_size_pid_warmup": "one multiplier per size, PID rule, critic warm-up (10 iterations)",
    "aps_gnn_mix_credit": "the medium cost-credit recipe: one PID multiplier per size, each size's target steered by "
                          "its own validation, cost credit by large-scale gain, critic warm-up",
    "aps_gnn_mix_rank": "aps_gnn_mix_credit with the link-rank feature (env observe_link_rank)",
    "aps_gnn_mix_rank_steady": "aps_gnn_mix_rank with the multiplier started at 1 and the steered target moving at "
                               "half the rate within [0.75, 1.5] x the limit",
    "aps_gnn_mix_rank_bounds": "aps_gnn_mix_rank with the steered target moving at half the rate within [0.75, 1.5] x "
                               "the limit",
}
