"""The flow SDE of Flow-GRPO / MixGRPO on a rectified flow, with stochasticity lambda >= 0.

A rectified flow interpolates x_t = (1 - t) x0 + t eps (t = 1 is noise, t = 0 data) and its
model predicts the velocity v = eps - x0. On the grid 1 = t_T > ... > t_0 = 0 the Euler-Maruyama
step from t to t_p = t - h of the marginal-preserving reverse SDE is

    x_p = x - h [v + sigma_t^2 / (2 t) (x + (1 - t) v)] + sigma_t sqrt(h) z,
    sigma_t = a sqrt(t / (1 - t)),

where x + (1 - t) v is the model's noise estimate (so the added drift is -sigma_t^2/2 times
the score, -eps_hat / t). lambda = 0 is the Euler ODE x_p = x - h v.

The paper's stochasticity. gDDIM writes a family of samplers of the forward SDE
du = F u dt + G dw as du = [F u - (1 + lambda^2)/2 G G^T s] dt + lambda G dw (lambda = 0: the
probability-flow ODE, lambda = 1: the reverse-time SDE). The forward process of this interpolant
has G G^T = g^2 = 2 t / (1 - t), so the lambda-sampler's diffusion is lambda g = sqrt(2) lambda
sqrt(t / (1 - t)): Flow-GRPO's noise level a (`eta`) is sqrt(2) lambda, and the spec's
`stochasticity` is lambda, as for gDDIM. (Flow-GRPO's default eta 0.7 is lambda = 0.49.)

t = 1. sigma_t is infinite at t = 1 (g^2 = 2t/(1-t)). As Flow-GRPO's code does, the first step's
sigma uses the next grid point in the denominator: sigma_T = a sqrt(1 / (1 - t_{T-1})).

Each step is Gaussian given x, so its log-probability is exact (gddim.log_prob, summed over pixels).

Large lambda on coarse grids. Besides the velocity's own dependence on x, the step multiplies x by
1 - lambda^2 h / (1 - t) (t at the step's start; the next point at t = 1). On a uniform 10-step grid
that is 1 - lambda^2 on the first two steps: lambda = 1 forgets x, lambda = 2 flips and triples it.
Euler-Maruyama is then far from the SDE's marginals (gDDIM's lambda-steps keep them for every lambda);
the published setting (25 steps, shift 3, eta 0.7) has 0.76 (tests/test_flow.py).
"""
from __future__ import annotations

import math

import torch


def step_stds(sampler, a: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """Per-step std, shape [T]; index k steps from level k+1 to level k. The grid's t is `s`."""
    t = s.double()
    t_now, h = t[1:], t[1:] - t[:-1]
    below = torch.where(t_now >= 1, t[-2].expand_as(t_now), t_now)       # t = 1: the next grid point
    sigma = math.sqrt(2.0) * sampler.stochasticity * (t_now / (1 - below)).sqrt()
    return (sigma * h.clamp_min(0).sqrt()).to(s.dtype)


def step_mean(x, v, t, t_p, std):
    """Mean of the step from t to t_p < t given the velocity v; t, t_p, std broadcast against x."""
    h = t - t_p
    return x - h * v - (std * std) / (2 * t) * (x + (1 - t) * v)


def shifted_grid(steps: int, shift: float = 1.0) -> torch.Tensor:
    """t at levels 0..steps, t_0 = 0 and t_steps = 1: uniform in u = k / steps, then SD3's time
    shift t = shift u / (1 + (shift - 1) u) (shift > 1 spends more steps at high noise)."""
    u = torch.arange(steps + 1, dtype=torch.float64) / steps
    return shift * u / (1 + (shift - 1) * u)


def chain_mean_fn(t: torch.Tensor, velocity, velocity_at, plan):
    """mean_fn(x, k, std) of one flow chain (samplers.chain_step) whose deterministic steps follow
    `plan` (second_order.OdePlan: Euler, Heun or DPM-Solver++(2M), some levels skipped); every
    rectified-flow family's `ode_chain`. velocity(x, k): the model at step k's start (level k + 1);
    velocity_at(y, tau): the model at time tau. Called once per step, k = T-1 ... 0; the data
    prediction of every step taken (SDE steps too, as MixGRPO's code keeps them) feeds the
    multistep solver's next step."""
    from . import second_order
    chain = {"level": len(t) - 1, "x0": None, "lam": None}     # the last level reached, its x0_hat

    def moved(x, v, to: int):
        s = float(t[chain["level"]])
        chain.update(x0=x - s * v, lam=second_order.half_log_snr(1 - s, s), level=to)

    def mean(x, k, std):
        if not bool(plan.active[k]):                    # an SDE step, or an Euler step outside the plan
            v = velocity(x, k)
            moved(x, v, k)
            return step_mean(x, v, t[k + 1], t[k], std)
        if not bool(plan.lands[k]):                     # skipped: the next landing step spans it
            return x
        s, s_p = t[chain["level"]], t[k]
        v = velocity_at(x, s)
        if plan.solver == "heun":
            out = second_order.heun(velocity_at, x, s, s_p, d1=v, euler=k == 0)
        elif plan.solver == "dpmsolver2m":
            a, b = float(s), float(s_p)
            first = k == 0 or chain["x0"] is None       # lower_order_final, or no history yet
            out = second_order.dpm2m_step(x, x - a * v, 1 - a, a, 1 - b, b,
                                          None if first else chain["x0"], chain["lam"])
        else:
            out = x + (s_p - s) * v
        moved(x, v, k)
        return out
    return mean


def _per_step(v: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Per-step coefficients [S] against x [S, m, ...]; a scalar against x [n, ...]."""
    return v.view((-1,) + (1,) * (x.dim() - 1)) if v.dim() == 1 else v


class FlowTransition:
    """The transition every rectified-flow policy shares (the samplers' contract, samplers/__init__.py):
    the flow-SDE step and chains whose deterministic steps follow a solver's plan. The policy gives `t`
    (the level grid), velocity(x, k, prompts, reference) at step k's start (k an int, or [S] steps for
    x [S, m, ...]) and velocity_at(x, tau, prompts) at a time tau."""

    def step_mean(self, x, k, std, prompts=None, reference: bool = False):
        """Mean of the flow-SDE step k (level k+1 -> k) with std `std` (0: the Euler ODE)."""
        v = self.velocity(x, k, prompts, reference)
        return step_mean(x, v, _per_step(self.t[k + 1], x), _per_step(self.t[k], x), std)

    def ode_chain(self, prompts, plan):
        """mean_fn(x, k, std) of one chain whose deterministic steps follow `plan` (chain_mean_fn)."""
        return chain_mean_fn(self.t, lambda x, k: self.velocity(x, k, prompts),
                             lambda y, tau: self.velocity_at(y, tau, prompts), plan)
