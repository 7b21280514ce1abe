"""Second-order ODE steps, shared by the samplers and algorithms that take deterministic steps.

Heun's method for dx/dtau = f(x, tau) from tau to tau_p:

    d1 = f(x, tau);  x~ = x + (tau_p - tau) d1;  d2 = f(x~, tau_p);  x_p = x + (tau_p - tau)(d1 + d2)/2,

two model evaluations a step (local error O(h^3) against Euler's O(h^2)). A diffusion model's
probability-flow ODE is Euler-friendly in its own coordinates, so each parameterisation names them:
a rectified flow (x_t = (1 - t) x0 + t eps, velocity v) uses tau = t, f = v (diffusers'
FlowMatchHeunDiscreteScheduler, tests/test_flow.py); an eps-prediction model on x_t = a x0 + s eps
would use y = x / a over sigma = s / a, f = eps (DDIM is Euler there; diffusers'
HeunDiscreteScheduler). The final step into tau_p = 0 is Euler, as diffusers' schedulers take it.

DPM-Solver++(2M) (Lu et al. 2022; MixGRPO-Flash's solver after its window) is multistep: one model
evaluation a step, the previous step's data prediction giving the second order. With
lambda = log(alpha / sigma) (for the flow alpha = 1 - t, sigma = t), h = lambda_t - lambda_s:

    x_t = (sigma_t / sigma_s) x - alpha_t (e^-h - 1) [D0 + (D0 - D_prev) / (2 r)],   r = h_prev / h,

with D0 the data prediction x0_hat at s ("midpoint" form; first order without the bracket's second
term: on the first step, and on the last step into t = 0, `lower_order_final` as in diffusers).

`OdePlan` says which deterministic steps of a chain a solver takes and where it lands: MixGRPO-Flash
takes the steps after its window with fewer, longer steps (its compression), so some levels are skipped.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

def heun(f, x, tau, tau_p, d1=None, euler: bool = False):
    """x at tau_p after one Heun step of dx/dtau = f(x, tau) (an Euler step when `euler`).
    d1: f(x, tau) when the caller has it already."""
    d1 = f(x, tau) if d1 is None else d1
    x_euler = x + (tau_p - tau) * d1
    if euler:
        return x_euler
    return x + (tau_p - tau) * 0.5 * (d1 + f(x_euler, tau_p))


def half_log_snr(alpha: float, sigma: float) -> float:
    """lambda = log(alpha / sigma), DPM-Solver's time variable (-inf at alpha = 0, inf at sigma = 0)."""
    if sigma == 0:
        return math.inf
    return -math.inf if alpha == 0 else math.log(alpha / sigma)


def dpm2m_step(x, d0, alpha_s: float, sigma_s: float, alpha_t: float, sigma_t: float,
               d_prev=None, lam_prev: float | None = None):
    """One DPM-Solver++(2M) step from (alpha_s, sigma_s) to (alpha_t, sigma_t) given the data
    prediction d0 at s; second order when the previous step's (d_prev, lam_prev) is given."""
    lam_s, lam_t = half_log_snr(alpha_s, sigma_s), half_log_snr(alpha_t, sigma_t)
    h = lam_t - lam_s
    phi = math.expm1(-h)                     # e^-h - 1; -1 at t = 0 (h infinite)
    out = (sigma_t / sigma_s) * x - alpha_t * phi * d0
    if d_prev is not None and math.isfinite(h):
        r = (lam_s - lam_prev) / h
        if math.isfinite(r):                 # the previous point at t = 1 (lambda = -inf) adds nothing
            out = out - 0.5 * alpha_t * phi * (d0 - d_prev) / r
    return out


@dataclass(frozen=True)
class OdePlan:
    """The deterministic steps of a chain a solver takes: `active` [T] (bool, step k goes from
    level k+1 to level k), and among them those that land on their level (`lands` [T]); an active
    step that does not land is skipped (no model evaluation: the next landing step starts from the
    last level reached)."""
    solver: str
    active: torch.Tensor
    lands: torch.Tensor


def full_plan(stds: torch.Tensor, solver: str) -> OdePlan:
    """Every deterministic step (std 0) of a chain taken by `solver`, none skipped (an evaluation's
    `solver`: the whole ODE chain by Heun instead of the sampler's first-order step)."""
    active = stds == 0
    return OdePlan(solver, active, active.clone())


def eps_chain_mean_fn(policy, prompts, plan: OdePlan):
    """mean_fn(x, k, std) of one chain of an eps-prediction family (x_t = a x0 + s eps) whose deterministic
    steps follow `plan` by Heun in y = x / a over sigma = s / a (where DDIM is Euler): d1 = eps at level
    k+1, d2 = eps at level k of the Euler point; the last step (into sigma = 0) is Euler, i.e. DDIM.
    Stochastic steps and steps outside the plan are gDDIM's. Only Heun is offered for eps families."""
    from .gddim import step_mean
    if plan.solver != "heun":
        raise ValueError(f"solver {plan.solver!r} is not offered for an eps-prediction family (heun is)")
    if not bool(plan.lands[plan.active].all()):
        raise ValueError("an eps family's plan lands on every level it takes")
    a, s = policy.a, policy.s

    def mean(x, k, std):
        eps = policy.eps(x, k, prompts)
        if not bool(plan.active[k]):
            return step_mean(x, eps, a[k + 1], s[k + 1], a[k], s[k], std)
        y, sig, sig_p = x / a[k + 1], s[k + 1] / a[k + 1], s[k] / a[k]
        d2 = None if k == 0 else (lambda y_e, _: policy.eps(a[k] * y_e, k - 1, prompts))
        return a[k] * heun(d2, y, sig, sig_p, d1=eps, euler=k == 0)
    return mean


def compressed_landings(active: torch.Tensor, keep: float) -> torch.Tensor:
    """MixGRPO-Flash's compression of the P active steps (contiguous, ending at level 0): it keeps
    int((P + 1) * keep) points of the remaining time span, so that many minus one steps (at least one,
    where MixGRPO's code would stop short of t = 0), landing on the grid levels nearest to an even
    spacing of the levels."""
    steps = torch.nonzero(active).flatten()
    out = torch.zeros_like(active)
    if len(steps) == 0:
        return out
    start = int(steps.max()) + 1                         # the level the active span starts from
    m = max(int((len(steps) + 1) * keep) - 1, 1)
    levels = torch.linspace(start, 0, m + 1, dtype=torch.float64)[1:].round().long()
    out[levels.unique()] = True
    return out
