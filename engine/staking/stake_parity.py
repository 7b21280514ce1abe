"""The `stake_parity` analysis (engine/staking/stake_parity_kind.py): the risk-control variant of
arXiv 2207.12581, RECONSTRUCTED as a linear-quadratic problem on the stake share.

The share moves only by trading (PoS rewards are pro rata), plus reward-lottery noise:
d pi = u dt + s dB. The agent penalises the gap e = pi - target, not raw returns:
  min E int_0^inf e^{-beta t} (a e^2 + b u^2) / 2 dt.
HJB: beta V = min_u {(a e^2 + b u^2)/2 + u V'} + s^2 V''/2, so V = A e^2/2 + s^2 A / (2 beta) with
A^2 + beta b A - a b = 0, and u* = -k e, k = A / b = (-beta + sqrt(beta^2 + 4 a / b)) / 2:
a mean-reverting (Ornstein-Uhlenbeck) share with half-life ln 2 / k.
A linear rule u = -k' e costs J(k') = (a + b k'^2) (e^2 + s^2 / beta) / (2 (beta + 2 k')), least at k' = k."""
from __future__ import annotations

import math
import time

import numpy as np

from .ranges import draw


def gain(a: float, b: float, beta: float) -> float:
    """The optimal mean-reversion speed k."""
    return (-beta + math.sqrt(beta * beta + 4.0 * a / b)) / 2.0


def linear_rule_cost(k: float, e0, a: float, b: float, beta: float, s: float):
    """Expected discounted cost of u = -k e from the gap e0 (closed form, OU second moment)."""
    return (a + b * k * k) * (np.asarray(e0) ** 2 + s * s / beta) / (2.0 * (beta + 2.0 * k))


def riccati(t, a: float, b: float, beta: float, horizon: float, terminal: float = 0.0):
    """A(t) of the finite-horizon problem (terminal cost terminal e^2 / 2 at `horizon`):
    -A' = a - beta A - A^2 / b, A(horizon) = terminal; closed form through the roots A+ > 0 > A-."""
    disc = math.sqrt(beta * beta * b * b + 4.0 * a * b)
    Ap, Am = (-beta * b + disc) / 2.0, (-beta * b - disc) / 2.0
    lam = (Ap - Am) / b
    R = (terminal - Ap) / (terminal - Am) * np.exp(-lam * (horizon - np.asarray(t, dtype=float)))
    return (Ap - Am * R) / (1.0 - R)


def simulate(e0: float, gains, a: float, b: float, beta: float, s: float, horizon: float, dt: float,
             paths: int, rng):
    """Exact OU transitions for each rule u = -k' e, on common noise. Returns the times, per rule the
    per-path discounted cost (trapezoid in time + e^{-beta T} J(k', e_T) for the tail), and for the
    first rule the mean gap, mean |gap|, the variance at each time and one path."""
    steps = int(round(horizon / dt))
    t = np.arange(steps + 1) * dt
    e = np.full((len(gains), paths), float(e0))
    w = np.array([(a + b * k * k) / 2.0 for k in gains])[:, None]
    decay = np.array([math.exp(-k * dt) for k in gains])[:, None]
    scale = np.array([s * math.sqrt(-math.expm1(-2.0 * k * dt) / (2.0 * k)) for k in gains])[:, None]
    cost = 0.5 * dt * w * e * e
    mean, absmean, var, path = [np.empty(steps + 1) for _ in range(4)]
    mean[0], absmean[0], var[0], path[0] = e0, abs(e0), 0.0, e0
    for n in range(1, steps + 1):
        e = e * decay + scale * rng.standard_normal(paths)[None, :]
        disc = math.exp(-beta * t[n])
        cost += (0.5 if n == steps else 1.0) * dt * disc * w * e * e
        mean[n], absmean[n], var[n], path[n] = e[0].mean(), np.abs(e[0]).mean(), e[0].var(ddof=1), e[0, 0]
    tail = math.exp(-beta * horizon) * np.array([linear_rule_cost(k, e[i], a, b, beta, s) for i, k in enumerate(gains)])
    return t, cost + tail, mean, absmean, var, path, e[0]


