"""FISTA for the LASSO  min_c 1/2 ||M c - y||^2 + lam ||c||_1  (M = A Psi), batched over rows of y,
with the step 1/L from power iteration (Beck and Teboulle 2009). With a box [lo, hi] (pixel basis
only, where it is exact) the proximal step is that of lam ||c||_1 + indicator of the box."""
from __future__ import annotations

import torch


def power_iteration(M: torch.Tensor, iters: int = 100, generator: torch.Generator | None = None) -> float:
    """The largest eigenvalue of M^T M (= ||M||_2^2), the Lipschitz constant of the LASSO's gradient."""
    v = torch.randn(M.shape[1], generator=generator, dtype=M.dtype)
    v = v / v.norm()
    lam = 0.0
    for _ in range(iters):
        w = M.T @ (M @ v)
        lam = float(v @ w)
        v = w / w.norm()
    return lam


def soft_threshold(c: torch.Tensor, tau: float) -> torch.Tensor:
    return torch.sign(c) * torch.clamp(c.abs() - tau, min=0.0)


def prox(c: torch.Tensor, tau: float, box: tuple[float, float] | None) -> torch.Tensor:
    """The proximal map of tau ||.||_1 (+ the box's indicator). For a box containing 0 it is
    separable: clip(soft_threshold(c, tau), lo, hi)."""
    c = soft_threshold(c, tau)
    return c if box is None else c.clamp(box[0], box[1])


def fista(M: torch.Tensor, y: torch.Tensor, lam: float, iters: int, L: float | None = None,
          box: tuple[float, float] | None = None) -> torch.Tensor:
    """Rows of y [n, m] -> coefficients c [n, k] minimising 1/2 ||c M^T - y||^2 + lam ||c||_1."""
    if box is not None and not box[0] <= 0.0 <= box[1]:
        raise ValueError(f"the box {box} must contain 0 for the separable proximal step")
    L = power_iteration(M) if L is None else L
    step = 1.0 / L
    c = torch.zeros(y.shape[0], M.shape[1], dtype=M.dtype)
    z, t = c, 1.0
    for _ in range(iters):
        grad = (z @ M.T - y) @ M
        c_new = prox(z - step * grad, step * lam, box)
        t_new = (1.0 + (1.0 + 4.0 * t * t) ** 0.5) / 2.0
        z = c_new + ((t - 1.0) / t_new) * (c_new - c)
        c, t = c_new, t_new
    return c


def lasso_objective(M: torch.Tensor, y: torch.Tensor, c: torch.Tensor, lam: float) -> torch.Tensor:
    return 0.5 * ((c @ M.T - y) ** 2).sum(1) + lam * c.abs().sum(1)
