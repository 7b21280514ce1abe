"""Trading stakes under proof of stake (arXiv 2207.12581, Tang & Yao): the HJB equation solved by a
monotone upwind finite-difference scheme, and the closed forms of the linear-utility case.

Only the paper's abstract is reachable; the model below is RECONSTRUCTED to be solvable and to
reproduce the abstract's claims (engine/staking/stake_trading_kind.py lists every assumption):

- supply N_t = N_0 e^{rho t} (constant issuance rate rho, paid pro rata to stake, so the stake share
  moves only by trading); price P_t a GBM with drift mu and volatility sigma; coins X_t, all staked;
- control: trading rate nu in [-sell, +buy] coins per unit time (no selling at X = 0),
  dX = (rho X + nu) dt; consumption c = -P nu (sales fund it, purchases are paid out of it);
- objective E[ int_0^T e^{-beta t} (U(c_t) + gamma U_h(P_t X_t)) dt + theta e^{-beta T} U_h(P_T X_T) ];
- HJB: V_t + (rho x + nu*) V_x + mu p V_p + sigma^2 p^2 V_pp / 2 - beta V + gamma U_h(p x)
       + sup_nu {U(-p nu) + nu V_x} = 0,  V(T) = theta U_h(p x).

Linear utility (U(c) = c, U_h(w) = w): V = p W(tau, x), tau = T - t, and
  -W_tau + (rho x + nu*) W_x + (mu - beta) W + gamma x - nu* = 0,  W(0, x) = theta x,
with the switching function W_x - 1 = g(tau) (buy at full capacity if > 0, sell at full capacity if < 0):
  g(tau) = gamma (e^{kappa tau} - 1) / kappa + theta e^{kappa tau} - 1,   kappa = mu + rho - beta
(kappa is the growth rate of the risk-adjusted valuation M_t = e^{-beta t} P_t N_t: a martingale iff
kappa = 0, a sub-martingale iff kappa >= 0).

Pure numpy; no engine imports.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

SELL, SWITCH, BUY = 0, 1, 2          # regime codes: sell always, buy then sell, buy always
REGIMES = {"sell": SELL, "buy_then_sell": SWITCH, "buy": BUY}
TIE = 1e-9                           # relative margin for "strictly better" between candidate actions


@dataclass(frozen=True)
class Market:
    beta: float            # discount rate
    rho: float             # issuance (inflation) rate
    mu: float              # price drift
    sigma: float           # price volatility
    gamma: float           # weight of the holding utility
    theta: float           # terminal valuation of the stake (1: full value)
    buy: float             # buying capacity (coins per unit time)
    sell: float            # selling capacity
    horizon: float         # T

    @property
    def kappa(self) -> float:
        """Growth rate of E[M_t], M_t = e^{-beta t} P_t N_t."""
        return self.mu + self.rho - self.beta


# ----------------------------------------------------------------------------- closed forms (linear utility)
def _expm1_over(c: float, w):
    """int_0^w e^{c s} ds."""
    w = np.asarray(w, dtype=float)
    return w if abs(c) < 1e-14 else np.expm1(c * w) / c


def _s_exp(c: float, w):
    """int_0^w s e^{c s} ds."""
    w = np.asarray(w, dtype=float)
    if abs(c) < 1e-14:
        return w * w / 2
    return w * np.exp(c * w) / c - np.expm1(c * w) / c ** 2


def g(tau, kappa: float, gamma: float, theta: float):
    """Switching function W_x - 1 at time to go tau (value of one more coin held, minus its price)."""
    tau = np.asarray(tau, dtype=float)
    if abs(kappa) < 1e-14:
        return gamma * tau + theta - 1.0
    return gamma * np.expm1(kappa * tau) / kappa + theta * np.exp(kappa * tau) - 1.0


def root(kappa: float, gamma: float, theta: float) -> float:
    """tau* with g(tau*) = 0 and g > 0 beyond it (inf if g never turns positive; 0 if g > 0 at once).
    g is monotone: g' = e^{kappa tau} (gamma + theta kappa)."""
    slope = gamma + theta * kappa
    if slope <= 0:
        return math.inf
    if theta >= 1.0:
        return 0.0
    if abs(kappa) < 1e-14:
        return (1.0 - theta) / gamma
    ratio = (kappa + gamma) / slope            # e^{kappa tau*}
    if ratio <= 0 or (kappa < 0 and ratio >= 1):
        return math.inf                        # kappa < 0: g rises to a limit it never crosses
    return math.log(ratio) / kappa