def half_life(t, mean, var, paths: int, e0: float) -> tuple[float, float]:
    """First time the mean gap falls to e0 / 2 (linear interpolation) and two standard errors
    (delta method: the mean's standard error over the mean path's slope there)."""
    below = np.flatnonzero(mean <= e0 / 2.0)
    if not len(below) or below[0] == 0:
        return float("nan"), float("nan")
    j = below[0]
    frac = (mean[j - 1] - e0 / 2.0) / (mean[j - 1] - mean[j])
    th = t[j - 1] + frac * (t[j] - t[j - 1])
    slope = (mean[j] - mean[j - 1]) / (t[j] - t[j - 1])
    se = math.sqrt(var[j] / paths) / abs(slope)
    return float(th), float(2.0 * se)


def _thin(x, y, most: int = 301):
    idx = np.unique(np.linspace(0, len(x) - 1, min(most, len(x))).round().astype(int))
    return {"x": np.asarray(x)[idx].tolist(), "y": np.asarray(y)[idx].tolist()}


def compute(c, seed: int, upstream: dict) -> dict:
    t0 = time.perf_counter()
    rng = np.random.default_rng([seed, 7])            # the instance: the same for every risk weight
    b, beta, s, e0 = draw(rng, c.trading_cost), draw(rng, c.beta), draw(rng, c.noise), draw(rng, c.gap)
    a = c.risk_weight
    k = gain(a, b, beta)
    gains = (k, 0.5 * k, 1.5 * k)
    t, cost, mean, absmean, var, path, e_end = simulate(e0, gains, a, b, beta, s, c.horizon, c.dt, c.paths,
                                                        np.random.default_rng([seed, 8]))
    th, th2se = half_life(t, mean, var, c.paths, e0)
    if not math.isfinite(th):
        raise ValueError(f"the mean gap did not halve within the horizon {c.horizon} (k = {k:.3g})")
    var_theory = s * s * -math.expm1(-2.0 * k * c.horizon) / (2.0 * k)
    var_end = float(e_end.var(ddof=1))
    A = b * k
    t_r = np.linspace(0.0, c.riccati_horizon, 201)
    k_path = riccati(t_r, a, b, beta, c.riccati_horizon) / b
    metrics = {
        "cost_weight": b, "beta": beta, "noise": s, "gap0": e0, "gain": k, "gain_riccati": float(k_path[0]),
        "half_life_theory": math.log(2.0) / k, "half_life": th, "half_life_abs_error": abs(th - math.log(2.0) / k),
        "half_life_2se": th2se,
        "variance_end": var_end, "variance_end_theory": var_theory, "variance_abs_error": abs(var_end - var_theory),
        "variance_2se": 2.0 * var_end * math.sqrt(2.0 / (c.paths - 1)),
        "cost_opt": float(cost[0].mean()), "cost_opt_theory": A * e0 * e0 / 2.0 + s * s * A / (2.0 * beta),
        "cost_opt_2se": float(2.0 * cost[0].std(ddof=1) / math.sqrt(c.paths)),
        "cost_abs_error": abs(float(cost[0].mean()) - (A * e0 * e0 / 2.0 + s * s * A / (2.0 * beta))),
        "cost_half_gain": float(cost[1].mean()), "cost_high_gain": float(cost[2].mean()),
        "cost_no_trading": float(linear_rule_cost(0.0, e0, a, b, beta, s)),
        "gap_ratio": float(absmean[-1] / abs(e0)),
        "seconds": time.perf_counter() - t0,
    }
    series = {"gap": _thin(t, absmean), "share_mean": _thin(t, c.target + mean),
              "share_path": _thin(t, c.target + path), "gain_path": {"x": t_r.tolist(), "y": k_path.tolist()}}
    return {"metrics": metrics, "series": series}
