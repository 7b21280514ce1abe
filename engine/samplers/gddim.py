"""Generalized DDIM (Zhang, Tao, Chen 2022) with stochasticity lambda >= 0.

For x_t = a_t x0 + s_t eps and an eps-prediction e, one step to the previous level p is

    x0_hat = (x - s_t e) / a_t
    x_p    = a_p x0_hat + sqrt(s_p^2 - std^2) e + std z,
    std^2  = s_p^2 [1 - (SNR_t / SNR_p)^(lambda^2)],   SNR = a^2 / s^2.

lambda = 0 is DDIM's deterministic (probability-flow) step, lambda = 1 the DDPM
posterior variance, lambda -> inf predicts x0 and re-noises fully (std^2 -> s_p^2).
For VP this is the formula in research.md; for VE (a = 1) it is
std^2 = sigma_p^2 [1 - (sigma_p^2 / sigma_t^2)^(lambda^2)].
"""
from __future__ import annotations

import math

import torch


def gddim_stds(a: torch.Tensor, s: torch.Tensor, lam: float) -> torch.Tensor:
    """Per-step std, shape [T]; index k steps from level k+1 to level k."""
    a_t, s_t, a_p, s_p = a[1:], s[1:], a[:-1], s[:-1]
    ratio = ((a_t * s_p) ** 2 / ((s_t * a_p) ** 2)).clamp(0.0, 1.0)
    var = s_p ** 2 * (1.0 - ratio ** (lam * lam))
    return var.clamp_min(0.0).sqrt()


def step_mean(x, eps, a_t, s_t, a_p, s_p, std):
    """Mean of x_p given x_t = x and the eps-prediction; coefficients broadcast against x."""
    x0_hat = (x - s_t * eps) / a_t
    direction = (s_p * s_p - std * std).clamp_min(0.0).sqrt()
    return a_p * x0_hat + direction * eps


def step(x, eps, a_t, s_t, a_p, s_p, std, noise):
    """One gDDIM step; returns (x_p, mean). `noise` is standard normal, same shape as x."""
    mean = step_mean(x, eps, a_t, s_t, a_p, s_p, std)
    return mean + std * noise, mean


def log_prob(x_p, mean, std, batch_dims: int = 1):
    """log N(x_p; mean, std^2 I), summed over all but the first `batch_dims` dimensions.

    `std` is a scalar tensor or broadcasts against x_p (e.g. shape [S, 1, 1] for S steps).
    """
    var = std * std
    lp = -((x_p - mean) ** 2) / (2 * var) - torch.log(std) - 0.5 * math.log(2 * math.pi)
    return lp.flatten(batch_dims).sum(-1)


def _randn(shape, generator, dtype):
    return torch.randn(shape, generator=generator, dtype=dtype)


def sample_chain(eps_fn, a, s, stds, x_T, generator, record: bool = True, draw=None, mean_fn=None):
    """Run the whole chain from level T to 0.

    eps_fn(x, k) predicts eps at level k+1 (k = T-1 ... 0). Returns a dict with
    xs [T+1, n, ...] (xs[k] is the sample at level k), logps [T, n] (0 where std = 0)
    and x0. With record=False only x0 is kept. draw(shape, generator, dtype) gives the step
    noise (default torch.randn; a data-parallel rank draws the whole batch's, engine/distributed.py).
    mean_fn(x, k, std): the step's mean for a family with its own transition (samplers.chain_step;
    the flow SDE), used instead of eps_fn and the gDDIM step.
    """
    draw = draw or _randn
    T = len(stds)
    x = x_T
    xs = [None] * (T + 1) if record else None
    logps = torch.zeros(T, x_T.shape[0], dtype=x_T.dtype, device=x_T.device) if record else None
    if record:
        xs[T] = x
    for k in range(T - 1, -1, -1):
        std = stds[k]
        # drawn on the CPU generator and moved, so a GPU run replays the same noise
        noise = draw(x.shape, generator, x.dtype).to(x.device) if std > 0 else torch.zeros_like(x)
        if mean_fn is None:
            x_new, mean = step(x, eps_fn(x, k), a[k + 1], s[k + 1], a[k], s[k], std, noise)
        else:
            mean = mean_fn(x, k, std)
            x_new = mean + std * noise
        if record:
            xs[k] = x_new
            if std > 0:
                logps[k] = log_prob(x_new, mean, std)
        x = x_new
    if not record:
        return {"x0": x}
    return {"xs": torch.stack(xs), "logps": logps, "x0": x}


def step_stds(sampler, a: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """The sampler contract (engine/samplers/__init__.py)."""
    return gddim_stds(a, s, sampler.stochasticity)
