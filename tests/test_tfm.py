"""The PoS transaction-fee-mechanism analysis (arXiv 2308.13881, reconstructed model): BSP outcomes on
hand-worked bids, the vectorised deviation search against a plain brute force written here, the known static
facts, the long-run term's violation and its repair, and the stake-share urn against exact oracles (the
Polya urn's variance recursion and Beta limit from scipy)."""
import itertools
import math

import numpy as np
import pytest
from pydantic import ValidationError
from scipy import stats

from engine.mechanisms import bsp, stake_urn, tfm_bsp, tfm_stake
from engine.mechanisms.tfm_bsp_kind import BSP_METRICS, TfmBsp
from engine.mechanisms.tfm_stake_kind import STAKE_METRICS, STAKE_SERIES, TfmStake


# ----------------------------------------------------------------------------- the mechanism's rules
def test_outcome_on_hand_worked_bids():
    m = bsp.Mechanism(block=4, unconfirmed=1, theta=0.5)
    o = bsp.outcome([3, 1, 4, 2, 0], m)          # top 4: 4 3 2 1; confirmed 4 3 2 at price 1
    assert o["confirmed"] == [2, 0, 3] and o["unconfirmed"] == [1] and o["included"] == [2, 0, 3, 1]
    assert o["price"] == 1 and o["revenue"] == 0.5 and o["burn"] == 3 * 1 - 0.5

    m2 = bsp.Mechanism(block=4, unconfirmed=2, theta=1.0)
    o = bsp.outcome([5, 4, 3, 2, 1], m2)         # confirmed 5 4 at price 3; miner gets 3 + 2; burn 6 - 5
    assert o["confirmed"] == [0, 1] and o["unconfirmed"] == [2, 3]
    assert (o["price"], o["revenue"], o["burn"]) == (3, 5, 1)

    ties = bsp.outcome([2, 2, 2], bsp.Mechanism(block=2, unconfirmed=1, theta=0.25))
    assert ties["confirmed"] == [0] and ties["unconfirmed"] == [1] and ties["revenue"] == 0.5   # by arrival

    short = bsp.outcome([5], bsp.Mechanism(block=2, unconfirmed=1, theta=1.0))
    assert short["confirmed"] == [] and short["revenue"] == 0 and short["burn"] == 0


def test_grid_and_range():
    assert list(bsp.bid_grid(0.25, 1.0)) == [0, 0.25, 0.5, 0.75, 1.0]
    assert list(bsp.bid_grid(0.4, 1.0)) == [0, 0.4, 0.8]
    with pytest.raises(ValueError):
        bsp.Mechanism(block=2, unconfirmed=2, theta=1.0)
    m = bsp.Mechanism(4, 1, 0.6, 1.0, jump_up=0.2, jump_down=4.8)
    assert bsp.in_range(m, tick=0.5, max_bid=2, coalition=1)          # 0.6 <= 1 - 0.2/0.5
    assert not bsp.in_range(m, tick=0.25, max_bid=2, coalition=1)     # 0.6 > 1 - 0.2/0.25 = 0.2
    assert not bsp.in_range(m, tick=0.5, max_bid=3, coalition=2)      # J_down < c max_bid


# ----------------------------------------------------------------------------- an independent brute force
def _utility(items, coal_vals, miner, m, rev0):
    """items: [(bid, owner)] included, in arrival order; owner 'f' (fake) or a user index; coal_vals: the
    coalition users' values. Plain loops, written from the rules in the module docstring."""
    if len(items) < m.block:
        conf, unconf, price, rev = [], [], 0.0, 0.0
    else:
        ranked = sorted(range(len(items)), key=lambda i: (-items[i][0], i))
        conf = [items[i] for i in ranked[:m.block - m.unconfirmed]]
        unconf = [items[i] for i in ranked[m.block - m.unconfirmed:]]
        price, rev = unconf[0][0], m.theta * sum(b for b, _ in unconf)
    u = 0.0
    if miner:
        d = rev - rev0
        u += rev + (m.jump_up if d > 1e-9 else -m.jump_down if d < -1e-9 else 0.0)
    for b, o in conf:
        if o == "f":
            u -= price
        elif o in coal_vals:
            u += coal_vals[o] - price
    for b, o in unconf:
        if o == "f" or o in coal_vals:
            u -= m.gamma * max(b - (0.0 if o == "f" else coal_vals[o]), 0.0)
    return u


def _brute_gain(vals, members, miner, m, grid, fakes):
    n = len(vals)
    coal = {i: vals[i] for i in members}
    honest = [(vals[i], i) for i in range(n)]
    rev0 = bsp.outcome(list(vals), m)["revenue"]
    top = lambda pool: [pool[i] for i in sorted(sorted(range(len(pool)), key=lambda i: (-pool[i][0], i))[:m.block])]  # noqa
    base = _utility(top(honest), coal, miner, m, rev0)
    best = base
    for f in range(fakes + 1):
        for bids in itertools.product(grid, repeat=len(members) + f):
            pool = [(bids[members.index(i)] if i in members else vals[i], i) for i in range(n)]
            pool += [(b, "f") for b in bids[len(members):]]
            if miner:
                for r in range(0, min(m.block, len(pool)) + 1):
                    for sub in itertools.combinations(pool, r):
                        best = max(best, _utility(list(sub), coal, True, m, rev0))
            else:
                best = max(best, _utility(top(pool), coal, False, m, rev0))
    return best - base


