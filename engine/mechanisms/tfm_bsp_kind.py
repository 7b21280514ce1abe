"""The analysis kind `tfm_bsp` of the proof-of-stake transaction-fee-mechanism paper (arXiv 2308.13881,
Tang & Yao): the burning second-price auction BSP(theta) with a staking miner's long-run utility.

One run = one mechanism (theta, gamma, tick, block size, unconfirmed slots) and coalition bound c; the seed
draws `profiles` random value profiles (values uniform on the tick grid up to max_bid) and the run searches
every deviation on the grid for UIC, MIC and c-SCP (engine/mechanisms/bsp.py), with the long-run stake term
J_up = value (1 - share), J_down = value share and without it (static). compute() is in
engine/mechanisms/tfm_bsp.py; the long-run term itself is the `tfm_stake` analysis
(engine/mechanisms/tfm_stake_kind.py).

The model is RECONSTRUCTED from the abstracts (the full text could not be read): see the modules' docstrings.
"""
from __future__ import annotations

import math
from typing import Literal, Optional

from pydantic import Field, model_validator

from ..registry import Kind, Metric, register
from ..spec.base import Strict
from ..stages import compute_kind

MAX_ROWS = 200_000_000          # candidate blocks evaluated per run (bids x fakes x inclusion sets), summed
MAX_GRID = 41                   # bids on the tick grid


class TfmBsp(Strict):
    """BSP(theta): the top `block` bids are included, the top block - u confirmed at the price of the highest
    unconfirmed bid, the miner gets theta x the unconfirmed bids; gamma-strict utility; bids on a tick grid."""
    kind: Literal["tfm_bsp"]
    theta: float = Field(ge=0, le=2)                       # miner-revenue rate; BSP(gamma) is theta = gamma
    gamma: float = Field(1.0, gt=0, le=2)                  # strictness of the gamma-utility
    tick: float = Field(ge=0.05, le=4)                     # tick size of bids (and of the value grid)
    max_bid: float = Field(2.0, gt=0, le=16)               # bids and values lie in {0, tick, ..., max_bid}
    block: int = Field(4, ge=2, le=5)                      # block size k
    users: int = Field(5, ge=2, le=6)                      # users per profile n
    coalition: int = Field(1, ge=1, le=3)                  # c of c-SCP: the miner with up to c users
    unconfirmed: Optional[int] = Field(None, ge=1, le=4)   # u; None: equal to the coalition bound c
    fakes: int = Field(1, ge=0, le=2)                      # fake bids a deviator may inject
    stake_value: float = Field(5.0, ge=0, le=10_000)       # Lambda: the value of owning the whole stake
    share: float = Field(0.96, ge=0, le=1)                 # the miner's stake share S under honest play
    profiles: int = Field(20, ge=1, le=10_000)             # value profiles drawn per run (by the seed)

    @model_validator(mode="after")
    def _sizes(self):
        u = self.coalition if self.unconfirmed is None else self.unconfirmed
        if u >= self.block:
            raise ValueError(f"unconfirmed slots ({u}) must be fewer than the block size ({self.block})")
        if self.coalition > self.users:
            raise ValueError(f"coalition ({self.coalition}) larger than the number of users ({self.users})")
        grid = int(math.floor(self.max_bid / self.tick + 1e-9)) + 1
        if grid > MAX_GRID:
            raise ValueError(f"max_bid / tick gives {grid} bids on the grid (at most {MAX_GRID})")
        rows = 0
        for size in range(0, self.coalition + 1):
            for f in range(self.fakes + 1):
                rows += math.comb(self.users, size) * grid ** (size + f) * math.comb(self.users + f, self.block)
        if rows * self.profiles > MAX_ROWS:
            raise ValueError(f"the deviation search evaluates {rows * self.profiles:.3g} candidate blocks "
                             f"(at most {MAX_ROWS:.0e}): fewer profiles, a coarser tick or a smaller coalition")
        return self


BSP_METRICS = (
    Metric("uic_gain", doc="largest gain of one user's deviation (bid, own fakes), miner honest, over profiles"),
    Metric("mic_gain", doc="largest gain of the miner alone (fakes, inclusion), long-run term included"),
    Metric("mic_gain_static", doc="mic_gain without the long-run term"),
    Metric("scp_gain", doc="largest gain of the miner with 1..c users (bids, fakes, inclusion), long-run term included"),
    Metric("scp_gain_static", doc="scp_gain without the long-run term (the static BSP of Chung-Shi, reconstructed)"),
    Metric("max_gain", doc="max of uic_gain, mic_gain, scp_gain"),
    Metric("uic_violations", doc="profiles with a profitable user deviation"),
    Metric("mic_violations", doc="profiles with a profitable miner deviation"),
    Metric("scp_violations", doc="profiles with a profitable coalition deviation"),
    Metric("all_hold", doc="1 when no profile has a profitable deviation of any kind, else 0"),
    Metric("in_range", doc="1 when the run meets the reconstructed sufficient conditions "
                           "0 < theta <= gamma - J_up/tick, J_down >= c max_bid, k - u >= theta u"),
    Metric("theta_max", doc="gamma - J_up / tick: the reconstructed upper end of the theta range"),
    Metric("jump_up", doc="J_up = stake_value (1 - share)"),
    Metric("jump_down", doc="J_down = stake_value share"),
    Metric("mean_revenue", doc="honest miner revenue per block, mean over profiles"),
    Metric("mean_burn", doc="honest burn per block, mean over profiles"),
)

register(Kind("analysis", "tfm_bsp", TfmBsp, code="engine.mechanisms.tfm_bsp", graph=compute_kind.graph,
              traits={"metrics": BSP_METRICS, "series": ()}))
