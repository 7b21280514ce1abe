"""A factor-model return panel with GARCH(1,1) factors (engine/data/factor_returns_kind.py)."""
from __future__ import annotations

import math

import numpy as np
import torch

from ..sensing.signals import Signals
from .factor_returns_kind import STRESS
from ..sensing.risk import min_variance_weights, var_es
from ..sensing.sketch import pca_basis


def student_t(shape, dof: int, g: torch.Generator) -> torch.Tensor:
    """Unit-variance Student-t draws z / sqrt(chi2_dof / dof) * sqrt((dof - 2) / dof), with chi2_dof
    a sum of dof squared normals (all on the seeded generator)."""
    z = torch.randn(shape, generator=g, dtype=torch.float64)
    chi2 = (torch.randn(*shape, dof, generator=g, dtype=torch.float64) ** 2).sum(-1)
    return z / torch.sqrt(chi2 / dof) * math.sqrt((dof - 2.0) / dof)


def panel(cfg, days: int, g: torch.Generator) -> torch.Tensor:
    """[days, assets] returns (percent)."""
    loadings = torch.randn(cfg.assets, cfg.factors, generator=g, dtype=torch.float64) * 0.5
    loadings[:, 0] = 1.0 + 0.3 * loadings[:, 0] / 0.5
    z = student_t((days, cfg.factors), cfg.dof, g).numpy()
    f = np.empty_like(z)
    var = np.full(cfg.factors, cfg.omega / (1.0 - cfg.alpha - cfg.beta))
    prev = np.zeros(cfg.factors)
    for t in range(days):                       # the GARCH recursion (numpy: a torch op per step is slow)
        var = cfg.omega + cfg.alpha * prev * prev + cfg.beta * var
        prev = f[t] = np.sqrt(var) * z[t]
    f = torch.from_numpy(f)
    return f @ loadings.T + cfg.idio * student_t((days, cfg.assets), cfg.dof, g)


def generate(cfg) -> Signals:
    g = torch.Generator().manual_seed(cfg.seed)
    n = cfg.n_train + cfg.n_val + cfg.n_test
    r = panel(cfg, n * cfg.days, g)
    x = r.reshape(n, cfg.days * cfg.assets)          # a window, day-major
    a, b = cfg.n_train, cfg.n_train + cfg.n_val
    peak = float(x[b:].max() - x[b:].min())
    return Signals(x[:a], x[a:b], x[b:], pca_basis(x[:a]), None, peak, "pca")




def stress(cfg, windows: torch.Tensor, weights: dict) -> dict:
    """VaR and ES at 95 % and 99 % of each portfolio's return over a window (summed daily returns)."""
    daily = windows.reshape(len(windows), cfg.days, cfg.assets)
    out = {}
    for pf, w in weights.items():
        r = (daily @ w).sum(1)
        for level in (95, 99):
            out[f"var{level}_{pf}"], out[f"es{level}_{pf}"] = var_es(r, level / 100)
    return out


def sample_metrics(cfg, sig: Signals, x: torch.Tensor, x_full: torch.Tensor) -> dict:
    """The stress tests on generated against held-out windows: equal weights and the minimum-variance
    weights of the training data's daily covariance; stress_error is the mean relative error of the
    eight statistics (VaR, ES; 95 %, 99 %; two portfolios) against held-out data."""
    daily = sig.train.reshape(-1, cfg.assets)
    weights = {"ew": torch.full((cfg.assets,), 1.0 / cfg.assets, dtype=torch.float64),
               "mv": min_variance_weights(torch.cov(daily.T))}
    real, gen, full = (stress(cfg, v.double(), weights) for v in (sig.test, x, x_full))
    out = {**gen, **{f"{k}_real": v for k, v in real.items()}}
    out["stress_error"] = sum(abs(gen[k] / real[k] - 1) for k in STRESS) / len(STRESS)
    out["stress_error_full"] = sum(abs(full[k] / real[k] - 1) for k in STRESS) / len(STRESS)
    return out
