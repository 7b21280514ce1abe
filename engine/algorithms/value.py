"""Value networks of continuous-time RL fine-tuning (arXiv 2409.08400, 2502.01819): V(x_t, t), the
expected (regularised) final reward of a chain at state x_t, with t the forward (noising) time in [0, 1]
(t = 0 is data, so V(x, 0) = r(x)).

structured: V = cos(pi t / 2) r(x0_hat(x_t, t)) + sin(pi t / 2) NN(x_t, t), the diffusion's own
    structure: at t = 0 the value is the reward of the sample itself, and near it the reward of the
    model's denoised estimate x0_hat; the network learns what the denoiser misses. The anchor
    r(x0_hat) is computed by the caller (the algorithm holds the reward; the net holds no reward model).
plain: V = NN(x_t, t), the ablation.

The network is a small MLP on (x, t) and, for prompted families, a one-hot of the prompt (image inputs
are flattened). The time of a level is the noise fraction t = s^2 / (a^2 + s^2) of x_t = a x0 + s eps:
0 at data, 1 at pure noise, the same map for every family and step count (VP: 1 - alpha_bar; a
rectified flow: t^2 / ((1 - t)^2 + t^2)). The regression target for the Gaussian family is exact
(models/gaussian.AffinePolicy.conditional_reward), which is how the value net is tested.
"""
from __future__ import annotations

import math

import torch
from torch import nn


class ValueNet(nn.Module):
    def __init__(self, dim: int, hidden: int = 64, structured: bool = True, prompts: int = 0):
        super().__init__()
        self.structured, self.prompts = structured, prompts
        self.net = nn.Sequential(nn.Linear(dim + 1 + prompts, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(),
                                 nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor, t, anchor: torch.Tensor | None = None,
                prompts: torch.Tensor | None = None) -> torch.Tensor:
        """V at states x [n, ...] and times t [n] (or a scalar) in [0, 1]: [n]. anchor: r(x0_hat) [n]
        (the structured form's); prompts: [n] integer prompts of a prompted family."""
        flat = x.flatten(1)
        t = torch.as_tensor(t, dtype=flat.dtype, device=flat.device).expand(flat.shape[0])
        parts = [flat, t[:, None]]
        if self.prompts:
            parts.append(nn.functional.one_hot(prompts.long(), self.prompts).to(flat.dtype))
        learned = self.net(torch.cat(parts, 1))[:, 0]
        if not self.structured:
            return learned
        if anchor is None:
            raise ValueError("the structured value net needs the anchor r(x0_hat) of every state")
        half_pi_t = 0.5 * math.pi * t
        return torch.cos(half_pi_t) * anchor + torch.sin(half_pi_t) * learned


def noise_time(policy) -> torch.Tensor:
    """The forward time of every grid level [T+1]: t = s^2 / (a^2 + s^2)."""
    a, s = policy.a.double(), policy.s.double()
    return s * s / (a * a + s * s)


def denoised(policy, x: torch.Tensor, k: int, prompts=None) -> torch.Tensor:
    """The current model's estimate x0_hat of the data at level k+1 (step k's start), without gradients:
    (x - s eps) / a for an eps family, x - t v for a rectified flow."""
    with torch.no_grad():
        if hasattr(policy, "velocity"):
            return x - policy.t[k + 1] * policy.velocity(x, k, prompts, False)
        return (x - policy.s[k + 1] * policy.eps(x, k, prompts)) / policy.a[k + 1]
