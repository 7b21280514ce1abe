"""Distances between two sample sets and reconstruction errors."""
from __future__ import annotations

import math

import torch


def sliced_w2(x: torch.Tensor, y: torch.Tensor, projections: int, generator: torch.Generator) -> float:
    """Sliced 2-Wasserstein distance: the root mean over random unit directions of the squared W2
    of the 1-D projections (quantile matching at the smaller sample's size)."""
    d = x.shape[1]
    theta = torch.randn(d, projections, generator=generator, dtype=torch.float64)
    theta = theta / theta.norm(dim=0, keepdim=True)
    px, py = (x.double() @ theta).sort(0).values, (y.double() @ theta).sort(0).values
    n = min(len(px), len(py))
    q = (torch.arange(n, dtype=torch.float64) + 0.5) / n
    qx = px[(q * len(px)).long().clamp_max(len(px) - 1)]
    qy = py[(q * len(py)).long().clamp_max(len(py) - 1)]
    return math.sqrt(float(((qx - qy) ** 2).mean()))


def mse_psnr(x_hat: torch.Tensor, x: torch.Tensor, peak: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample MSE and PSNR (dB, for signals of the given peak-to-peak range)."""
    mse = ((x_hat.double() - x.double()) ** 2).mean(1)
    psnr = 10.0 * torch.log10(peak ** 2 / mse.clamp_min(1e-12))
    return mse, psnr
