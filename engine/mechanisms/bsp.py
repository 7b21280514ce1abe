"""The burning second-price auction BSP(theta) with a proof-of-stake miner (arXiv 2308.13881, Tang & Yao,
extending Chung & Shi, SODA 2023), as RECONSTRUCTED here: only the abstracts could be read, so the rules
below are a coherent stand-in, checked by exhaustive search, not the paper's text.

Mechanism (block size k, `unconfirmed` slots u < k, miner-revenue rate theta, bids on the tick grid):
  inclusion (the miner's, honest): the top k bids, ties broken by arrival order (users in index order,
      then any fake bids); a block with fewer than k bids confirms nothing and pays the miner nothing;
  confirmation: the top k - u included bids;
  payment: every confirmed bid pays the same price p = the highest unconfirmed bid b_(k-u+1);
  miner revenue: theta * (sum of the u unconfirmed bids); burn: (k - u) p - revenue.
Strict gamma-utility: a coalition-owned bid (a colluding user's, or a fake of value 0) that is included but
not confirmed costs its owner gamma * (bid - value)^+ (a stand-in for Chung-Shi's hidden cost of deviating).
Utilities: user (v - p) if confirmed; a confirmed fake pays p at value 0; the miner gets the revenue plus its
long-run stake term J(delta), delta = revenue - the honest miner's revenue on the truthful bids: +J_up if delta > 0, -J_down
if delta < 0, 0 if delta = 0 (engine/mechanisms/stake_urn.py: the share martingale's jump).

Properties, searched exhaustively over a grid of deviations for one profile of values:
  UIC: one user, the miner honest: any bid on the grid and up to `fakes` fake bids of its own;
  MIC: the miner alone: up to `fakes` fake bids and any inclusion set (any k of the bids, or a short block);
  c-SCP: the miner with every coalition of 1..c users: their bids, fakes, and any inclusion set;
the joint utility is the sum of the members' utilities. Pure numpy; no engine imports.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

TOL = 1e-9                     # a deviation is profitable when it gains more than this


@dataclass(frozen=True)
class Mechanism:
    block: int                 # k
    unconfirmed: int           # u: included but not confirmed slots
    theta: float               # miner revenue = theta * sum of the unconfirmed bids
    gamma: float = 1.0         # strictness of the gamma-utility
    jump_up: float = 0.0       # long-run gain of a revenue increase (delta > 0)
    jump_down: float = 0.0     # long-run loss of a revenue decrease (delta < 0)

    def __post_init__(self):
        if not 1 <= self.unconfirmed < self.block:
            raise ValueError(f"need 1 <= unconfirmed < block (got {self.unconfirmed}, {self.block})")


def bid_grid(tick: float, max_bid: float) -> np.ndarray:
    """The bids allowed with a tick size: 0, tick, 2 tick, ... up to max_bid."""
    m = int(np.floor(max_bid / tick + 1e-9))
    return np.round(np.arange(m + 1) * tick, 12)


def outcome(bids, mech: Mechanism) -> dict:
    """Honest BSP on a list of bids (list position = tie-break priority): included, confirmed and unconfirmed
    positions, price, miner revenue and burn. The readable reference of the vectorised rule below."""
    order = sorted(range(len(bids)), key=lambda i: (-bids[i], i))
    k, u = mech.block, mech.unconfirmed
    if len(bids) < k:
        return {"included": [], "confirmed": [], "unconfirmed": [], "price": 0.0, "revenue": 0.0, "burn": 0.0}
    inc = order[:k]
    conf, unconf = inc[:k - u], inc[k - u:]
    price = float(bids[unconf[0]])
    revenue = mech.theta * float(sum(bids[i] for i in unconf))
    return {"included": inc, "confirmed": conf, "unconfirmed": unconf, "price": price, "revenue": revenue,
            "burn": (k - u) * price - revenue}


def long_run_term(delta, jump_up: float, jump_down: float):
    """J(delta): the miner's long-run stake value relative to honest play (a step at delta = 0)."""
    delta = np.asarray(delta, dtype=float)
    return np.where(delta > TOL, jump_up, np.where(delta < -TOL, -jump_down, 0.0))


def _block_utility(B, V, C, mech: Mechanism):
    """Static coalition utility and miner revenue of full blocks. B: (..., k) included bids in priority
    order; V: their owners' values (0 for fakes); C: whether the coalition owns each. Returns (static
    utility of the coalition's users and fakes, revenue)."""
    order = np.argsort(-B, axis=-1, kind="stable")           # bid descending, ties by priority
    sb = np.take_along_axis(B, order, -1)
    sv = np.take_along_axis(np.broadcast_to(V, B.shape), order, -1)
    sc = np.take_along_axis(np.broadcast_to(C, B.shape), order, -1)
    m = mech.block - mech.unconfirmed
    price = sb[..., m]
    revenue = mech.theta * sb[..., m:].sum(-1)
    gain = np.where(sc[..., :m], sv[..., :m] - price[..., None], 0.0).sum(-1)
    cost = mech.gamma * np.where(sc[..., m:], np.maximum(sb[..., m:] - sv[..., m:], 0.0), 0.0).sum(-1)
    return gain - cost, revenue