def regime(m: Market) -> tuple[int, float]:
    """(regime code, calendar time at which selling starts: T if never, 0 if from the start)."""
    r = root(m.kappa, m.gamma, m.theta)
    if r == 0.0:
        return BUY, m.horizon
    if r >= m.horizon:
        return SELL, 0.0
    return SWITCH, m.horizon - r


def holding_value(tau, m: Market):
    """H(tau) = W_x: value of a coin held with tau to go, in units of the current price."""
    return g(tau, m.kappa, m.gamma, m.theta) + 1.0


def value_closed(tau: float, x: float, m: Market) -> float:
    """W(tau, x) = x H(tau) + int_0^tau e^{a (tau - w)} (buy g(w)^+ + sell g(w)^-) dw, a = mu - beta.
    Valid while selling never exhausts the coins: x >= sell * int_{sell set} e^{-rho u} du
    (x >= sell * T is enough)."""
    k, a = m.kappa, m.mu - m.beta
    if abs(k) < 1e-14:
        def F(w):      # int_0^w e^{-a s} g(s) ds
            return m.gamma * _s_exp(-a, w) + (m.theta - 1.0) * _expm1_over(-a, w)
    else:
        A, B = m.gamma / k + m.theta, -(m.gamma / k + 1.0)

        def F(w):
            return A * _expm1_over(k - a, w) + B * _expm1_over(-a, w)
    r = min(root(k, m.gamma, m.theta), tau)     # g <= 0 on [0, r], g >= 0 on [r, tau]
    neg = -(F(r) - F(0.0))                      # int of g^- e^{-a s}
    pos = F(tau) - F(r)
    return float(x * holding_value(tau, m) + math.exp(a * tau) * (m.buy * pos + m.sell * neg))


# ----------------------------------------------------------------------------- the upwind scheme
def _differences(W: np.ndarray, dx: float) -> tuple[np.ndarray, np.ndarray]:
    """Forward and backward differences along axis 0. Boundaries: x = 0 has no backward
    difference (the drift there is >= 0: no selling at X = 0); x_max is Neumann (W_{N+1} = W_N):
    the scheme stays monotone, and the paths never come near it."""
    fw = np.zeros_like(W)
    bw = np.zeros_like(W)
    d = np.diff(W, axis=0) / dx
    fw[:-1] = d
    bw[1:] = d
    return fw, bw


def _controls(x: np.ndarray, m: Market) -> tuple[np.ndarray, float, np.ndarray]:
    lo = np.where(x > 0, -m.sell, 0.0)          # state constraint at x = 0
    kink = np.clip(-m.rho * x, lo, m.buy)       # the drift's sign change: hold X constant
    return lo, m.buy, kink


@dataclass
class LinearSolution:
    x: np.ndarray            # nodes
    W: np.ndarray            # W(T, x) = V(0, x, p) / p
    dt: float
    steps: int
    buy: np.ndarray          # [calendar step, node]: buying at capacity strictly best
    sell: np.ndarray         # selling at capacity strictly best
    interior: np.ndarray     # an action strictly inside the capacity bounds strictly best
    history: np.ndarray | None = None   # W at every time level (tau = 0 first), when asked for


def time_step(rate: float, horizon: float, cfl: float) -> tuple[int, float]:
    """Steps and dt with dt * rate <= cfl (rate: the largest sum of outflow coefficients per unit time)."""
    steps = max(1, math.ceil(horizon * rate / cfl))
    return steps, horizon / steps


