"""The proof-of-stake share martingale behind the miner's long-run utility (arXiv 2308.13881, RECONSTRUCTED
after Tang's and Rosu-Saleh's urn models of stake; only the abstract of the paper could be read).

Our miner holds stake X, the others Y, N = X + Y, share S = X / N. Each block the proposer is our miner with
probability S and receives the block's reward A_t (block reward plus on-chain fee revenue), drawn i.i.d. with
mean `reward` (uniform on reward * [1 - spread, 1 + spread]); the reward is staked. Under honest play
  E[S_{t+1} | F_t] = S (X + A)/(N + A) + (1 - S) X/(N + A) = S,
so S is a bounded martingale: S_t -> S_inf a.s. with E[S_inf] = S_0 (with a constant reward, a Polya urn:
S_inf ~ Beta(X_0 / a, Y_0 / a)). A persistent deviation that changes the miner's revenue per proposal by
delta makes its replacement a + delta against a for the others; the colour with the larger replacement takes
the whole urn, so the long-run utility U = value * E[S_inf] is a step in delta:
  U(delta) = value * (1 if delta > 0, S_0 if delta = 0, 0 if delta < 0),
with jumps J_up = value (1 - S_0) and J_down = value S_0. At a finite horizon the fluid limit
(d ln X = (a + delta)/N dt, d ln Y = a/N dt, N ~ N_0 + a t) gives the continuous
  logit S_T = logit S_0 + (delta / a) ln(1 + a T / N_0),
which tends to the step only logarithmically in T. Pure numpy; no engine imports.
"""
from __future__ import annotations

import numpy as np


def long_run_utility(delta, share: float, value: float = 1.0):
    """value * E[S_inf] under a persistent revenue deviation delta: the exact step (both sides of 0)."""
    delta = np.asarray(delta, dtype=float)
    return value * np.where(delta > 0, 1.0, np.where(delta < 0, 0.0, share))


def jumps(share: float, value: float = 1.0) -> tuple[float, float]:
    """(J_up, J_down): the long-run gain of any revenue increase and the loss of any decrease."""
    return value * (1.0 - share), value * share


def fluid_share(delta, share: float, pool: float, reward: float, horizon: float):
    """The fluid (ODE) approximation of E[S_T] under a persistent deviation delta (continuous in delta)."""
    delta = np.asarray(delta, dtype=float)
    logit = np.log(share / (1.0 - share)) + delta / reward * np.log1p(reward * horizon / pool)
    return 1.0 / (1.0 + np.exp(-logit))


def simulate(share: float, pool: float, reward: float, spread: float, deltas, horizon: int, paths: int,
             rng: np.random.Generator) -> np.ndarray:
    """S_T on `paths` paths for each deviation in `deltas`: an array (len(deltas), paths). Common random
    numbers: every deviation sees the same proposer draws and rewards, so differences are paired."""
    deltas = np.asarray(deltas, dtype=float)[:, None]
    if np.any(reward * (1.0 - spread) + deltas <= 0):
        raise ValueError("a deviation makes the miner's reward non-positive")
    x = np.full((len(deltas), paths), share * pool)
    y = np.full((len(deltas), paths), (1.0 - share) * pool)
    for _ in range(horizon):
        u = rng.random(paths)
        a = reward * (1.0 + spread * (2.0 * rng.random(paths) - 1.0)) if spread > 0 else reward
        ours = u * (x + y) < x                       # our miner proposes with probability X / N
        x += np.where(ours, a + deltas, 0.0)
        y += np.where(ours, 0.0, a)
    return x / (x + y)


def polya_variance(share: float, pool: float, reward: float, horizon: int) -> float:
    """Var(S_T) of the honest urn with a constant reward, exactly: the martingale's increments have
    conditional variance S(1 - S) a^2 / (N_t + a)^2 and E[S_t(1 - S_t)] = S_0(1 - S_0) - Var(S_t)."""
    v = 0.0
    for t in range(horizon):
        n = pool + t * reward
        v += (share * (1.0 - share) - v) * reward ** 2 / (n + reward) ** 2
    return v
