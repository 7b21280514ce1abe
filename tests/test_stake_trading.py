"""arXiv 2207.12581 (PoS stake trading, reconstructed model): the upwind HJB scheme against closed forms
checked by independent quadrature and ODE solves, the scheme's monotonicity (comparison principle), the
bang-bang control, the stake-parity gain against its Riccati equation and a direct cost minimisation, and
the valuation's martingale property by simulation."""
import math

import numpy as np
import pytest
from pydantic import ValidationError
from scipy import integrate, optimize

from engine.staking import hjb, stake_parity, stake_trading
from engine.staking.stake_parity_kind import StakeParity
from engine.staking.stake_trading_kind import StakeTrading


def market(mu, theta=0.7, gamma=0.05, beta=0.10, rho=0.05, sigma=0.5):
    return hjb.Market(beta=beta, rho=rho, mu=mu, sigma=sigma, gamma=gamma, theta=theta, buy=1.0, sell=1.0,
                      horizon=10.0)


CASES = [market(0.05), market(0.10), market(0.0), market(0.08, theta=1.0, gamma=0.02), market(0.05, gamma=0.0, theta=0.5)]


def _H_by_ode(m, taus):
    """Value of a held coin in price units: H' = kappa H + gamma, H(0) = theta (from the reduced PDE's x-derivative)."""
    sol = integrate.solve_ivp(lambda t, h: m.kappa * h + m.gamma, (0, max(taus)), [m.theta], dense_output=True,
                              rtol=1e-12, atol=1e-13)
    return sol.sol(taus)[0]


@pytest.mark.parametrize("m", CASES)
def test_closed_form_value_and_switch_against_quadrature(m):
    tau, x = m.horizon, 12.0
    g_ode = lambda w: _H_by_ode(m, [w])[0] - 1.0
    a = m.mu - m.beta
    kernel = lambda w: math.exp(a * (tau - w)) * (m.buy * max(g_ode(w), 0.0) + m.sell * max(-g_ode(w), 0.0))
    r = hjb.root(m.kappa, m.gamma, m.theta)
    pts = [r] if 0 < r < tau else None
    integral = integrate.quad(kernel, 0.0, tau, points=pts, limit=200, epsabs=1e-11)[0]
    expected = x * (g_ode(tau) + 1.0) + integral
    assert hjb.value_closed(tau, x, m) == pytest.approx(expected, rel=1e-8)
    # the switch: g changes sign exactly at the root (brentq on the ODE solution), else keeps one sign
    if 0 < r < tau:
        assert optimize.brentq(g_ode, 1e-9, tau) == pytest.approx(r, abs=1e-7)
    elif r >= tau:
        assert g_ode(tau) < 0
    else:
        assert g_ode(1e-3) > 0


@pytest.mark.parametrize("m", CASES)
def test_upwind_scheme_converges_to_the_closed_form(m):
    exact = hjb.value_closed(m.horizon, 12.0, m)
    errs = []
    for cells in (60, 120, 240):
        s = hjb.solve_linear(m, 60.0, cells)
        errs.append(abs(np.interp(12.0, s.x, s.W) - exact) / exact)
    assert errs[-1] < 5e-3
    # first order away from the value's kink (a factor 4 over two halvings); slower when selling brings
    # the path near the kink where the coins would just run out (the sell case)
    assert errs[2] < errs[1] < errs[0] and errs[2] < errs[0] / 2
    code, t_switch = hjb.regime(m)
    s = hjb.solve_linear(m, 60.0, 240)
    node = int(np.argmin(abs(s.x - 12.0)))
    assert hjb.regime_of(s, node) == code
    assert abs(hjb.switch_time(s, node) - t_switch) < s.dt
    assert hjb.switches(s, node) <= 1


