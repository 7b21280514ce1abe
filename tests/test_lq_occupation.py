"""Occupation-time RL on exploratory LQ control (arXiv 2305.18901; engine/control/): the Riccati and
Lyapunov solvers against scipy, policy values against Monte Carlo, the performance-difference formula
against the difference of two Monte Carlo value estimates, the policy-gradient estimator against a
finite-difference gradient of the closed form, and the sign check of all four update rules."""
import math
import types

import numpy as np
import pytest
import scipy.linalg as sl

from engine.control import lq, occupation_pg
from engine.control.riccati import lyapunov, newton_kleinman

from .conftest import ROOT, engine_cmd

TWO_D = dict(A=[0.2, 1.0, -0.5, -0.3], B=[1.0, 0.0, 0.3, 1.0], Q=[1.0, 0.0, 0.0, 1.0], R=[1.0, 0.5],
             sigma=[0.5, 0.0, 0.1, 0.4], rho=0.5, lam=0.3, x0_mean=[1.0, -1.0], x0_std=0.3)


def problem(**over):
    return lq.LQProblem.from_config(types.SimpleNamespace(**{**TWO_D, **over}))


def soft_returns(p, K, s, dt, horizon, paths, rng):
    """Per path: int e^{-rho t} (r - lam ln pi) dt, simulated (the Monte Carlo value of x0 ~ nu)."""
    xs, us = lq.rollout(p, K, s, dt, horizon, paths, rng)
    steps = us.shape[0]
    total = np.zeros(paths)
    for k in range(steps):
        r = lq.reward(p, xs[k], us[k]) - p.lam * lq.log_prob(K, s, xs[k], us[k])
        total += math.exp(-p.rho * k * dt) * r * dt
    return total


@pytest.mark.parametrize("n,m", [(1, 1), (2, 2), (3, 2)])
def test_newton_kleinman_matches_scipy_care_with_the_discount_shift(n, m):
    rng = np.random.default_rng(n * 10 + m)
    A = rng.normal(size=(n, n)) * 0.5
    A -= (max(np.linalg.eigvals(A).real) + 0.3) * np.eye(n)     # Hurwitz, so K0 = 0 stabilises
    B, C = rng.normal(size=(n, m)), rng.normal(size=(n, n))
    Q, R = C @ C.T + 0.1 * np.eye(n), np.diag(rng.uniform(0.5, 2.0, m))
    rho = 0.7
    shifted = A - rho / 2 * np.eye(n)
    P, K, iters = newton_kleinman(shifted, B, Q, R)
    ref = sl.solve_continuous_are(shifted, B, Q, R)
    assert np.max(np.abs(P - ref)) < 1e-9 * max(1.0, np.max(np.abs(ref)))
    assert np.allclose(K, np.linalg.solve(R, B.T @ ref), atol=1e-9)
    assert iters < 30


def test_newton_kleinman_refuses_a_destabilising_start():
    with pytest.raises(ValueError, match="stabilising"):
        newton_kleinman(np.array([[1.0]]), np.array([[1.0]]), np.array([[1.0]]), np.array([[1.0]]))


def test_lyapunov_matches_scipy():
    rng = np.random.default_rng(3)
    F = rng.normal(size=(3, 3)) - 3 * np.eye(3)
    M = rng.normal(size=(3, 3))
    M = M @ M.T
    assert np.allclose(lyapunov(F, M), sl.solve_continuous_lyapunov(F.T, -M), atol=1e-12)


def test_optimal_policy_is_a_maximum_of_the_closed_form():
    p = problem()
    K, s, eta = lq.optimum(p)
    rng = np.random.default_rng(0)
    for _ in range(20):
        dK, ds = rng.normal(size=K.shape) * 0.05, rng.normal(size=s.shape) * 0.05
        assert lq.performance(p, K + dK, s + ds) < eta
    assert np.allclose(np.exp(2 * s), p.lam / 2 / np.diag(p.R))


def test_policy_value_closed_form_agrees_with_monte_carlo():
    p = problem()
    K, s = np.array([[0.5, 0.2], [0.1, 0.6]]), np.array([-0.3, -0.2])
    returns = soft_returns(p, K, s, dt=0.005, horizon=14.0, paths=3000, rng=np.random.default_rng(1))
    se = returns.std(ddof=1) / math.sqrt(len(returns))
    # Euler with the action held over dt adds O(dt) bias: well under the Monte Carlo error here
    assert abs(returns.mean() - lq.performance(p, K, s)) < 4 * se + 0.01, (returns.mean(), lq.performance(p, K, s), se)


def test_performance_difference_formula_against_two_monte_carlo_values():
    """V^new - V^old = (1/rho) E_{y ~ rho d^new, u ~ new}[q^old(y, u) - lam ln new(u|y)], the occupation
    measure sampled by e^{-rho t} dt weights along new's paths; the left side by two independent
    Monte Carlo value estimates."""
    p = problem()
    old = (np.array([[0.3, 0.0], [0.0, 0.3]]), np.array([0.0, 0.0]))
    new = (np.array([[0.8, 0.3], [0.3, 1.0]]), np.array([-0.5, -0.4]))
    dt, horizon, paths = 0.01, 14.0, 3000
    v_new = soft_returns(p, *new, dt, horizon, paths, np.random.default_rng(10))
    v_old = soft_returns(p, *old, dt, horizon, paths, np.random.default_rng(11))
    lhs = v_new.mean() - v_old.mean()
    lhs_se = math.hypot(v_new.std(ddof=1), v_old.std(ddof=1)) / math.sqrt(paths)

    PK, c = lq.value_params(p, *old)
    xs, us = lq.rollout(p, *new, dt, horizon, paths, np.random.default_rng(12))
    per_path = np.zeros(paths)
    for k in range(us.shape[0]):
        integrand = lq.q_function(p, PK, c, xs[k], us[k]) - p.lam * lq.log_prob(*new, xs[k], us[k])
        per_path += math.exp(-p.rho * k * dt) * integrand * dt
    rhs, rhs_se = per_path.mean(), per_path.std(ddof=1) / math.sqrt(paths)
    exact = lq.performance(p, *new) - lq.performance(p, *old)
    assert abs(exact) > 10 * lhs_se                                  # a real difference to recover
    assert abs(lhs - rhs) < 4 * math.hypot(lhs_se, rhs_se) + 0.02, (lhs, rhs, lhs_se, rhs_se, exact)


