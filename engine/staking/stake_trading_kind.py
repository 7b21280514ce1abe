"""The analysis kind `stake_trading` of arXiv 2207.12581 (Tang & Yao, "Trading under the Proof-of-Stake
Protocol - a Continuous-Time Control Approach"): the HJB by a monotone upwind scheme against the
linear-utility closed forms, the bang-bang control, the risk-adjusted valuation by simulation. The paper's
risk-control "stake parity" problem is the `stake_parity` analysis (engine/staking/stake_parity_kind.py).

Only the abstract is reachable: the model is RECONSTRUCTED (engine/staking/hjb.py states it; the specs'
descriptions list every assumption).

One `stake_trading` run: a regime (buy / sell / buy_then_sell), a valuation (martingale: kappa = 0;
submartingale: kappa > 0) and a grid (x cells). The seed draws the market instance (beta, rho, kappa,
theta, gamma) from the stated ranges, the same for every grid, so a claim's interval runs over instances.
"""
from __future__ import annotations

import math
from typing import Literal

from pydantic import Field, model_validator

from ..registry import Kind, Metric, Series, register
from ..spec.base import Strict
from ..stages import compute_kind
from .ranges import Range, ordered


class StakeTrading(Strict):
    """Reconstructed PoS trading problem (engine/staking/hjb.py). Ranges are [low, high] of uniform draws."""
    kind: Literal["stake_trading"]
    regime: Literal["buy", "sell", "buy_then_sell"]
    valuation: Literal["martingale", "submartingale"]
    grid: int = Field(100, ge=8, le=2000)                 # x cells of the upwind scheme
    horizon: float = Field(10.0, gt=0, le=100)           # T
    x0: float = Field(12.0, gt=0, le=1e4)                # initial coins
    x_max: float = Field(60.0, gt=0, le=1e5)             # right end of the x grid
    buy_capacity: float = Field(1.0, gt=0, le=100)
    sell_capacity: float = Field(1.0, gt=0, le=100)
    sigma: float = Field(0.5, gt=0, le=2)                # price volatility (GBM)
    beta: Range = [0.06, 0.12]                           # discount rate
    rho: Range = [0.02, 0.06]                            # issuance rate
    kappa: Range = [0.02, 0.05]                          # mu + rho - beta (submartingale runs)
    theta: Range = [0.4, 0.55]                           # terminal valuation (sell, buy_then_sell)
    gamma_buy: Range = [0.02, 0.08]                      # holding weight (buy: theta = 1)
    switch: Range = [0.3, 0.7]                           # t*/T (buy_then_sell)
    sell_margin: Range = [0.0, 0.8]                      # gamma / (the gamma that would switch at t = 0) (sell)
    curvature: float = Field(0.5, gt=0, lt=1)            # alpha of U(c) = c +- alpha (sqrt(1 + c^2) - 1)
    exponent: float = Field(1.5, ge=1, le=4)             # q of U_h(w) = w^q / q (convex), w^(1/q) q (concave)
    z_nodes: int = Field(33, ge=5, le=1001)              # log-price nodes of the 2-D scheme
    z_width: float = Field(2.5, gt=0, le=10)             # half-width of the log-price grid, in sigma sqrt(T)
    cfl: float = Field(0.9, gt=0, le=1)                  # dt * (largest outflow rate) <= cfl: monotone
    paths: int = Field(20000, ge=10, le=1_000_000)       # Monte Carlo paths of the valuation
    mc_times: int = Field(50, ge=2, le=10_000)
    tolerance_fraction: float = Field(0.01, gt=0, lt=1)  # bang-bang: largest share of interior actions

    @model_validator(mode="after")
    def _feasible(self):
        for name in ("beta", "rho", "kappa", "theta", "gamma_buy", "switch", "sell_margin"):
            ordered(name, getattr(self, name))
        if self.sell_margin[1] >= 1:
            raise ValueError("sell_margin must stay below 1 (at 1 the switch falls on the horizon itself)")
        if not 0 < self.x0 < self.x_max:
            raise ValueError(f"x0 = {self.x0} must lie inside the grid (0, x_max = {self.x_max})")
        if self.x0 < self.sell_capacity * self.horizon:
            raise ValueError(f"x0 = {self.x0} < sell_capacity * horizon = {self.sell_capacity * self.horizon}: "
                             "selling could exhaust the coins, where the closed form does not hold")
        if self.rho[0] <= 0:
            raise ValueError("rho: the issuance rate must be > 0")
        if self.theta[1] >= 1:
            raise ValueError("theta: the sell and buy_then_sell regimes need theta < 1")
        k = self.kappa[1] if self.valuation == "submartingale" else 0.0
        if self.regime == "sell" and self.theta[1] * math.exp(k * self.horizon) >= 1:
            raise ValueError(f"theta {self.theta[1]} * e^(kappa T) >= 1: no gamma >= 0 keeps selling until T")
        if self.regime == "buy_then_sell" and self.theta[1] * math.exp(k * (1 - self.switch[0]) * self.horizon) >= 1:
            raise ValueError("theta too high for the latest switch: no gamma >= 0 switches at t* = switch[0] T")
        if self.regime == "buy_then_sell" and not (0 < self.switch[0] and self.switch[1] < 1):
            raise ValueError("switch: t*/T must lie in (0, 1)")
        if self.regime == "buy" and self.valuation == "martingale" and self.gamma_buy[0] <= 0:
            raise ValueError("gamma_buy: with kappa = 0 buying needs gamma > 0")
        return self


