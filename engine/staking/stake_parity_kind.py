"""The analysis kind `stake_parity` of arXiv 2207.12581 (Tang & Yao, "Trading under the Proof-of-Stake
Protocol - a Continuous-Time Control Approach"): the risk-control "stake parity" problem, a mean-reverting
share (the trading problem itself is the `stake_trading` analysis, engine/staking/stake_trading_kind.py).

Only the abstract is reachable: the model is RECONSTRUCTED (engine/staking/stake_parity.py states it and
holds compute(); the specs' descriptions list every assumption). The seed draws the trading cost b, the
discount rate beta, the noise s and the initial gap from the stated ranges.
"""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from ..registry import Kind, Metric, Series, register
from ..spec.base import Strict
from ..stages import compute_kind
from .ranges import Range, ordered


class StakeParity(Strict):
    """Stake parity (RECONSTRUCTED): d pi = u dt + s dB, cost E int e^{-beta t} (a e^2 + b u^2)/2 dt,
    e = pi - target. The seed draws b, beta, s and the initial gap from the ranges."""
    kind: Literal["stake_parity"]
    risk_weight: float = Field(1.0, gt=0, le=100)        # a
    target: float = Field(0.25, gt=0, lt=1)              # target share
    trading_cost: Annotated[list[Annotated[float, Field(gt=0, le=100)]], Field(min_length=2, max_length=2)] = [1.0, 4.0]  # b
    beta: Range = [0.05, 0.15]
    noise: Range = [0.01, 0.03]                          # s
    gap: Range = [0.1, 0.2]                              # initial |pi - target|
    horizon: float = Field(30.0, gt=0, le=1000)
    dt: float = Field(0.02, gt=0, le=1)
    paths: int = Field(4000, ge=10, le=1_000_000)
    riccati_horizon: float = Field(20.0, gt=0, le=1000)  # finite-horizon Riccati shown as k(t)

    @model_validator(mode="after")
    def _ranges(self):
        for name in ("trading_cost", "beta", "noise", "gap"):
            ordered(name, getattr(self, name))
        if self.beta[0] <= 0:
            raise ValueError("beta: the discount rate must be > 0")
        if self.target + self.gap[1] >= 1:
            raise ValueError("target + gap must stay below 1 (a share)")
        if self.gap[0] <= 0:
            raise ValueError("gap must be > 0 (a zero initial gap has no half-life)")
        if self.dt > self.horizon / 10:
            raise ValueError(f"dt = {self.dt}: at least 10 steps over the horizon {self.horizon}")
        steps = self.horizon / self.dt
        if abs(steps - round(steps)) > 1e-9 * steps:
            raise ValueError(f"dt = {self.dt} must divide the horizon {self.horizon} (the theory is evaluated at the horizon)")
        if steps * self.paths > 5e8:
            raise ValueError(f"horizon / dt x paths = {steps * self.paths:.3g} simulated steps (at most 5e8)")
        return self


PARITY_METRICS = (
    Metric("cost_weight", doc="drawn b"), Metric("beta", doc="drawn discount rate"),
    Metric("noise", doc="drawn s"), Metric("gap0", doc="drawn initial gap pi_0 - target"),
    Metric("gain", doc="k = (-beta + sqrt(beta^2 + 4 a / b)) / 2"),
    Metric("gain_riccati", doc="k(0) of the finite-horizon Riccati equation (terminal 0) over riccati_horizon"),
    Metric("half_life_theory", doc="ln 2 / k"),
    Metric("half_life", doc="time the Monte Carlo mean gap takes to halve"),
    Metric("half_life_abs_error", doc="|half_life - half_life_theory|"),
    Metric("half_life_2se", doc="two standard errors of half_life (delta method)"),
    Metric("variance_end", doc="Monte Carlo variance of the gap at the horizon"),
    Metric("variance_end_theory", doc="s^2 (1 - e^{-2kT}) / (2k)"),
    Metric("variance_abs_error", doc="|variance_end - variance_end_theory|"),
    Metric("variance_2se", doc="two standard errors of variance_end"),
    Metric("cost_opt", doc="Monte Carlo discounted cost of u = -k e"),
    Metric("cost_opt_theory", doc="closed form V(e0) = (A/2) e0^2 + s^2 A / (2 beta)"),
    Metric("cost_opt_2se", doc="two standard errors of cost_opt"),
    Metric("cost_abs_error", doc="|cost_opt - cost_opt_theory|"),
    Metric("cost_half_gain", doc="Monte Carlo cost of u = -(k/2) e (same noise)"),
    Metric("cost_high_gain", doc="Monte Carlo cost of u = -(1.5 k) e (same noise)"),
    Metric("cost_no_trading", doc="closed-form cost of u = 0"),
    Metric("gap_ratio", doc="mean |e_T| / |e_0| over paths"),
    Metric("seconds", determinism="none", doc="wall time of the run"),
)
PARITY_SERIES = (
    Series("gap", x="t", doc="Monte Carlo mean |pi_t - target|"),
    Series("share_mean", x="t", doc="Monte Carlo mean share pi_t"),
    Series("share_path", x="t", doc="one simulated share path"),
    Series("gain_path", x="t", doc="finite-horizon Riccati gain k(t) = A(t) / b"),
)

register(Kind("analysis", "stake_parity", StakeParity, code="engine.staking.stake_parity",
              graph=compute_kind.graph, traits={"metrics": PARITY_METRICS, "series": PARITY_SERIES}))
