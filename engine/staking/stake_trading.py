"""The `stake_trading` analysis (engine/staking/stake_trading_kind.py): one market instance drawn by the
seed, its HJB solved by the upwind scheme at the run's grid and checked against the linear-utility
closed forms; the 2-D scheme's control for linear, convex and concave utilities; the optimal stake
path; and the risk-adjusted valuation M_t = e^{-beta t} P_t N_t by Monte Carlo."""
from __future__ import annotations

import math
import time

import numpy as np

from . import hjb
from .ranges import draw

REGIME_ORDER = ("buy", "sell", "buy_then_sell")
VALUATION_ORDER = ("martingale", "submartingale")


def no_switch_gamma(kappa: float, theta: float, tau: float) -> float:
    """The holding weight gamma that makes g(tau) = 0 (the switch tau before T); smaller keeps selling."""
    if abs(kappa) < 1e-14:
        return (1.0 - theta) / tau
    return kappa * (1.0 - theta * math.exp(kappa * tau)) / math.expm1(kappa * tau)


def draw_market(a, seed: int) -> hjb.Market:
    """The seed's market instance for the run's regime and valuation (the same for every grid).
    beta, rho ~ U(ranges); kappa = 0 (martingale) or ~ U(kappa); mu = kappa + beta - rho.
    buy: theta = 1, gamma ~ U(gamma_buy). buy_then_sell: theta ~ U(theta), t*/T ~ U(switch), gamma
    solves g(T - t*) = 0. sell: theta ~ U(theta), gamma = u * (the gamma switching at t = 0), u ~ U(sell_margin)."""
    rng = np.random.default_rng([seed, REGIME_ORDER.index(a.regime), VALUATION_ORDER.index(a.valuation)])
    beta, rho = draw(rng, a.beta), draw(rng, a.rho)
    kappa = draw(rng, a.kappa) if a.valuation == "submartingale" else 0.0
    T = a.horizon
    if a.regime == "buy":
        theta, gamma = 1.0, draw(rng, a.gamma_buy)
    elif a.regime == "buy_then_sell":
        theta = draw(rng, a.theta)
        gamma = no_switch_gamma(kappa, theta, (1.0 - draw(rng, a.switch)) * T)
    else:
        theta = draw(rng, a.theta)
        gamma = draw(rng, a.sell_margin) * no_switch_gamma(kappa, theta, T)
    return hjb.Market(beta=beta, rho=rho, mu=kappa + beta - rho, sigma=a.sigma, gamma=gamma, theta=theta,
                      buy=a.buy_capacity, sell=a.sell_capacity, horizon=T)


def optimal_path(sol: hjb.LinearSolution, m: hjb.Market, x0: float) -> tuple[np.ndarray, np.ndarray]:
    """Coins X at every step boundary and the control on every step, following the computed control at
    the node nearest to X (exact flow of dX = (rho X + nu) dt over each step)."""
    X = np.empty(sol.steps + 1)
    nu = np.empty(sol.steps)
    X[0] = x0
    grow = math.exp(m.rho * sol.dt)
    for k in range(sol.steps):
        i = int(np.argmin(np.abs(sol.x - X[k])))
        if sol.buy[k, i]:
            nu[k] = m.buy
        elif sol.sell[k, i] and X[k] > 0:
            nu[k] = -m.sell
        elif sol.interior[k, i]:
            nu[k] = -m.rho * X[k]                 # the kink: hold X constant
        else:
            nu[k] = 0.0                           # indifferent
        X[k + 1] = max(X[k] * grow + nu[k] * (grow - 1.0) / m.rho, 0.0)
    return X, nu