def solve_linear(m: Market, x_max: float, cells: int, cfl: float = 0.9, terminal: np.ndarray | None = None,
                 keep: bool = False) -> LinearSolution:
    """Explicit monotone upwind scheme for the reduced linear-utility HJB, marching in tau = T - t.
    Per node the sup over nu in [lo, buy] of max(d,0) W_x^+ + min(d,0) W_x^- - nu, d = rho x + nu,
    is piecewise linear in nu with one kink (d = 0): it is attained at lo, buy or the kink, so the
    sup is exact. Monotone (every update coefficient >= 0) when dt * rate <= 1, which cfl <= 1 gives."""
    x = np.linspace(0.0, x_max, cells + 1)
    dx = x_max / cells
    a = m.mu - m.beta
    rate = (m.rho * x_max + max(m.buy, m.sell)) / dx + max(-a, 0.0)
    steps, dt = time_step(rate, m.horizon, cfl)
    lo, hi, kink = _controls(x, m)
    W = m.theta * x if terminal is None else np.array(terminal, dtype=float)
    shape = (steps, len(x))
    buy, sell, inner = np.zeros(shape, bool), np.zeros(shape, bool), np.zeros(shape, bool)
    hist = [W.copy()] if keep else None
    for n in range(steps):
        fw, bw = _differences(W, dx)

        def ham(nu):
            d = m.rho * x + nu
            return np.maximum(d, 0.0) * fw + np.minimum(d, 0.0) * bw - nu
        h_lo, h_hi, h_k = ham(lo), ham(hi), ham(kink)
        end = np.maximum(h_lo, h_hi)
        tol = TIE * (1.0 + np.abs(end))
        k = steps - 1 - n                       # calendar step [k dt, (k+1) dt) uses W at tau = (n) dt
        inner[k] = h_k > end + tol
        buy[k] = (h_hi > h_lo + tol) & ~inner[k]
        sell[k] = (h_lo > h_hi + tol) & ~inner[k]
        W = W + dt * (np.maximum(end, h_k) + a * W + m.gamma * x)
        if keep:
            hist.append(W.copy())
    return LinearSolution(x, W, dt, steps, buy, sell, inner, None if hist is None else np.array(hist))


def linear_coefficients(m: Market, x_max: float, cells: int, nu: np.ndarray, dt: float) -> np.ndarray:
    """The explicit update W_new = C W + dt * source for a fixed control nu (one per node), as the
    matrix C. The scheme is monotone for this control iff C >= 0 entrywise."""
    x = np.linspace(0.0, x_max, cells + 1)
    dx = x_max / cells
    d = m.rho * x + nu
    up, down = np.maximum(d, 0.0) / dx, np.maximum(-d, 0.0) / dx
    up[-1] = 0.0                                 # Neumann at x_max
    down[0] = 0.0                                # no outflow at x = 0
    C = np.diag(1.0 + dt * (m.mu - m.beta - up - down))
    C += np.diag(dt * up[:-1], 1) + np.diag(dt * down[1:], -1)
    return C


def switch_time(sol: LinearSolution, node: int) -> float:
    """Calendar time at which the computed control at `node` first strictly prefers selling
    (T if never): the left end of that time step."""
    k = np.flatnonzero(sol.sell[:, node])
    return float(k[0] * sol.dt) if len(k) else sol.steps * sol.dt


def switches(sol: LinearSolution, node: int) -> int:
    """How often the computed control at `node` changes between strict buying and strict selling."""
    sides = [1 if b else -1 for b, s in zip(sol.buy[:, node], sol.sell[:, node]) if b or s]
    return int(sum(u != v for u, v in zip(sides, sides[1:])))


def regime_of(sol: LinearSolution, node: int) -> int:
    """Regime code read off the computed control at `node`."""
    b, s = sol.buy[:, node].any(), sol.sell[:, node].any()
    if s and not b:
        return SELL
    if b and not s:
        return BUY
    if b and s:
        return SWITCH
    return -1


# ----------------------------------------------------------------------------- nonlinear utilities, 2-D
UTILITIES = ("linear", "convex", "concave")


def consumption_utility(c, utility: str, alpha: float):
    """U(c) = c + s alpha (sqrt(1 + c^2) - 1), s = +1 convex (risk seeking), -1 concave, 0 linear;
    0 <= alpha < 1 keeps U increasing (U' >= 1 - alpha) with linear growth."""
    if utility == "linear":
        return c
    s = 1.0 if utility == "convex" else -1.0
    return c + s * alpha * (np.sqrt(1.0 + c * c) - 1.0)


def holding_utility(w, utility: str, q: float):
    """U_h(w) = w^e / e with e = q (convex), 1 (linear), 1/q (concave)."""
    e = {"linear": 1.0, "convex": q, "concave": 1.0 / q}[utility]
    return w if e == 1.0 else np.power(w, e) / e


@dataclass
class Solution2D:
    x: np.ndarray
    z: np.ndarray            # log price nodes
    V: np.ndarray            # V(0, x, e^z)
    dt: float
    steps: int
    interior: int            # (node, time step) pairs, inner nodes only, where an interior action is strictly best
    counted: int             # (node, time step) pairs counted


