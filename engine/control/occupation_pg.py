"""Policy optimisation on exploratory LQ control: the continuous-time policy gradient and PPO of
arXiv 2305.18901 (occupation-time formulas) against the usual discrete-time PG and PPO at step dt.

Every variant sees the same trajectories per iteration (Euler-Maruyama at step dt, horizon T, a batch
of start states), the same critic (the exact value of the current policy, so that only the
policy-update formulas differ) and the same optimiser (Adam, fixed learning rate). Parameters: the
mean gain K and the log standard deviations s of pi(u|x) = N(-Kx, diag e^{2s}).

- CT-PG (occupation time): grad eta = (1/rho) E_{y ~ rho d^pi, u ~ pi}[grad ln pi (q - lam ln pi)],
  with the discounted occupation measure sampled by weights e^{-rho t_k} dt along each path and
  q estimated as the TD rate q_k = r_k + (e^{-rho dt} V(x_{k+1}) - V(x_k)) / dt.
- CT-PPO: the local approximation L(pi') = (1/rho) E_{rho d^pi, pi}[(pi'/pi) q] + lam H(pi') / rho, the
  ratio clipped as in PPO, same occupation weights.
- DT-PG: REINFORCE with the value baseline, sum_k gamma^k grad ln pi_k (G_k - V(x_k)), per-step
  reward (r_k - lam ln pi_k) dt, gamma = e^{-rho dt}, the return bootstrapped with V at the horizon.
- DT-PPO: the clipped surrogate averaged over transitions, with GAE(gamma, gae) advantages of the
  same per-step rewards.
"""
from __future__ import annotations

import math

import numpy as np

from . import lq

VARIANTS = ("ct_pg", "ct_ppo", "dt_pg", "dt_ppo")


def _score(K, logstd, x, u):
    """Per-sample gradients of ln pi: d/dK (batch, m, n) and d/ds (batch, m)."""
    std = np.exp(logstd)
    z = (u + x @ K.T) / std
    return -(z / std)[:, :, None] * x[:, None, :], z * z - 1


def _weighted(K, logstd, x, u, c):
    """sum_i c_i grad ln pi(u_i|x_i), as (dK, ds)."""
    gK, gs = _score(K, logstd, x, u)
    return np.einsum("b,bij->ij", c, gK), c @ gs


class Adam:
    def __init__(self, lr: float, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8):
        self.lr, self.b1, self.b2, self.eps, self.t, self.m, self.v = lr, beta1, beta2, eps, 0, None, None

    def ascend(self, params: list[np.ndarray], grads: list[np.ndarray]) -> list[np.ndarray]:
        if self.m is None:
            self.m = [np.zeros_like(g) for g in grads]
            self.v = [np.zeros_like(g) for g in grads]
        self.t += 1
        out = []
        for i, (p, g) in enumerate(zip(params, grads)):
            self.m[i] = self.b1 * self.m[i] + (1 - self.b1) * g
            self.v[i] = self.b2 * self.v[i] + (1 - self.b2) * g * g
            mh, vh = self.m[i] / (1 - self.b1 ** self.t), self.v[i] / (1 - self.b2 ** self.t)
            out.append(p + self.lr * mh / (np.sqrt(vh) + self.eps))
        return out


def _flatten(xs, us):
    steps, batch = us.shape[:2]
    return xs[:-1].reshape(steps * batch, -1), us.reshape(steps * batch, -1), xs[1:].reshape(steps * batch, -1)


def _discounted_to_go(values: np.ndarray, factor: float) -> np.ndarray:
    """out_k = sum_{j>=k} factor^{j-k} values_j along axis 0."""
    out = np.empty_like(values)
    acc = np.zeros(values.shape[1:])
    for k in range(values.shape[0] - 1, -1, -1):
        acc = values[k] + factor * acc
        out[k] = acc
    return out


