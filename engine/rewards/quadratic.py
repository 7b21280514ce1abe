"""r(x) = -scale * |x - c|^2, with its closed-form expectation under a diagonal Gaussian."""
from __future__ import annotations

import torch


class QuadraticReward:
    def __init__(self, center: float, scale: float = 1.0):
        self.center = center
        self.scale = scale

    def __call__(self, x: torch.Tensor, prompts=None) -> torch.Tensor:
        return -self.scale * ((x - self.center) ** 2).flatten(1).sum(1)

    def expectation(self, mean: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
        """E[r(x)] for x ~ N(mean, diag(var)): -scale * (|mean - c|^2 + sum var)."""
        return -self.scale * (((mean - self.center) ** 2).sum() + var.sum())

    def expectation_rows(self, mean: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
        """E[r(x)] for each row of `mean` [n, d], x ~ N(mean_i, diag(var)) with var [d]: [n]."""
        return -self.scale * (((mean - self.center) ** 2).sum(-1) + var.sum())


def build(cfg, upstream: dict, device=None) -> QuadraticReward:
    return QuadraticReward(cfg.center, cfg.scale)