@pytest.mark.parametrize("theta,jumps", [(1.0, (0.0, 0.0)), (0.5, (0.0, 0.0)), (1.0, (0.3, 0.3)), (0.6, (0.3, 3.0))])
def test_vectorised_search_equals_brute_force(theta, jumps):
    m = bsp.Mechanism(3, 1, theta, 1.0, *jumps)
    grid = bsp.bid_grid(1.0, 2.0)
    rng = np.random.default_rng(7)
    for vals in [[2.0, 2.0, 2.0, 0.0], [2.0, 1.0, 1.0, 0.0]] + [list(grid[rng.integers(0, 3, 4)]) for _ in range(3)]:
        for members, miner in [([], True), ([1], True), ([0], False), ([2], False), ([0, 3], True)]:
            got = bsp.best_deviation(vals, members, miner, m, grid, fakes=1)[0]
            assert got == pytest.approx(_brute_gain(vals, members, miner, m, grid, 1), abs=1e-9), (vals, members)


def test_block_utility_equals_the_plain_rules_block_by_block():
    rng = np.random.default_rng(3)
    for _ in range(200):
        k = int(rng.integers(2, 5))
        u = int(rng.integers(1, k))
        m = bsp.Mechanism(k, u, float(rng.choice([0.0, 0.3, 1.0])), float(rng.choice([0.5, 1.0])))
        bids = rng.integers(0, 4, k).astype(float)
        owners = [rng.choice(["f", 0, 1, "x"]) for _ in range(k)]      # x: a user outside the coalition
        owners = [o if o in ("f", "x") else int(o) for o in owners]
        coal_vals = {0: float(rng.integers(0, 4)), 1: float(rng.integers(0, 4))}
        V = np.array([0.0 if o in ("f", "x") else coal_vals[o] for o in owners])
        C = np.array([o != "x" for o in owners])
        static, rev = bsp._block_utility(bids[None], V[None], C[None], m)
        items = [(b, o if o != "x" else 99) for b, o in zip(bids, owners)]
        expect = _utility(items, coal_vals, True, m, rev0=float(rev[0]))    # delta = 0: no long-run term
        assert static[0] + rev[0] == pytest.approx(expect), (bids, owners, m)


# ----------------------------------------------------------------------------- static facts and the long-run term
def _max_gains(m, tick, max_bid, coalition, profiles=12, users=4, seed=0):
    grid = bsp.bid_grid(tick, max_bid)
    rng = np.random.default_rng(seed)
    out = {"uic": 0.0, "mic": 0.0, "scp": 0.0}
    for _ in range(profiles):
        found = bsp.check_profile(grid[rng.integers(0, len(grid), users)], m, grid, coalition, fakes=1)
        out = {k: max(v, found[k]) for k, v in out.items()}
    return out


def test_static_bsp_gamma_one_passes_and_gamma_below_one_fails_1scp():
    assert _max_gains(bsp.Mechanism(3, 1, 1.0, 1.0), 1.0, 3.0, 1) == {"uic": 0.0, "mic": 0.0, "scp": 0.0}
    # theta = gamma = 0.5: the miner and a confirmed user swap the price-setter for a low bid; on
    # values (2, 2, 2, 0) the user saves 2 and the miner loses 0.5 * 2: a gain of at least 1
    m = bsp.Mechanism(3, 1, 0.5, 0.5)
    grid = bsp.bid_grid(1.0, 2.0)
    assert bsp.best_deviation([2, 2, 2, 0], [0], True, m, grid, 1)[0] >= 1.0 - 1e-12
    assert bsp.best_deviation([2, 2, 2, 0], [0], True, bsp.Mechanism(3, 1, 1.0, 1.0), grid, 1)[0] == 0.0


def test_long_run_term_breaks_bsp_gamma_and_bsp_theta_repairs_it():
    j_up, j_down = 0.2, 4.8
    grid = bsp.bid_grid(1.0, 2.0)
    # values (2, 2, 1, 0): the unconfirmed user raises its bid by one tick: strict cost gamma, revenue +theta,
    # long-run +J_up; with theta = gamma the net is exactly J_up
    gamma_mech = bsp.Mechanism(3, 1, 1.0, 1.0, j_up, j_down)
    gain, static = bsp.best_deviation([2, 2, 1, 0], [2], True, gamma_mech, grid, 1)
    assert gain >= j_up - 1e-12 and static == 0.0
    theta_mech = bsp.Mechanism(3, 1, 0.7, 1.0, j_up, j_down)      # 0.7 <= 1 - 0.2 / 1
    assert bsp.in_range(theta_mech, 1.0, 2.0, 1)
    assert _max_gains(theta_mech, 1.0, 2.0, 1) == {"uic": 0.0, "mic": 0.0, "scp": 0.0}
    above = bsp.Mechanism(3, 1, 0.9, 1.0, j_up, j_down)           # (gamma - theta) tick = 0.1 < J_up
    assert _max_gains(above, 1.0, 2.0, 1)["scp"] == pytest.approx(j_up - 0.1)
    assert _max_gains(bsp.Mechanism(3, 1, 0.0, 1.0, j_up, j_down), 1.0, 2.0, 1)["scp"] > 0   # theta = 0