def test_scheme_is_monotone_and_fails_beyond_the_cfl_bound():
    m = market(0.10)
    x = np.linspace(0, 60, 61)
    rng = np.random.default_rng(0)
    bump = np.where(rng.random(61) < 0.3, rng.random(61), 0.0)
    low = hjb.solve_linear(m, 60.0, 60, keep=True)
    high = hjb.solve_linear(m, 60.0, 60, terminal=m.theta * x + bump, keep=True)
    assert (high.history - low.history).min() >= -1e-12          # comparison principle
    lo_, hi_, kink = hjb._controls(x, m)
    for nu in (lo_, np.full(61, hi_), kink):
        assert hjb.linear_coefficients(m, 60.0, 60, nu, low.dt).min() >= 0
    # an explicit step 2.5 times the CFL bound is not monotone: the same check catches it
    low = hjb.solve_linear(m, 60.0, 60, cfl=2.5, keep=True)
    high = hjb.solve_linear(m, 60.0, 60, cfl=2.5, terminal=m.theta * x + bump, keep=True)
    assert (high.history - low.history).min() < -1e-6


@pytest.mark.parametrize("utility", ["linear", "convex", "concave"])
def test_candidate_sup_is_the_sup_over_a_dense_action_grid(utility):
    m = market(0.05)
    rng = np.random.default_rng(1)
    x = np.linspace(0, 20, 21)
    p = np.exp(rng.normal(0, 1, (1, 7)))
    fw, bw = rng.normal(1, 1, (21, 7)), rng.normal(1, 1, (21, 7))
    lo, hi, inner = hjb.hamiltonian_candidates(x, p, fw, bw, m, utility, 0.5)
    X = x[:, None]
    best = np.max([hjb.ham2d(c, X, p, fw, bw, m, utility, 0.5) for c in [lo, np.full_like(fw, hi)] + inner], axis=0)
    dense = np.max([hjb.ham2d(lo + (hi - lo) * u, X, p, fw, bw, m, utility, 0.5)
                    for u in np.linspace(0, 1, 4001)], axis=0)
    assert np.all(best >= dense - 1e-9)


def test_convex_control_is_bang_bang_and_concave_is_not():
    m = market(0.10)
    kw = dict(alpha=0.5, q=1.5, x_max=60.0, cells=30, z_nodes=13, z_width=2.5)
    convex = hjb.solve_2d(m, "convex", **kw)
    concave = hjb.solve_2d(m, "concave", **kw)
    linear = hjb.solve_2d(m, "linear", **kw)
    assert convex.interior / convex.counted < 0.01
    assert concave.interior / concave.counted > 0.02
    # the 2-D scheme with sigma > 0 recovers V = p W of the linear closed form at p = 1
    j = len(linear.z) // 2
    assert linear.z[j] == pytest.approx(0.0, abs=1e-12)
    v = np.interp(12.0, linear.x, linear.V[:, j])
    assert v == pytest.approx(hjb.value_closed(10.0, 12.0, m), rel=2e-2)


def test_drawn_instances_are_in_their_regime():
    for regime in ("buy", "sell", "buy_then_sell"):
        for valuation in ("martingale", "submartingale"):
            a = StakeTrading(kind="stake_trading", regime=regime, valuation=valuation, grid=25)
            for seed in range(5):
                m = stake_trading.draw_market(a, seed)
                code, t = hjb.regime(m)
                assert code == hjb.REGIMES[regime]
                assert (m.kappa == 0) == (valuation == "martingale")
                if regime == "buy_then_sell":
                    assert a.switch[0] * 10 - 1e-9 <= t <= a.switch[1] * 10 + 1e-9


def test_bad_settings_are_refused():
    with pytest.raises(ValidationError, match="x0"):
        StakeTrading(kind="stake_trading", regime="buy", valuation="martingale", x0=80.0)
    with pytest.raises(ValidationError, match="exhaust"):
        StakeTrading(kind="stake_trading", regime="sell", valuation="martingale", x0=5.0)
    with pytest.raises(ValidationError, match="theta"):
        StakeTrading(kind="stake_trading", regime="sell", valuation="submartingale", theta=[0.4, 0.9])
    with pytest.raises(ValidationError):
        StakeParity(kind="stake_parity", trading_cost=[4.0, 1.0])


