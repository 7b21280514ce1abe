"""Synthetic k-sparse signals (engine/data/sparse_signals_kind.py says the law)."""
from __future__ import annotations

import torch

from ..sensing.signals import Signals
from ..sensing.sketch import dct_basis


def coefficients(cfg, n: int, generator: torch.Generator) -> torch.Tensor:
    g = torch.Generator().manual_seed(cfg.seed)           # the patterns: fixed by the data seed alone
    supports = torch.stack([torch.randperm(cfg.dim, generator=g)[:cfg.sparsity] for _ in range(cfg.patterns)])
    signs = torch.randint(0, 2, (cfg.patterns, cfg.sparsity), generator=g).double() * 2 - 1
    which = torch.randint(0, cfg.patterns, (n,), generator=generator)
    amp = signs[which] * (1.0 + cfg.spread * torch.randn(n, cfg.sparsity, generator=generator, dtype=torch.float64))
    c = torch.zeros(n, cfg.dim, dtype=torch.float64)
    c.scatter_(1, supports[which], amp)
    return c


def generate(cfg) -> Signals:
    g = torch.Generator().manual_seed(cfg.seed + 1)
    c = coefficients(cfg, cfg.n_train + cfg.n_val + cfg.n_test, g)
    psi = dct_basis(cfg.dim) if cfg.basis == "dct" else None
    x = c @ psi.T if psi is not None else c
    a, b = cfg.n_train, cfg.n_train + cfg.n_val
    peak = float(x[b:].max() - x[b:].min())
    return Signals(x[:a], x[a:b], x[b:], psi, None, peak, cfg.basis)