def _clipped_coef(ratio, adv, clip):
    """d/d ln pi' of min(ratio A, clip(ratio) A): ratio A where the unclipped term is active, else 0."""
    active = ~(((adv >= 0) & (ratio > 1 + clip)) | ((adv < 0) & (ratio < 1 - clip)))
    return np.where(active, ratio * adv, 0.0)


def train(p: lq.LQProblem, variant: str, dt: float, cfg, rng: np.random.Generator, K0, logstd0,
          eta_star: float, sign: float = 1.0) -> list[float]:
    """Optimise from (K0, logstd0) for cfg.iterations; the exact optimality gap eta* - eta after each
    iteration (the first entry: before training). `sign` -1 negates every advantage (the sign check)."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}")
    K, s = np.array(K0, dtype=float), np.array(logstd0, dtype=float)
    opt = Adam(cfg.lr)
    gaps = [eta_star - lq.performance(p, K, s)]
    gamma = math.exp(-p.rho * dt)
    for it in range(cfg.iterations):
        xs, us = lq.rollout(p, K, s, dt, cfg.horizon, cfg.batch, rng)
        steps, batch = us.shape[:2]
        PK, c = lq.value_params(p, K, s)
        x, u, xn = _flatten(xs, us)
        logp = lq.log_prob(K, s, x, u)
        r = lq.reward(p, x, u)
        v, vn = lq.value(PK, c, x), lq.value(PK, c, xn)
        t = np.repeat(np.arange(steps) * dt, batch)
        if variant.startswith("ct"):
            q = r + (gamma * vn - v) / dt                       # TD rate: q-function estimate
            w = np.exp(-p.rho * t) * dt / batch                  # occupation-time weights, summed over paths
            if variant == "ct_pg":
                K, s = opt.ascend([K, s], _weighted(K, s, x, u, sign * w * (q - p.lam * logp)))
            else:
                adv = q + p.lam * lq.entropy(s)                  # centred: E_pi q = -lam H
                K, s = _ppo(p, K, s, x, u, logp, sign * w * adv, sign * w, cfg, opt)
        else:
            soft = ((r - p.lam * logp) * dt).reshape(steps, batch)
            if variant == "dt_pg":
                tail = gamma ** np.arange(steps, 0, -1)[:, None] * lq.value(PK, c, xs[-1])[None, :]
                to_go = (_discounted_to_go(soft, gamma) + tail).reshape(-1)     # bootstrapped at the horizon
                disc = gamma ** (t / dt)
                K, s = opt.ascend([K, s], _weighted(K, s, x, u, sign * disc * (to_go - v) / batch))
            else:
                delta = (soft.reshape(-1) + gamma * vn - v).reshape(steps, batch)
                adv = _discounted_to_go(delta, gamma * cfg.gae).reshape(-1)
                K, s = _ppo(p, K, s, x, u, logp, sign * adv / adv.size, None, cfg, opt)
        try:
            gaps.append(eta_star - lq.performance(p, K, s))
        except ValueError as e:
            raise ValueError(f"{variant} at dt {dt}: iteration {it + 1}: {e}") from None
    return gaps


def _ppo(p, K, s, x, u, logp_old, adv_w, entropy_w, cfg, opt):
    """cfg.epochs Adam steps on the clipped surrogate sum_i min(ratio_i a_i, clip(ratio_i) a_i), with
    a_i = adv_w_i (weights folded in), plus lam * H(pi') * sum(entropy_w) when entropy_w is given
    (the continuous-time surrogate's entropy term). Returns the new (K, s)."""
    for _ in range(cfg.epochs):
        ratio = np.exp(lq.log_prob(K, s, x, u) - logp_old)
        gK, gs = _weighted(K, s, x, u, _clipped_coef(ratio, adv_w, cfg.clip))
        if entropy_w is not None:
            gs = gs + p.lam * float(np.sum(entropy_w))
        K, s = opt.ascend([K, s], [gK, gs])
    return K, s
