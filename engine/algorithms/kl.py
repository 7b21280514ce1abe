"""The KL regulariser of policy-gradient fine-tuning: maximise E[r(x0)] - beta * KL(P_theta || P_pre).

P_theta and P_pre are the laws of whole sampling chains under the fine-tuned and the pretrained
model with the same sampler. Given x_{k+1}, a stochastic step is Gaussian under both, with the
same std sigma_k and means mu_theta, mu_pre, so the chain's KL is a sum over the stochastic steps

    KL(P_theta || P_pre) = E_theta[ sum_k |mu_theta(x_{k+1}) - mu_pre(x_{k+1})|^2 / (2 sigma_k^2) ].

Deterministic steps (std 0: the ODE sampler, MixGRPO's steps outside its window) carry none.
For the DDPM step (lambda = 1) the sum tends, as the steps shrink, to the continuous-time limit

    KL = 1/2 int_0^1 g(t)^2 E|s_theta(x_t, t) - s_pre(x_t, t)|^2 dt,

the Girsanov KL of two reverse SDEs that differ only in their score (g the diffusion
coefficient). tests/test_kl.py checks the discrete sum against that limit on the Gaussian family.

The gradient (what policy_gradient.regularise and _ppo_loss implement). Write J = E_theta[g_theta(chain)] with
g_theta = r(x0) - beta sum_k KL_k^theta(x_{k+1}). Then

    grad J = E[ g ∇ log p_theta(chain) ] + E[ ∇ g_theta ]
           = E[ R ∇ log p_theta(chain) ] - beta E[ sum_k ∇ KL_k^theta(x_{k+1}) ],

with R = r - beta sum_k KL_k (held fixed): the regularised reward goes through the advantages
(score-function part), and the per-step KL is also differentiated directly at the sampled states
(pathwise part); policy_gradient.chain_kl computes the per-chain sum. Both parts must be on the
same scale: advantages are R normalised by a per-chain scale (1 / std), so the pathwise part is
weighted by that scale too. beta = 0 is plain
reward maximisation, bitwise as before the regulariser existed.
"""
from __future__ import annotations

import torch


def step_kl(mean: torch.Tensor, ref: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """KL between N(mean, std^2 I) and N(ref, std^2 I), summed over all but the first two dims [S, m]."""
    return ((mean - ref) ** 2 / (2 * std * std)).flatten(2).sum(-1)


def regularised(rewards: torch.Tensor, kl: torch.Tensor, beta: float) -> torch.Tensor:
    """R = r - beta KL, per chain; exactly r when beta = 0."""
    return rewards if beta == 0 else rewards - beta * kl
