"""Expected reward of a policy under a sampler: exact where closed forms exist, else Monte Carlo.

`reward_gap_metrics` gives the numbers of arXiv 2510.10767 for one policy: E[r] under the
ODE sampler (lambda = 0) and under the training sampler, their difference (the gap), each
with a standard error (0 for exact numbers). Prompted families are evaluated on balanced
prompts (class k at positions k, k + 10, ...) and noises fixed by the seed.
"""
from __future__ import annotations

import math

import torch

from .samplers import chain_step
from .samplers.gddim import sample_chain


def can_be_exact(policy, reward) -> bool:
    return getattr(getattr(policy, "data", None), "is_gaussian", False) and hasattr(reward, "expectation") \
        and hasattr(policy, "exact_moments")


def resolve_method(method: str, policy, reward) -> str:
    if method == "auto":
        return "exact" if can_be_exact(policy, reward) else "monte_carlo"
    if method == "exact" and not can_be_exact(policy, reward):
        raise ValueError("exact evaluation needs Gaussian data and a reward with a closed-form expectation")
    return method


def eval_prompts(policy, n: int):
    return policy.balanced_prompts(n) if hasattr(policy, "balanced_prompts") else None


def sample_x0(policy, stds, n: int, seed: int, chunk: int = 65536, plan=None):
    """(x0, prompts) of n chains from noises fixed by `seed` (plan: samplers.chain_step)."""
    g = torch.Generator().manual_seed(seed)
    chunk = min(chunk, getattr(policy, "sample_chunk", chunk))      # large models bound their batch
    prompts = eval_prompts(policy, n)
    out = []
    with torch.no_grad():
        for start in range(0, n, chunk):
            m = min(chunk, n - start)
            p = prompts[start:start + m] if prompts is not None else None
            x_T = policy.prior(m, g)
            out.append(sample_chain(lambda x, k: policy.eps(x, k, p), policy.a, policy.s, stds, x_T, g,
                                    record=False, mean_fn=chain_step(policy, p, plan))["x0"])
    return torch.cat(out), prompts


def expected_reward(policy, stds, reward, method, samples=10_000, seed=0, keep=None,
                    plan=None) -> tuple[float, float]:
    """(E[r], standard error). keep: a dict that receives x0, prompts and the per-chain rewards
    (Monte Carlo only). plan: how deterministic steps are taken (samplers.chain_step)."""
    if method == "exact":
        with torch.no_grad():
            m, v = policy.exact_moments(stds, plan=plan) if plan is not None else policy.exact_moments(stds)
            return float(reward.expectation(m, v)), 0.0
    x0, prompts = sample_x0(policy, stds, samples, seed, plan=plan)
    r = reward(x0, prompts)
    if keep is not None:
        keep.update(x0=x0, prompts=prompts, rewards=r)
    return float(r.mean()), float(r.std() / math.sqrt(len(r)))


def reward_gap_metrics(policy, ode_stds, train_stds, reward, method, samples, seed, keep=None, ode_plan=None) -> dict:
    """keep: a dict that receives the ODE sampler's x0, prompts and per-chain rewards (Monte Carlo).
    ode_plan: the ODE sampler's steps by another solver (second_order.full_plan; None: its own first-order step)."""
    ode, ode_se = expected_reward(policy, ode_stds, reward, method, samples, seed, keep, plan=ode_plan)
    sde, sde_se = expected_reward(policy, train_stds, reward, method, samples, seed + 1)
    return {"reward_ode": ode, "reward_ode_se": ode_se, "reward_sde": sde, "reward_sde_se": sde_se,
            "gap": ode - sde, "gap_se": math.hypot(ode_se, sde_se)}
