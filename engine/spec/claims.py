"""Claims: a paper's qualitative statements, judged with statistics over seeds (engine/report/claims.py).

Every check measures an effect per cell (a combination of the swept axes other than the seed,
and for a trend other than its axis too), in the metric's units, with a t interval over the
cell's seeds; the claim's `min_effect` is the threshold the effect must clear.
"""
from __future__ import annotations

from typing import Annotated, ClassVar, Literal, Union

from pydantic import Field

from .base import Name, Scalar, Strict, neutral


class CompareClaim(Strict):
    """Per run: effect = left - scale * right (|left| - scale * |right| with `abs`), paired within the
    run; `>` claims effect > min_effect, `<` claims effect < -min_effect. `scale` states a claimed
    ratio ("within 1.25 times the baseline": op "<", scale 1.25)."""
    REFS: ClassVar = (("left", "metric"), ("right", "metric"))
    kind: Literal["compare"]
    left: str
    op: Literal["<", ">"]
    right: str
    abs: bool = False
    scale: float = neutral(1.0, gt=0, le=1e6)


class TrendClaim(Strict):
    """Per group of the other axes and per seed: effect = Spearman rank correlation of `metric`
    with `axis`; `increasing` claims rho > min_effect, `decreasing` rho < -min_effect."""
    REFS: ClassVar = (("metric", "metric"), ("axis", "axis"))
    kind: Literal["trend"]
    metric: str
    axis: str
    direction: Literal["increasing", "decreasing"]


class OptimumClaim(Strict):
    """Per group of the other axes and per seed: the best value of `metric` over the interior values
    of `axis` against the best over its two end values; effect = best end - best interior for
    `minimum` (so > 0 means an interior optimum), best interior - best end for `maximum`; claimed
    effect > min_effect. The axis needs at least three values."""
    REFS: ClassVar = (("metric", "metric"), ("axis", "axis"))
    MIN_AXIS_VALUES: ClassVar = 3
    kind: Literal["optimum"]
    metric: str
    axis: str
    direction: Literal["minimum", "maximum"]


class ContrastClaim(Strict):
    """Per seed and per group of the other axes, paired (runs that differ only in `axis` share their
    seed): effect = metric at axis = `value` - metric at axis = a, for each a in `against` (every
    other value of the axis when empty); each a is a cell. `>` claims effect > min_effect, `<`
    claims effect < -min_effect. "X beats every other variant": op ">", min_fraction 1."""
    REFS: ClassVar = (("metric", "metric"), ("axis", "axis"))
    kind: Literal["contrast"]
    metric: str
    axis: str
    value: Scalar
    against: list[Scalar] = Field([], max_length=1000)
    op: Literal["<", ">"]


class CurveNarrowsClaim(Strict):
    """Per run, against the pretrained value (epoch 0, the curve's first point):
    effect = |m(last epoch)| - ratio * |m(epoch 0)|, claimed < -min_effect. `ratio` is the
    claimed final/initial bound: 1 (default) claims any narrowing, 0.5 claims at least halving."""
    REFS: ClassVar = (("metric", "series"),)
    kind: Literal["curve_narrows"]
    metric: str
    ratio: float = Field(1.0, gt=0, le=1)


class CurveBelowPeakClaim(Strict):
    """Per run, against the curve's peak: effect = |m(last epoch)| - ratio * max over epochs |m|,
    claimed < -min_effect (the final value fell back from wherever training took it)."""
    REFS: ClassVar = (("metric", "series"),)
    kind: Literal["curve_below_peak"]
    metric: str
    ratio: float = Field(0.5, gt=0, le=1)


class ReachesClaim(Strict):
    """Per seed and per group of the other axes, paired like a contrast: the cost the run at axis =
    `value` takes to first reach the final value of the series `metric` (over epochs) of the run at
    axis = a, for each a in `against` (every other value when empty), relative to a's whole cost:
    effect = cost to reach / a's total cost - 1 (-0.5: in half the time). An epoch's cost is the
    run's metric `cost` (e.g. seconds per epoch); the crossing is interpolated linearly between curve
    points; a run that never reaches the target counts +inf for that seed (a cell where most seeds
    never reach does not hold; where some do not, it cannot hold). Claimed < -min_effect."""
    REFS: ClassVar = (("metric", "series"), ("cost", "metric"), ("axis", "axis"))
    kind: Literal["reaches"]
    metric: str
    cost: str
    axis: str
    value: Scalar
    against: list[Scalar] = Field([], max_length=1000)


ClaimCheck = Annotated[Union[CompareClaim, TrendClaim, OptimumClaim, ContrastClaim, CurveNarrowsClaim,
                             CurveBelowPeakClaim, ReachesClaim],
                       Field(discriminator="kind")]


def references(check) -> list[tuple[tuple, str, str]]:
    """The names a check uses: (field path inside the check, name, "metric" | "series" | "axis")."""
    return [((f,), getattr(check, f), what) for f, what in check.REFS]


class Claim(Strict):
    """A claim holds when at least `min_fraction` of its cells hold; it does not hold when so
    many cells do not hold that `min_fraction` is out of reach; otherwise it is inconclusive."""
    name: Name
    text: str = Field(min_length=1, max_length=500)
    check: ClaimCheck
    where: dict[str, Scalar] = {}
    min_fraction: float = Field(0.75, gt=0, le=1)
    min_effect: float = Field(0.0, ge=0)    # metric units; rank correlation for a trend
