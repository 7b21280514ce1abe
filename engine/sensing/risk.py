"""Stress-testing statistics of portfolio returns: historical value at risk and expected shortfall."""
from __future__ import annotations

import math

import torch


def var_es(returns: torch.Tensor, level: float) -> tuple[float, float]:
    """Historical VaR and ES of a 1-D return sample at confidence `level` (0.95, 0.99), as positive
    losses: VaR = -(1 - level)-quantile of returns; ES = mean loss beyond it (the worst
    ceil((1 - level) n) outcomes)."""
    r = returns.double().sort().values
    k = max(1, math.ceil((1.0 - level) * len(r)))
    return float(-r[k - 1]), float(-r[:k].mean())


def gaussian_var_es(mu: float, sigma: float, level: float) -> tuple[float, float]:
    """Closed forms for N(mu, sigma^2) returns: VaR = -mu + sigma z, ES = -mu + sigma phi(z) / (1 - level)."""
    z = math.sqrt(2.0) * torch.special.erfinv(torch.tensor(2.0 * level - 1.0, dtype=torch.float64)).item()
    phi = math.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
    return -mu + sigma * z, -mu + sigma * phi / (1.0 - level)


def min_variance_weights(cov: torch.Tensor) -> torch.Tensor:
    """Fully invested minimum-variance weights w = C^-1 1 / (1^T C^-1 1)."""
    ones = torch.ones(cov.shape[0], dtype=cov.dtype)
    w = torch.linalg.solve(cov, ones)
    return w / w.sum()