def valuation_paths(m: hjb.Market, paths: int, times: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """M_t / M_0 = exp((kappa - sigma^2/2) t + sigma W_t) at `times` + 1 equal times: (t, M [path, time])."""
    t = np.linspace(0.0, m.horizon, times + 1)
    dW = rng.standard_normal((paths, times)) * math.sqrt(m.horizon / times)
    W = np.concatenate([np.zeros((paths, 1)), np.cumsum(dW, axis=1)], axis=1)
    M = np.exp((m.kappa - 0.5 * m.sigma ** 2) * t + m.sigma * W)
    return t, M


def _value_at(sol2: hjb.Solution2D, x0: float, z0: float = 0.0) -> float:
    along_z = np.array([np.interp(z0, sol2.z, row) for row in sol2.V])
    return float(np.interp(x0, sol2.x, along_z))


def compute(a, seed: int, upstream: dict) -> dict:
    t0 = time.perf_counter()
    m = draw_market(a, seed)
    code, t_closed = hjb.regime(m)
    if code != hjb.REGIMES[a.regime]:
        raise ValueError(f"the drawn instance is in regime {code}, not {a.regime} (ranges inconsistent)")
    T = a.horizon
    sol = hjb.solve_linear(m, a.x_max, a.grid, a.cfl)
    node = int(np.argmin(np.abs(sol.x - a.x0)))
    w_fd = float(np.interp(a.x0, sol.x, sol.W))
    w_cf = hjb.value_closed(T, a.x0, m)
    t_fd = hjb.switch_time(sol, node)
    inner = sol.interior[:, 1:-1]

    common = dict(alpha=a.curvature, q=a.exponent, x_max=a.x_max, cells=a.grid, z_nodes=a.z_nodes,
                  z_width=a.z_width, cfl=a.cfl)
    lin2 = hjb.solve_2d(m, "linear", **common)
    convex = hjb.solve_2d(m, "convex", **common)
    concave = hjb.solve_2d(m, "concave", **common)

    X, nu = optimal_path(sol, m, a.x0)
    t_steps = np.arange(sol.steps + 1) * sol.dt
    share = X * np.exp(-m.rho * t_steps) / a.x0          # pi_t / pi_0 (N_t = N_0 e^{rho t})
    rng = np.random.default_rng([seed, REGIME_ORDER.index(a.regime), VALUATION_ORDER.index(a.valuation), 1])
    t_mc, M = valuation_paths(m, a.paths, a.mc_times, rng)
    mean_M = M.mean(axis=0)
    end = M[:, -1]
    wealth = mean_M * np.interp(t_mc, t_steps, share)
    t_common = np.linspace(0.0, T, 101)                  # the same times for every grid and instance

    metrics = {
        "beta": m.beta, "rho": m.rho, "mu": m.mu, "kappa": m.kappa, "theta": m.theta, "gamma": m.gamma,
        "value_closed": w_cf, "value_fd": w_fd, "value_error": abs(w_fd - w_cf) / abs(w_cf),
        "value_error_2d": abs(_value_at(lin2, a.x0) - w_cf) / abs(w_cf),
        "switch_time_closed": t_closed, "switch_time_fd": t_fd, "switch_time_abs_error": abs(t_fd - t_closed),
        "time_step": sol.dt, "switch_error_steps": abs(t_fd - t_closed) / sol.dt, "steps": float(sol.steps),
        "regime_closed": float(code), "regime_fd": float(hjb.regime_of(sol, node)),
        "control_switches": float(hjb.switches(sol, node)),
        "interior_fraction_linear": float(inner.mean()),
        "interior_fraction_convex": convex.interior / convex.counted,
        "interior_fraction_concave": concave.interior / concave.counted,
        "tolerance_fraction": a.tolerance_fraction,
        "valuation_drift": float(end.mean() - 1.0),
        "valuation_2se": float(2.0 * end.std(ddof=1) / math.sqrt(len(end))),
        "valuation_drift_theory": math.expm1(m.kappa * T),
        "seconds": time.perf_counter() - t0,
    }
    series = {
        "control": {"x": t_steps[:-1].tolist(), "y": nu.tolist()},
        "share": {"x": t_common.tolist(), "y": np.interp(t_common, t_steps, share).tolist()},
        "valuation": {"x": t_mc.tolist(), "y": mean_M.tolist()},
        "wealth": {"x": t_mc.tolist(), "y": wealth.tolist()},
    }
    return {"metrics": metrics, "series": series}