@pytest.mark.parametrize("a,b,beta", [(1.0, 4.0, 0.1), (0.25, 1.0, 0.05), (4.0, 2.0, 0.15)])
def test_parity_gain_against_riccati_ode_and_direct_minimisation(a, b, beta):
    k = stake_parity.gain(a, b, beta)
    # the finite-horizon Riccati equation -A' = a - beta A - A^2/b, A(T) = 0, integrated backwards by scipy
    T = 60.0
    sol = integrate.solve_ivp(lambda tau, A: a - beta * A - A * A / b, (0, T), [0.0], rtol=1e-11, atol=1e-13,
                              dense_output=True)
    assert sol.sol(T)[0] / b == pytest.approx(k, rel=1e-8)
    ts = np.linspace(0, 20, 7)
    assert stake_parity.riccati(ts, a, b, beta, 20.0) == pytest.approx(sol.sol(20.0 - ts)[0], rel=1e-7)
    # the cost of u = -k' e from the OU second moment, integrated by quad, is least at k
    e0, s = 0.15, 0.02

    def cost(kp):
        m2 = lambda t: e0 ** 2 * math.exp(-2 * kp * t) + s * s * -math.expm1(-2 * kp * t) / (2 * kp)
        return integrate.quad(lambda t: math.exp(-beta * t) * (a + b * kp * kp) / 2 * m2(t), 0, np.inf)[0]
    best = optimize.minimize_scalar(cost, bounds=(1e-3, 20), method="bounded", options={"xatol": 1e-9}).x
    assert best == pytest.approx(k, rel=1e-5)
    assert stake_parity.linear_rule_cost(k, e0, a, b, beta, s) == pytest.approx(cost(k), rel=1e-7)


def test_parity_simulation_reverts_at_the_theoretical_speed():
    a, b, beta, s, e0 = 1.0, 2.0, 0.1, 0.02, 0.2
    k = stake_parity.gain(a, b, beta)
    t, cost, mean, absmean, var, path, e_end = stake_parity.simulate(
        e0, (k, k / 2, 1.5 * k), a, b, beta, s, 20.0, 0.01, 4000, np.random.default_rng(3))
    assert np.allclose(mean, e0 * np.exp(-k * t), atol=4 * s / math.sqrt(2 * k * 4000))
    th, two_se = stake_parity.half_life(t, mean, var, 4000, e0)
    assert abs(th - math.log(2) / k) < 2 * two_se
    assert cost[0].mean() < cost[1].mean() and cost[0].mean() < cost[2].mean()


@pytest.mark.parametrize("kappa", [0.0, 0.04])
def test_valuation_is_a_martingale_iff_kappa_is_zero(kappa):
    m = market(mu=kappa + 0.10 - 0.05)
    assert m.kappa == pytest.approx(kappa)
    t, M = stake_trading.valuation_paths(m, 40000, 10, np.random.default_rng(5))
    end = M[:, -1]
    se = end.std(ddof=1) / math.sqrt(len(end))
    assert abs(end.mean() - math.exp(kappa * m.horizon)) < 3 * se
    if kappa > 0:
        assert end.mean() - 1 > 3 * se


def test_parity_ranges_that_would_break_the_theory_are_refused():
    from pydantic import ValidationError

    from engine.staking.stake_parity_kind import StakeParity
    StakeParity.model_validate({"kind": "stake_parity"})
    with pytest.raises(ValidationError, match="zero initial gap"):
        StakeParity.model_validate({"kind": "stake_parity", "gap": [0.0, 0.1]})
    with pytest.raises(ValidationError, match="must divide the horizon"):
        StakeParity.model_validate({"kind": "stake_parity", "horizon": 1.0, "dt": 0.07})


@pytest.mark.parametrize("kappa,gamma,theta", [(-0.1, 0.5, 0.5), (-0.05, 0.3, 0.2), (0.05, 0.1, 0.6), (-0.2, 0.05, 0.5)])
def test_switch_root_against_a_bracketing_root_finder(kappa, gamma, theta):
    """tau* where the switching function g turns positive, for kappa of either sign, against brentq on g
    (or no root when g stays negative on a long horizon)."""
    from scipy.optimize import brentq

    from engine.staking import hjb
    g = lambda tau: float(hjb.g(tau, kappa, gamma, theta))     # noqa: E731
    far = 200.0
    expected = brentq(g, 0.0, far) if g(0.0) < 0 < g(far) else math.inf
    got = hjb.root(kappa, gamma, theta)
    assert (got == expected == math.inf) or abs(got - expected) < 1e-9, (got, expected)
