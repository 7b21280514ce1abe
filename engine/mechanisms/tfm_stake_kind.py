"""The analysis kind `tfm_stake` of the proof-of-stake transaction-fee-mechanism paper (arXiv 2308.13881,
Tang & Yao): the staking miner's long-run utility behind BSP(theta) (engine/mechanisms/tfm_bsp_kind.py).

One run = one horizon T; the seed draws the miner's initial stake share S_0 uniformly from
[share_low, share_high] and the simulation's randomness; the run writes the closed-form long-run utility
against the deviation delta (exact on both sides of 0), the fluid finite-T form, and the simulated share
martingale E[S_T] (engine/mechanisms/stake_urn.py). compute() is in engine/mechanisms/tfm_stake.py.

The model is RECONSTRUCTED from the abstracts (the full text could not be read): see the modules' docstrings.
"""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from ..registry import Kind, Metric, Series, register
from ..spec.base import Strict
from ..stages import compute_kind

MAX_STEPS = 500_000_000         # simulated share steps per run (horizon x paths x deviations)

Delta = Annotated[float, Field(ge=-10, le=10)]


class TfmStake(Strict):
    """The stake-share martingale: reward per block uniform on reward * [1 - spread, 1 + spread], staked by
    the proposer (our miner with probability equal to its share); a deviation adds delta to our miner's."""
    kind: Literal["tfm_stake"]
    share_low: float = Field(0.2, gt=0, lt=1)              # S_0 ~ U[share_low, share_high], drawn by the seed
    share_high: float = Field(0.5, gt=0, lt=1)
    pool: float = Field(10.0, gt=0, le=1e6)                # N_0: total stake at the start
    reward: float = Field(1.0, gt=0, le=1e3)               # a: mean reward per block (block reward + fees)
    spread: float = Field(0.5, ge=0, lt=1)                 # relative half-width of the reward's uniform law
    stake_value: float = Field(1.0, gt=0, le=1e4)          # Lambda: the long-run utility is Lambda E[S_inf]
    horizon: int = Field(ge=1, le=1_000_000)               # T: blocks simulated
    paths: int = Field(2000, ge=10, le=1_000_000)
    sim_delta: float = Field(0.05, gt=0, le=10)            # the small deviation of the simulated jump
    deltas: list[Delta] = Field([-0.2, -0.1, -0.05, -0.02, 0.02, 0.05, 0.1, 0.2], min_length=1, max_length=41)

    @model_validator(mode="after")
    def _checks(self):
        if self.share_low > self.share_high:
            raise ValueError(f"share_low ({self.share_low}) exceeds share_high ({self.share_high})")
        floor = -self.reward * (1.0 - self.spread)
        low = min(self.deltas + [-self.sim_delta])
        if low <= floor:
            raise ValueError(f"a deviation {low} makes the miner's reward non-positive (needs > {floor:g})")
        steps = self.horizon * self.paths * (len(self.deltas) + 3)
        if steps > MAX_STEPS:
            raise ValueError(f"horizon x paths x deviations = {steps:.3g} simulated steps (at most {MAX_STEPS:.0e})")
        return self


STAKE_METRICS = (
    Metric("share0", doc="S_0, drawn by the seed"),
    Metric("utility_left", doc="long-run utility at delta = 0- (closed form)"),
    Metric("utility_zero", doc="long-run utility at delta = 0 (closed form)"),
    Metric("utility_right", doc="long-run utility at delta = 0+ (closed form)"),
    Metric("jump_up", doc="utility_right - utility_zero"),
    Metric("jump_down", doc="utility_zero - utility_left"),
    Metric("sim_share", doc="simulated E[S_T] under honest play"),
    Metric("sim_se", doc="its standard error over paths"),
    Metric("martingale_dev", doc="|sim_share - S_0|"),
    Metric("sim_gap_up", doc="simulated E[S_T] at +sim_delta minus at 0 (paired paths)"),
    Metric("sim_gap_down", doc="simulated E[S_T] at 0 minus at -sim_delta (paired paths)"),
    Metric("sim_gap_se", doc="standard error of sim_gap_up over paths"),
    Metric("fluid_gap_up", doc="the fluid closed form's E[S_T] at +sim_delta minus S_0"),
)
STAKE_SERIES = (
    Series("long_run_utility", x="delta", doc="Lambda E[S_inf] against delta, exact, with 0-, 0 and 0+"),
    Series("fluid_utility", x="delta", doc="Lambda x the fluid E[S_T] against delta"),
    Series("sim_utility", x="delta", doc="Lambda x the simulated E[S_T] against delta"),
)

register(Kind("analysis", "tfm_stake", TfmStake, code="engine.mechanisms.tfm_stake", graph=compute_kind.graph,
              traits={"metrics": STAKE_METRICS, "series": STAKE_SERIES}))
