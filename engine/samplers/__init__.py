"""Samplers: one file per kind (`<kind>.py`, with its declaration `<kind>_kind.py`). Each
implementation module defines `step_stds(sampler_cfg, a, s)`: the std of every step's
Gaussian, shape [T]; index k is the step from grid level k+1 to level k.

A step's mean is gDDIM's (samplers/gddim.py) for a family that predicts eps. A family with its
own transition (the rectified flow: the flow SDE) gives its policy `step_mean(x, k, std, prompts,
reference=False)` and, for deterministic steps by another solver (second_order.OdePlan),
`ode_chain(prompts, plan)`; `chain_step` makes the sampling loop use them. An eps family's
deterministic steps follow a Heun plan through second_order.eps_chain_mean_fn."""
from __future__ import annotations


def step_stds(sampler, a, s):
    from .. import registry
    return registry.implementation(registry.kind("sampler", sampler.kind)).step_stds(sampler, a, s)


def chain_step(policy, prompts=None, plan=None):
    """mean_fn(x, k, std) for gddim.sample_chain: the policy's own transition, its deterministic
    steps following `plan` (second_order.OdePlan) when given; None for an eps family without a plan (gDDIM)."""
    if not hasattr(policy, "step_mean"):
        if plan is None:
            return None
        from .second_order import eps_chain_mean_fn
        return eps_chain_mean_fn(policy, prompts, plan)
    if plan is None:
        return lambda x, k, std: policy.step_mean(x, k, std, prompts)
    return policy.ode_chain(prompts, plan)