def hamiltonian_candidates(x, p, fw, bw, m: Market, utility: str, alpha: float):
    """Candidate actions whose best value is the exact sup over nu in [lo, buy] of
    h(nu) = max(d,0) V_x^+ + min(d,0) V_x^- + U(-p nu), d = rho x + nu: the two capacity bounds, the
    drift's kink and, for a concave U (h concave on each side of the kink), each side's stationary
    point (V_x^{+/-} = -d/dnu U(-p nu)). Returns (lo, hi, [interior candidates])."""
    lo, hi, kink = _controls(x, m)
    lo = np.broadcast_to(lo, fw.shape) if np.ndim(lo) == fw.ndim else np.broadcast_to(lo[:, None], fw.shape)
    kink = np.broadcast_to(kink[:, None], fw.shape) if kink.ndim < fw.ndim else kink
    inner = [kink]
    if utility == "concave":
        # d/dnu U(-p nu) = -p - alpha p y / sqrt(1 + y^2), y = p nu: stationary where
        # y / sqrt(1 + y^2) = r = (D - p) / (alpha p), which needs |r| < 1
        for D in (fw, bw):
            r = np.clip((D - p) / (alpha * p), -1 + 1e-12, 1 - 1e-12)
            inner.append(np.clip(r / np.sqrt(1.0 - r * r) / p, lo, hi))
    return lo, hi, inner


def ham2d(nu, x, p, fw, bw, m: Market, utility: str, alpha: float):
    d = m.rho * x + nu
    return np.maximum(d, 0.0) * fw + np.minimum(d, 0.0) * bw + consumption_utility(-p * nu, utility, alpha)


def solve_2d(m: Market, utility: str, alpha: float, q: float, x_max: float, cells: int, z_nodes: int,
             z_width: float, cfl: float = 0.9, p0: float = 1.0) -> Solution2D:
    """Explicit monotone scheme for the full HJB in (x, z = log p), marching in tau:
    V += dt [sup_nu h(nu) + (mu - sigma^2/2) V_z + sigma^2/2 V_zz - beta V + gamma U_h(e^z x)],
    upwind in x; in z central differences (monotone while |mu - sigma^2/2| dz <= sigma^2, else upwind).
    z spans log p0 +- z_width sigma sqrt(T); beyond it ghost nodes continue V linearly in p
    (V_{N+1} = e^{dz} V_N: positive coefficients, so still monotone); x as in solve_linear. Counts, over
    inner nodes (not on a boundary) and every time step, where an action strictly inside the
    capacity bounds beats both bounds."""
    x = np.linspace(0.0, x_max, cells + 1)
    dx = x_max / cells
    half = z_width * m.sigma * math.sqrt(m.horizon)
    z = math.log(p0) + np.linspace(-half, half, z_nodes)
    dz = z[1] - z[0]
    X, P = x[:, None], np.exp(z)[None, :]
    drift_z = m.mu - 0.5 * m.sigma ** 2
    central = abs(drift_z) * dz <= m.sigma ** 2       # central V_z keeps every coefficient >= 0
    rate = ((m.rho * x_max + max(m.buy, m.sell)) / dx + (0.0 if central else abs(drift_z) / dz)
            + m.sigma ** 2 / dz ** 2 + m.beta)
    steps, dt = time_step(rate, m.horizon, cfl)
    Uh = holding_utility(P * X, utility, q)
    V = m.theta * Uh
    running = m.gamma * Uh
    inner_nodes = (slice(1, -1), slice(1, -1))
    interior = counted = 0
    for _ in range(steps):
        fw, bw = _differences(V, dx)
        zf = np.empty_like(V)
        zb = np.empty_like(V)
        dzv = np.diff(V, axis=1) / dz
        zf[:, :-1] = dzv
        zb[:, 1:] = dzv
        zf[:, -1] = V[:, -1] * np.expm1(dz) / dz        # ghost nodes: V grows linearly in p beyond the grid
        zb[:, 0] = -V[:, 0] * np.expm1(-dz) / dz
        lo, hi, cands = hamiltonian_candidates(x, P, fw, bw, m, utility, alpha)
        h_lo = ham2d(lo, X, P, fw, bw, m, utility, alpha)
        h_hi = ham2d(hi, X, P, fw, bw, m, utility, alpha)
        end = np.maximum(h_lo, h_hi)
        h_in = np.max([ham2d(c, X, P, fw, bw, m, utility, alpha) for c in cands], axis=0)
        strict = h_in > end + TIE * (1.0 + np.abs(end))
        interior += int(strict[inner_nodes].sum())
        counted += strict[inner_nodes].size
        vz = 0.5 * (zf + zb) if central else (zf if drift_z > 0 else zb)
        V = V + dt * (np.maximum(end, h_in) + drift_z * vz + 0.5 * m.sigma ** 2 * (zf - zb) / dz
                      - m.beta * V + running)
    return Solution2D(x, z, V, dt, steps, interior, counted)