# ----------------------------------------------------------------------------- the stake urn
def test_honest_share_is_a_martingale_with_the_polya_variance_and_beta_limit():
    rng = np.random.default_rng(1)
    s = stake_urn.simulate(0.3, 10.0, 1.0, 0.5, [0.0], 500, 4000, rng)[0]     # random rewards
    assert abs(s.mean() - 0.3) < 3 * s.std() / math.sqrt(len(s))
    # constant reward: a Polya urn with X0 = 1, Y0 = 2, a = 1 -> S_inf ~ Beta(1, 2)
    s = stake_urn.simulate(1 / 3, 3.0, 1.0, 0.0, [0.0], 2000, 4000, rng)[0]
    exact = stake_urn.polya_variance(1 / 3, 3.0, 1.0, 2000)
    assert s.var() == pytest.approx(exact, rel=0.08)
    beta = stats.beta(1, 2)
    assert stake_urn.polya_variance(1 / 3, 3.0, 1.0, 200_000) == pytest.approx(beta.var(), rel=1e-3)
    assert stats.kstest(s, beta.cdf).pvalue > 1e-3


def test_long_run_step_closed_form_and_simulation():
    u = stake_urn.long_run_utility([-1e-9, 0.0, 1e-9], 0.3, 2.0)
    assert list(u) == [0.0, 0.6, 2.0]
    assert stake_urn.jumps(0.3, 2.0) == pytest.approx((1.4, 0.6))
    rng = np.random.default_rng(2)
    deltas = [-0.5, -0.05, 0.0, 0.05, 3.0]
    early = stake_urn.simulate(0.3, 10.0, 1.0, 0.25, deltas, 300, 1000, rng).mean(1)
    s = stake_urn.simulate(0.3, 10.0, 1.0, 0.25, deltas, 3000, 1000, rng).mean(1)
    assert s[-1] > 0.98 and s[0] < 0.05                        # large deviations: near the step's 1 and 0
    assert s[-1] > early[-1] and s[0] < early[0]               # ... and closer to it at a later horizon
    assert s[0] < s[1] < s[2] < s[3] < s[4]
    # small deviations: the fluid closed form, up to the Jensen gap of a few thousandths
    fluid = stake_urn.fluid_share(np.array([-0.05, 0.05]), 0.3, 10.0, 1.0, 3000)
    assert s[1] == pytest.approx(fluid[0], abs=0.015) and s[3] == pytest.approx(fluid[1], abs=0.02)
    assert stake_urn.fluid_share(0.0, 0.3, 10.0, 1.0, 3000) == pytest.approx(0.3)


# ----------------------------------------------------------------------------- the analysis' contract
def test_compute_writes_exactly_the_declared_outputs():
    cfg = TfmBsp(kind="tfm_bsp", theta=0.5, tick=1.0, profiles=2)
    out = tfm_bsp.compute(cfg, 0, {})
    assert set(out["metrics"]) == {m.name for m in BSP_METRICS}
    assert out["metrics"]["jump_up"] == pytest.approx(0.2) and out["metrics"]["in_range"] == 1.0
    st = tfm_stake.compute(TfmStake(kind="tfm_stake", horizon=20, paths=50), 3, {})
    assert set(st["metrics"]) == {m.name for m in STAKE_METRICS}
    assert set(st["series"]) == {s.name for s in STAKE_SERIES}
    x, y = st["series"]["long_run_utility"]["x"], st["series"]["long_run_utility"]["y"]
    s0 = st["metrics"]["share0"]
    assert 0.2 <= s0 <= 0.5 and y[x.index(0.0)] == s0 and y[x.index(-1e-9)] == 0.0 and y[x.index(1e-9)] == 1.0


def test_bad_settings_are_refused():
    with pytest.raises(ValidationError, match="fewer than the block size"):
        TfmBsp(kind="tfm_bsp", theta=0.5, tick=1.0, block=2, coalition=2)
    with pytest.raises(ValidationError, match="bids on the grid"):
        TfmBsp(kind="tfm_bsp", theta=0.5, tick=0.05, max_bid=16.0)
    with pytest.raises(ValidationError, match="non-positive"):
        TfmStake(kind="tfm_stake", horizon=10, spread=0.5, deltas=[-0.6])
    with pytest.raises(ValidationError):
        TfmStake(kind="tfm_stake", horizon=10, share_low=0.6, share_high=0.4)
