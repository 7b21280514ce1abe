"""Exploratory (entropy-regularised) linear-quadratic control with discount rate rho, additive noise:

    dX = (A X + B u) dt + sigma dW,   reward rate r(x, u) = -(x'Qx + u'Ru),   entropy bonus lam * H(pi),
    maximise  eta(pi) = E_{x0 ~ N(m0, s0^2 I)} E int_0^inf e^{-rho t} (r + lam H(pi(.|X_t))) dt.

Policies are Gaussian, pi(u|x) = N(-K x, diag(exp(2 s))). Closed forms (Wang, Zariphopoulou and Zhou
2020, additive-noise case, derived in the spec's description):
- the optimum: K* = R^{-1} B'P with P the stabilising solution of the Riccati equation for A - (rho/2) I,
  Sigma* = (lam/2) R^{-1} (R diagonal here, so Sigma* is diagonal and in the policy class);
- any policy (K, s) with A - BK - (rho/2) I Hurwitz: V(x) = -x'P_K x - c with P_K from a Lyapunov
  equation and rho c = tr(sigma sigma' P_K) + tr(R Sigma) - lam/2 ln det(2 pi e Sigma);
- its q-function (Jia and Zhou): q(x, u) = r(x, u) + (Ax + Bu)' grad V + tr(sigma sigma' grad^2 V) / 2 - rho V(x),
  which satisfies E_pi[q - lam ln pi] = 0 at every x.

Simulation is Euler-Maruyama with the action held over each step dt.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .riccati import is_hurwitz, lyapunov, newton_kleinman


@dataclass(frozen=True)
class LQProblem:
    A: np.ndarray
    B: np.ndarray
    Q: np.ndarray
    R: np.ndarray          # diagonal, positive
    sigma: np.ndarray
    rho: float
    lam: float
    x0_mean: np.ndarray
    x0_std: float

    @classmethod
    def from_config(cls, a) -> "LQProblem":
        n, m = len(a.x0_mean), len(a.R)
        arr = lambda v, cols: np.asarray(v, dtype=float).reshape(-1, cols)       # row-major lists
        return cls(arr(a.A, n), arr(a.B, m), arr(a.Q, n), np.diag(np.asarray(a.R, dtype=float)), arr(a.sigma, n),
                   float(a.rho), float(a.lam), np.asarray(a.x0_mean, dtype=float), float(a.x0_std))

    @property
    def n(self) -> int:
        return self.A.shape[0]

    @property
    def m(self) -> int:
        return self.B.shape[1]

    @property
    def shifted(self) -> np.ndarray:
        return self.A - self.rho / 2 * np.eye(self.n)

    @property
    def M0(self) -> np.ndarray:
        """E[x0 x0'] of the start distribution."""
        return self.x0_std ** 2 * np.eye(self.n) + np.outer(self.x0_mean, self.x0_mean)


def optimum(p: LQProblem, K: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, float]:
    """(K*, log-std*, eta*): the optimal exploratory policy and its value; K* from the Riccati equation
    unless the caller has solved it already."""
    if K is None:
        _, K, _ = newton_kleinman(p.shifted, p.B, p.Q, p.R)
    logstd = 0.5 * np.log(p.lam / 2 / np.diag(p.R))
    return K, logstd, performance(p, K, logstd)


def value_params(p: LQProblem, K: np.ndarray, logstd: np.ndarray) -> tuple[np.ndarray, float]:
    """(P_K, c): V(x) = -x'P_K x - c, or ValueError when the policy does not stabilise the discounted system."""
    F = p.shifted - p.B @ K
    if not is_hurwitz(F):
        raise ValueError("the policy's mean gain does not stabilise A - (rho/2) I: its value is -infinity")
    PK = lyapunov(F, p.Q + K.T @ p.R @ K)
    var = np.exp(2 * logstd)
    c = (np.trace(p.sigma @ p.sigma.T @ PK) + float(np.sum(np.diag(p.R) * var)) - p.lam * entropy(logstd)) / p.rho
    return PK, float(c)


def entropy(logstd: np.ndarray) -> float:
    """Differential entropy of N(., diag e^{2 logstd}) (the same at every state)."""
    return float(np.sum(logstd) + len(logstd) / 2 * math.log(2 * math.pi * math.e))


def performance(p: LQProblem, K, logstd) -> float:
    """eta(pi) = E_{x0} V(x0) = -tr(P_K M0) - c."""
    PK, c = value_params(p, K, logstd)
    return float(-np.trace(PK @ p.M0) - c)


def value(PK: np.ndarray, c: float, x: np.ndarray) -> np.ndarray:
    """V(x) for a batch of states x (rows)."""
    return -np.einsum("bi,ij,bj->b", x, PK, x) - c


def q_function(p: LQProblem, PK, c, x, u) -> np.ndarray:
    """The q-function of the policy whose value is (PK, c), at a batch of (x, u)."""
    r = reward(p, x, u)
    drift = x @ p.A.T + u @ p.B.T
    grad_v = -2 * x @ PK
    return r + np.sum(drift * grad_v, axis=1) - np.trace(p.sigma @ p.sigma.T @ PK) - p.rho * value(PK, c, x)


def reward(p: LQProblem, x, u) -> np.ndarray:
    return -(np.einsum("bi,ij,bj->b", x, p.Q, x) + np.sum(u * u * np.diag(p.R), axis=1))


def log_prob(K, logstd, x, u) -> np.ndarray:
    z = (u + x @ K.T) / np.exp(logstd)
    return -0.5 * np.sum(z * z, axis=1) - np.sum(logstd) - z.shape[1] / 2 * math.log(2 * math.pi)


def start_states(p: LQProblem, batch: int, rng: np.random.Generator) -> np.ndarray:
    return p.x0_mean + p.x0_std * rng.standard_normal((batch, p.n))


def rollout(p: LQProblem, K, logstd, dt: float, horizon: float, batch: int, rng: np.random.Generator):
    """Euler-Maruyama trajectories of the policy, action held over each step: states (steps+1, batch, n),
    actions (steps, batch, m), the noise drawn once per call from `rng`."""
    steps = max(1, int(round(horizon / dt)))
    xs = np.empty((steps + 1, batch, p.n))
    xs[0] = start_states(p, batch, rng)
    action_noise = rng.standard_normal((steps, batch, p.m)) * np.exp(logstd)
    state_noise = rng.standard_normal((steps, batch, p.sigma.shape[1])) @ p.sigma.T * math.sqrt(dt)
    us = np.empty((steps, batch, p.m))
    Ad, Bd, Kt = p.A.T * dt, p.B.T * dt, K.T
    for k in range(steps):
        x = xs[k]
        u = action_noise[k] - x @ Kt
        us[k] = u
        xs[k + 1] = x + x @ Ad + u @ Bd + state_noise[k]
    return xs, us