def _assignments(grid: np.ndarray, free: int) -> np.ndarray:
    """Every assignment of grid bids to `free` bidders: (len(grid)**free, free)."""
    if free == 0:
        return np.zeros((1, 0))
    return np.stack(np.meshgrid(*([grid] * free), indexing="ij"), -1).reshape(-1, free)


def best_deviation(vals, members, miner: bool, mech: Mechanism, grid, fakes: int) -> tuple[float, float]:
    """Best joint utility gain of a coalition (users `members`, with the miner or not) over every deviation
    on the grid: members' bids, up to `fakes` fake bids, and (with the miner) any inclusion set. Without the
    miner, the honest miner includes the top k. Returns (gain with the long-run term, gain without it)."""
    vals = np.asarray(vals, dtype=float)
    n, k = len(vals), mech.block
    members = list(members)
    ref = outcome(list(vals), mech)
    rev0 = ref["revenue"]
    base = sum(vals[i] - ref["price"] for i in ref["confirmed"] if i in members)   # truthful: no strict cost
    if miner:
        base += rev0
    best, best_static = base, base
    for f in range(fakes + 1):
        bids = _assignments(grid, len(members) + f)                 # (M, |members| + f)
        pool = np.repeat(np.concatenate([vals, np.zeros(f)])[None, :], len(bids), 0)
        pool[:, members] = bids[:, :len(members)]
        pool[:, n:] = bids[:, len(members):]
        V = np.concatenate([vals, np.zeros(f)])
        C = np.zeros(n + f, bool)
        C[members] = True
        C[n:] = True
        if n + f < k:                                               # no full block is possible
            continue
        if miner:                                                   # any k of the pool
            idx = np.array(list(itertools.combinations(range(n + f), k)))
            static, rev = _block_utility(pool[:, idx], V[idx], C[idx], mech)
        else:                                                       # the honest miner: the top k
            top = np.argsort(-pool, axis=-1, kind="stable")[:, :k]
            top.sort(axis=-1)                                       # back to priority order
            static, rev = _block_utility(np.take_along_axis(pool, top, -1), V[top], C[top], mech)
        total = static + (rev + long_run_term(rev - rev0, mech.jump_up, mech.jump_down) if miner else 0.0)
        best = max(best, float(total.max()))
        best_static = max(best_static, float((static + (rev if miner else 0.0)).max()))
    if miner:                                                       # a short block: nothing confirmed, no revenue
        best = max(best, float(long_run_term(-rev0, mech.jump_up, mech.jump_down)))
        best_static = max(best_static, 0.0)
    return best - base, best_static - base


def check_profile(vals, mech: Mechanism, grid, coalition: int, fakes: int) -> dict:
    """The largest gains of a profile: UIC (max over users), MIC (the miner alone), c-SCP (max over the
    miner with every set of 1..coalition users), with and without the long-run term."""
    n = len(vals)
    uic = max(best_deviation(vals, [i], False, mech, grid, fakes)[0] for i in range(n))
    mic, mic_static = best_deviation(vals, [], True, mech, grid, fakes)
    scp, scp_static = 0.0, 0.0
    for size in range(1, coalition + 1):
        for members in itertools.combinations(range(n), size):
            g, gs = best_deviation(vals, members, True, mech, grid, fakes)
            scp, scp_static = max(scp, g), max(scp_static, gs)
    return {"uic": uic, "mic": mic, "mic_static": mic_static, "scp": scp, "scp_static": scp_static}


def theta_max(gamma: float, jump_up: float, tick: float) -> float:
    """The RECONSTRUCTED upper end of the range: the cheapest revenue-raising move (one tick on an
    unconfirmed coalition bid) costs (gamma - theta) tick and gains J_up, so theta <= gamma - J_up / tick."""
    return gamma - jump_up / tick


def in_range(mech: Mechanism, tick: float, max_bid: float, coalition: int) -> bool:
    """The RECONSTRUCTED sufficient conditions for UIC, MIC and c-SCP of BSP(theta) with the long-run term:
    0 < theta <= gamma - J_up / tick, J_down >= c * max_bid, non-negative burn (k - u >= theta u)."""
    return (0.0 < mech.theta <= theta_max(mech.gamma, mech.jump_up, tick) + TOL
            and mech.jump_down >= coalition * max_bid - TOL
            and mech.block - mech.unconfirmed >= mech.theta * mech.unconfirmed - TOL)
