"""Forward processes x_t = a_t x0 + s_t eps, discretized on a sampling grid.

Both processes are written in the same (a, s) form so one gDDIM step serves both:
VP has a = sqrt(abar), s = sqrt(1 - abar); VE has a = 1, s = sigma.
Grid index 0 is the clean end (s = 0); index T is where sampling starts.
"""
from __future__ import annotations

import math

import torch


def vp_abar(t: torch.Tensor, beta_min: float, beta_max: float) -> torch.Tensor:
    """abar(t) = exp(-int_0^t beta) for the linear schedule beta(t) = beta_min + t (beta_max - beta_min)."""
    return torch.exp(-(beta_min * t + 0.5 * (beta_max - beta_min) * t * t))


def grid(process, steps: int, dtype=torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
    """(a, s), each of shape [steps + 1], index 0 = clean data."""
    if process.kind == "vp":
        t = torch.linspace(0.0, 1.0, steps + 1, dtype=dtype)
        abar = vp_abar(t, process.beta_min, process.beta_max)
        return abar.sqrt(), (1.0 - abar).clamp_min(0.0).sqrt()
    if process.kind == "ve":
        if steps == 1:
            sig = torch.tensor([process.sigma_max], dtype=dtype)
        else:
            k = torch.arange(steps, dtype=dtype) / (steps - 1)
            sig = process.sigma_min * (process.sigma_max / process.sigma_min) ** k
        s = torch.cat([torch.zeros(1, dtype=dtype), sig])
        return torch.ones_like(s), s
    raise ValueError(f"unknown process kind {process.kind!r}")


def level_times(process, steps: int, dtype=torch.float64) -> torch.Tensor:
    """The time in [0, 1] of each grid level [steps + 1], the same for every step count: VP's t (the grid
    is uniform in it); VE's position of sigma on its geometric scale (level 0, sigma = 0, gets 0)."""
    if process.kind == "vp":
        return torch.linspace(0.0, 1.0, steps + 1, dtype=dtype)
    if process.kind == "ve":
        inner = torch.arange(steps, dtype=dtype) / max(steps - 1, 1)
        return torch.cat([torch.zeros(1, dtype=dtype), inner])
    raise ValueError(f"unknown process kind {process.kind!r}")


def prior_std(process) -> float:
    """Std of the sampler's starting distribution N(0, std^2 I)."""
    if process.kind == "vp":
        return 1.0
    if process.kind == "ve":
        return float(process.sigma_max)
    raise ValueError(f"unknown process kind {process.kind!r}")


def log_snr(a: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    return 2 * (torch.log(a) - torch.log(s))


__all__ = ["grid", "level_times", "prior_std", "vp_abar", "log_snr", "math"]