def test_q_function_is_centred_by_the_entropy_under_its_policy():
    """E_{u ~ pi}[q(x, u) - lam ln pi(u|x)] = 0 at every x (the policy's own HJ equation)."""
    p = problem()
    K, s = np.array([[0.4, 0.1], [0.2, 0.7]]), np.array([-0.2, 0.1])
    PK, c = lq.value_params(p, K, s)
    rng = np.random.default_rng(5)
    for x in rng.normal(size=(5, 2)):
        xb = np.repeat(x[None], 200_000, axis=0)
        u = -xb @ K.T + rng.standard_normal((len(xb), 2)) * np.exp(s)
        vals = lq.q_function(p, PK, c, xb, u) - p.lam * lq.log_prob(K, s, xb, u)
        assert abs(vals.mean()) < 5 * vals.std() / math.sqrt(len(vals))


def test_occupation_time_gradient_estimator_matches_finite_differences():
    """The continuous-time estimator's expectation is grad eta (closed form, central differences)."""
    p = problem(**{"A": [-0.5], "B": [1.0], "Q": [1.0], "R": [1.0], "sigma": [0.4], "x0_mean": [1.0],
                   "x0_std": 0.5, "rho": 1.0, "lam": 0.5})
    K, s = np.array([[0.3]]), np.array([-0.2])
    h = 1e-5
    fd_K = (lq.performance(p, K + h, s) - lq.performance(p, K - h, s)) / (2 * h)
    fd_s = (lq.performance(p, K, s + h) - lq.performance(p, K, s - h)) / (2 * h)
    dt, horizon, paths = 0.01, 8.0, 20000
    xs, us = lq.rollout(p, K, s, dt, horizon, paths, np.random.default_rng(7))
    PK, c = lq.value_params(p, K, s)
    gK, gs = np.zeros(paths), np.zeros(paths)
    gamma = math.exp(-p.rho * dt)
    for k in range(us.shape[0]):
        x, u, xn = xs[k], us[k], xs[k + 1]
        q = lq.reward(p, x, u) + (gamma * lq.value(PK, c, xn) - lq.value(PK, c, x)) / dt
        weight = math.exp(-p.rho * k * dt) * dt * (q - p.lam * lq.log_prob(K, s, x, u))
        z = (u + x @ K.T) / np.exp(s)
        gK += weight * (-(z / np.exp(s)) * x)[:, 0]
        gs += weight * (z * z - 1)[:, 0]
    for est, fd in ((gK, fd_K), (gs, fd_s)):
        se = est.std(ddof=1) / math.sqrt(paths)
        assert abs(est.mean() - fd) < 4 * se + 0.03 * abs(fd), (est.mean(), fd, se)


@pytest.mark.parametrize("variant", occupation_pg.VARIANTS)
def test_sign_check_negated_advantages_move_the_value_the_other_way(variant):
    p = problem()
    cfg = types.SimpleNamespace(iterations=6, batch=8, lr=0.05, epochs=4, clip=0.2, gae=0.95, horizon=6.0)
    _, _, eta = lq.optimum(p)
    K0, s0 = np.array([[0.4, 0.2], [0.1, 0.5]]), np.array([-0.5, -0.5])
    up = occupation_pg.train(p, variant, 0.05, cfg, np.random.default_rng(0), K0, s0, eta)
    try:
        down = occupation_pg.train(p, variant, 0.05, cfg, np.random.default_rng(0), K0, s0, eta, sign=-1.0)[-1]
    except ValueError as e:                    # driven out of the stabilising set: value -infinity
        assert "does not stabilise" in str(e)
        down = math.inf
    assert up[-1] < up[0] < down, (up[0], up[-1], down)


def test_a_misshapen_matrix_is_refused_with_its_location(tmp_path):
    from .conftest import copy_project
    project = copy_project(tmp_path, specs=False)
    (project / "specs").mkdir()
    text = (ROOT / "specs" / "lq_occupation_2d.yaml").read_text().replace("B: [1.0, 0.0, 0.3, 1.0]", "B: [1.0, 0.0, 0.3]")
    (project / "specs" / "lq_occupation_2d.yaml").write_text(text)
    out = engine_cmd("validate", cwd=project)
    assert out.returncode == 2
    assert "analysis: B must have 4 entries" in out.stderr and "lq_occupation_2d.yaml:" in out.stderr, out.stderr


def test_a_run_too_long_to_finish_is_refused_before_it_starts():
    import yaml
    from pydantic import ValidationError

    from engine.control.lq_occupation_kind import LQOccupation
    spec = yaml.safe_load((ROOT / "specs" / "lq_occupation_2d.yaml").read_text())["analysis"]
    ok = {**spec, "method": "ppo", "dt": 0.001}
    LQOccupation.model_validate(ok)                      # the default scale's largest run passes
    with pytest.raises(ValidationError, match="four trainings simulate and replay"):
        LQOccupation.model_validate({**ok, "iterations": 100_000})
