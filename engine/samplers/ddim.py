"""DDIM's noise rule: std = eta * sqrt(DDPM posterior variance), eta in [0, 1].

Between 0 and 1 it differs from gDDIM's lambda; at 0 and 1 the two agree.
"""
from __future__ import annotations

import torch


def ddim_stds(a: torch.Tensor, s: torch.Tensor, eta: float) -> torch.Tensor:
    a_t, s_t, a_p, s_p = a[1:], s[1:], a[:-1], s[:-1]
    ratio = (a_t * s_p) ** 2 / ((s_t * a_p) ** 2)         # SNR_t / SNR_prev <= 1
    var = s_p ** 2 * (1.0 - ratio)
    return eta * var.clamp_min(0.0).sqrt()


def step_stds(sampler, a: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """The sampler contract (engine/samplers/__init__.py)."""
    return ddim_stds(a, s, sampler.eta)
