"""Gaussian and Gaussian-mixture data with exact scores, and the fine-tunable policy.

Data: N(mu, v I) or sum_j w_j N(mu_j 1, v_j I). Under x_t = a x0 + s eps the
marginal is a Gaussian (mixture) with mean a mu_j and variance a^2 v_j + s^2, and the
optimal eps-prediction is E[eps | x_t] = sum_j r_j(x) s (x - a mu_j) / (a^2 v_j + s^2)
with posterior responsibilities r_j.

Policy: eps_theta(x, k) = eps*(x, k) + A_k * x + b_k, a per-step diagonal affine
correction (zero at initialization = the pretrained model).
"""
from __future__ import annotations

import torch
from torch import nn

from .processes import grid, prior_std


class GaussianData:
    """The data distribution and its exact eps-prediction at any (a, s)."""

    def __init__(self, data_cfg):
        self.dim = data_cfg.dim
        if data_cfg.kind == "gaussian":
            self.means = torch.tensor([data_cfg.mean], dtype=torch.float64)
            self.vars = torch.tensor([data_cfg.std ** 2], dtype=torch.float64)
            self.weights = torch.tensor([1.0], dtype=torch.float64)
        else:
            self.means = torch.tensor(data_cfg.means, dtype=torch.float64)
            self.vars = torch.tensor(data_cfg.stds, dtype=torch.float64) ** 2
            w = torch.tensor(data_cfg.weights, dtype=torch.float64)
            self.weights = w / w.sum()
        self.is_gaussian = len(self.weights) == 1

    def eps_star(self, x: torch.Tensor, a, s) -> torch.Tensor:
        """Exact E[eps | x_t = x]. a, s: 0-dim, or shaped like x with a trailing 1."""
        a = torch.as_tensor(a, dtype=x.dtype)
        s = torch.as_tensor(s, dtype=x.dtype)
        if a.dim() == 0:
            a, s = a.reshape(1), s.reshape(1)
        if self.is_gaussian:
            mu, v = self.means[0], self.vars[0]
            return s * (x - a * mu) / (a * a * v + s * s)
        a_, s_ = a[..., None], s[..., None]                  # [..., 1, 1]
        v = a_ * a_ * self.vars + s_ * s_                    # [..., 1, J]
        diff = x[..., None] - a_ * self.means                # [..., d, J]
        logp = -0.5 * (diff * diff / v).sum(-2) - 0.5 * self.dim * torch.log(v[..., 0, :]) + torch.log(self.weights)
        r = torch.softmax(logp, dim=-1)                      # [..., J]
        return (s_ * diff / v * r[..., None, :]).sum(-1)

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        comp = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        z = torch.randn(n, self.dim, generator=generator, dtype=torch.float64)
        return self.means[comp][:, None] + self.vars[comp].sqrt()[:, None] * z


class AffinePolicy(nn.Module):
    """Exact eps* plus a learnable per-step diagonal affine correction."""

    def __init__(self, data: GaussianData, process, steps: int, init_scale: float = 0.0,
                 generator: torch.Generator | None = None):
        super().__init__()
        self.data = data
        self.process = process
        self.steps = steps
        a, s = grid(process, steps)
        self.register_buffer("a", a)
        self.register_buffer("s", s)
        init = lambda: (init_scale * torch.randn(steps, data.dim, generator=generator, dtype=torch.float64)
                        if init_scale > 0 else torch.zeros(steps, data.dim, dtype=torch.float64))
        self.A = nn.Parameter(init())
        self.b = nn.Parameter(init())

    def eps(self, x: torch.Tensor, k, prompts=None) -> torch.Tensor:
        """eps-prediction at grid level k+1; k an int, or a tensor [S] with x of shape [S, n, d]."""
        if isinstance(k, int):
            a, s = self.a[k + 1], self.s[k + 1]
            return self.data.eps_star(x, a, s) + self.A[k] * x + self.b[k]
        a = self.a[k + 1][:, None, None]
        s = self.s[k + 1][:, None, None]
        return self.data.eps_star(x, a, s) + self.A[k][:, None, :] * x + self.b[k][:, None, :]

    def reset_to_pretrained(self) -> None:
        with torch.no_grad():
            self.A.zero_()
            self.b.zero_()

    def eps_ref(self, x: torch.Tensor, k, prompts=None) -> torch.Tensor:
        """The pretrained (exact) eps-prediction, no correction."""
        if isinstance(k, int):
            return self.data.eps_star(x, self.a[k + 1], self.s[k + 1])
        return self.data.eps_star(x, self.a[k + 1][:, None, None], self.s[k + 1][:, None, None])

    def prior(self, n: int, generator: torch.Generator) -> torch.Tensor:
        return prior_std(self.process) * torch.randn(n, self.data.dim, generator=generator, dtype=torch.float64)

    def affine_coeffs(self, k: int, std):
        """The step x_k = M x + N + std z as (M, N), exact for Gaussian data (eps affine in x)."""
        a_t, s_t, a_p, s_p = self.a[k + 1], self.s[k + 1], self.a[k], self.s[k]
        mu, v = self.data.means[0], self.data.vars[0]
        den = a_t * a_t * v + s_t * s_t
        alpha = s_t / den + self.A[k]                       # eps = alpha x + beta
        beta = -s_t * a_t * mu / den + self.b[k]
        c_p = (s_p * s_p - std * std).clamp_min(0.0).sqrt()
        g = c_p - a_p * s_t / a_t
        return a_p / a_t + g * alpha, g * beta

    def exact_moments(self, stds: torch.Tensor, init_mean=None, init_var=None):
        """Mean and variance (per dimension) of x_0 under the chain with step stds `stds`."""
        if not self.data.is_gaussian:
            raise ValueError("exact moments need Gaussian data (a mixture is evaluated by Monte Carlo)")
        d = self.data.dim
        m = torch.zeros(d, dtype=torch.float64) if init_mean is None else init_mean
        v = torch.full((d,), prior_std(self.process) ** 2, dtype=torch.float64) if init_var is None else init_var
        for k in range(self.steps - 1, -1, -1):
            M, N = self.affine_coeffs(k, stds[k])
            m = M * m + N
            v = M * M * v + stds[k] ** 2
        return m, v


# ----------------------------------------------------------------------------- the model contract
def policy(cfg, upstream: dict, generator=None) -> AffinePolicy:
    """The fine-tunable policy of a run config (data, model, sampler steps)."""
    return AffinePolicy(GaussianData(cfg.data), cfg.model.process, cfg.sampler.steps, cfg.model.init_scale, generator)


def pretrained(cfg, upstream: dict, generator=None) -> AffinePolicy:
    p = policy(cfg, upstream, generator)
    p.reset_to_pretrained()
    return p


def save_trained(p: AffinePolicy, out_dir) -> None:
    from safetensors.torch import save_file
    save_file({k: v.detach().contiguous() for k, v in p.state_dict().items() if k in ("A", "b")},
              str(out_dir / "policy.safetensors"))


def finetuned(cfg, upstream: dict, result_dir, generator=None) -> AffinePolicy:
    from safetensors.torch import load_file
    p = policy(cfg, upstream, generator)
    p.load_state_dict({**p.state_dict(), **load_file(str(result_dir / "policy.safetensors"))})
    return p
