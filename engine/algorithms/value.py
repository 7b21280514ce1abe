"""Value networks of continuous-time RL fine-tuning (arXiv 2409.08400, 2502.01819): V(x_t, t), the
expected final reward of a chain at state x_t, with t the forward (noising) time in [0, 1] (t = 0
is data, so V(x, 0) = r(x)).

structured: V = cos(pi t / 2) r(x0_hat(x_t, t)) + sin(pi t / 2) NN(x_t, t), the diffusion's own
    structure: at t = 0 the value is the reward of the sample itself, and near it the reward of the
    model's denoised estimate x0_hat; the network learns what the denoiser misses.
plain: V = NN(x_t, t), the ablation.

The network is a small MLP on (x, t) (image inputs are flattened). `denoise(x, t)` and `reward(x0)`
come from the model family and the run's reward. The papers' advantage comes from V along the chain's
time grid (TD or GAE); the regression target for the Gaussian family is exact
(models/gaussian.AffinePolicy.conditional_reward), which is how the value net is tested.
"""
from __future__ import annotations

import math

import torch
from torch import nn


class ValueNet(nn.Module):
    def __init__(self, dim: int, hidden: int = 64, structured: bool = True, denoise=None, reward=None):
        super().__init__()
        if structured and (denoise is None or reward is None):
            raise ValueError("the structured value net needs the model's denoiser and the reward")
        self.structured, self.denoise, self.reward = structured, denoise, reward
        self.net = nn.Sequential(nn.Linear(dim + 1, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(),
                                 nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """V at states x [n, ...] and times t [n] (or a scalar) in [0, 1]: [n]."""
        flat = x.flatten(1)
        t = torch.as_tensor(t, dtype=flat.dtype).expand(flat.shape[0])
        learned = self.net(torch.cat([flat, t[:, None]], 1))[:, 0]
        if not self.structured:
            return learned
        with torch.no_grad():
            anchor = self.reward(self.denoise(x, t))
        half_pi_t = 0.5 * math.pi * t
        return torch.cos(half_pi_t) * anchor + torch.sin(half_pi_t) * learned