TRADING_METRICS = (
    Metric("beta", doc="drawn discount rate"), Metric("rho", doc="drawn issuance rate"),
    Metric("mu", doc="price drift mu = kappa + beta - rho"),
    Metric("kappa", doc="growth rate of E[M_t], M_t = e^{-beta t} P_t N_t (0: martingale)"),
    Metric("theta", doc="terminal valuation"), Metric("gamma", doc="holding weight"),
    Metric("value_closed", doc="closed-form V(0, x0, 1) (linear utility)"),
    Metric("value_fd", doc="upwind scheme's V(0, x0, 1), reduced 1-D equation"),
    Metric("value_error", doc="|value_fd - value_closed| / value_closed"),
    Metric("value_error_2d", doc="the full 2-D (x, log p) scheme with sigma > 0, linear utility, against the closed form"),
    Metric("switch_time_closed", doc="closed-form calendar time when selling starts (T: never, 0: at once)"),
    Metric("switch_time_fd", doc="the computed control's (at x0): the first step that strictly prefers selling"),
    Metric("switch_time_abs_error", doc="|switch_time_fd - switch_time_closed|"),
    Metric("time_step", doc="the scheme's dt (one grid step in time)"),
    Metric("switch_error_steps", doc="switch_time_abs_error / time_step"),
    Metric("steps", doc="time steps of the 1-D scheme"),
    Metric("regime_closed", doc="0 sell always, 1 buy then sell, 2 buy always (closed form)"),
    Metric("regime_fd", doc="the same code read off the computed control at x0"),
    Metric("control_switches", doc="changes between strict buying and strict selling of the computed control at x0"),
    Metric("interior_fraction_linear", doc="share of (inner node, step) where an action strictly inside the "
                                           "capacity bounds is strictly best: linear utility, 1-D scheme"),
    Metric("interior_fraction_convex", doc="the same, convex U and U_h, 2-D scheme"),
    Metric("interior_fraction_concave", doc="the same, concave U and U_h, 2-D scheme (contrast)"),
    Metric("tolerance_fraction", doc="the spec's bound on an interior share that still counts as bang-bang"),
    Metric("valuation_drift", doc="Monte Carlo mean of M_T / M_0 - 1"),
    Metric("valuation_2se", doc="two standard errors of valuation_drift"),
    Metric("valuation_drift_theory", doc="e^{kappa T} - 1"),
    Metric("seconds", determinism="none", doc="wall time of the run"),
)
TRADING_SERIES = (
    Series("control", x="t", doc="computed control along the optimal path (coins per unit time)"),
    Series("share", x="t", doc="stake share pi_t / pi_0 along the optimal path"),
    Series("valuation", x="t", doc="Monte Carlo mean of M_t / M_0"),
    Series("wealth", x="t", doc="Monte Carlo mean of the discounted stake value e^{-beta t} P_t X_t / (P_0 x0)"),
)

register(Kind("analysis", "stake_trading", StakeTrading, code="engine.staking.stake_trading",
              graph=compute_kind.graph, traits={"metrics": TRADING_METRICS, "series": TRADING_SERIES}))
