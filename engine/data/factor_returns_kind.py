"""Data kind `factor_returns`: a synthetic panel of daily asset returns from a factor model with
GARCH(1,1) factor volatility and Student-t shocks; one sample is a window of days x assets."""
from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from ..registry import Kind, register
from ..spec.base import Strict


class FactorReturns(Strict):
    """r[t, a] = sum_f B[a, f] f[t, f] + idio * e[t, a], in percent. Factor f: sigma_t^2 = omega +
    alpha f_{t-1}^2 + beta sigma_{t-1}^2 (volatility clustering), f_t = sigma_t z_t with z_t a
    unit-variance Student-t of `dof` degrees of freedom (heavy tails); e likewise t-distributed.
    Loadings: the first factor is the market (B ~ 1 + 0.3 N), the others N(0, 0.5^2). One sample
    is `days` consecutive days of all `assets` (d = assets x days), from one long path cut into
    non-overlapping windows: train, then validation, then test (in time order). Compressible,
    not sparse: the basis is the training data's principal axes (factors x days of the d
    coefficients carry most of the variance), with plain soft-thresholding."""
    kind: Literal["factor_returns"]
    assets: int = Field(16, ge=1, le=10_000)
    days: int = Field(16, ge=1, le=10_000)
    factors: int = Field(3, ge=1, le=100)
    omega: float = Field(0.05, gt=0, le=100)
    alpha: float = Field(0.1, ge=0, lt=1)
    beta: float = Field(0.85, ge=0, lt=1)
    dof: int = Field(5, ge=3, le=1000)
    idio: float = Field(0.5, ge=0, le=100)
    n_train: int = Field(3000, ge=2, le=10_000_000)
    n_val: int = Field(200, ge=1, le=1_000_000)
    n_test: int = Field(1000, ge=2, le=1_000_000)
    seed: int = Field(0, ge=0, le=2**31 - 1)

    @model_validator(mode="after")
    def _stationary(self):
        if self.alpha + self.beta >= 1:
            raise ValueError(f"alpha + beta ({self.alpha + self.beta:g}) must be < 1 (a stationary GARCH)")
        return self


STRESS = tuple(f"{stat}{level}_{pf}" for pf in ("ew", "mv") for level in (95, 99) for stat in ("var", "es"))
SAMPLE_METRICS = (*((k, "generated windows: the portfolio's loss statistic (percent)") for k in STRESS),
                  *((f"{k}_real", "held-out windows") for k in STRESS),
                  ("stress_error", "mean relative error of the eight statistics, recovered samples"),
                  ("stress_error_full", "the same, full-dimension samples"))

register(Kind("data", "factor_returns", FactorReturns, code="engine.data.factor_returns",
              traits={"provides": "signals", "dim": lambda d: d.assets * d.days,
                      "panel": lambda d: (d.days, d.assets), "sample_metrics": SAMPLE_METRICS}))
