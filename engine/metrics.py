"""Names of the numbers stages report (importable without torch).

improvement = E[r] fine-tuned, ODE  - E[r] pretrained, ODE
gap         = E[r] fine-tuned, ODE  - E[r] fine-tuned, training (SDE) sampler
"""
EVAL_METRICS = (
    "reward_ode", "reward_sde", "gap", "improvement",
    "reward_ode_pretrained", "reward_sde_pretrained", "gap_pretrained",
    "judge_accuracy", "judge_accuracy_pretrained", "diversity", "diversity_pretrained", "reward_window",
)
CURVE_METRICS = ("reward_ode", "reward_sde", "gap", "improvement")
