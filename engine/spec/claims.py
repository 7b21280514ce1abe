"""Claims: a paper's qualitative statements, checked against the results (engine/report/claims.py)."""
from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import Field

from .base import Name, Scalar, Strict


class CompareClaim(Strict):
    """Per cell (mean over seeds): left <op> right; `abs` compares magnitudes."""
    kind: Literal["compare"]
    left: str
    op: Literal["<", ">"]
    right: str
    abs: bool = False


class TrendClaim(Strict):
    """Within each group of the other axes, `metric` moves with `axis` (Spearman sign)."""
    kind: Literal["trend"]
    metric: str
    axis: str
    direction: Literal["increasing", "decreasing"]


class CurveNarrowsClaim(Strict):
    """Per run, |metric| at the last logged epoch is below its peak over training."""
    kind: Literal["curve_narrows"]
    metric: str
    ratio: float = Field(0.5, gt=0, le=1)   # final |m| <= ratio * max |m|


ClaimCheck = Annotated[Union[CompareClaim, TrendClaim, CurveNarrowsClaim], Field(discriminator="kind")]


class Claim(Strict):
    name: Name
    text: str = Field(min_length=1, max_length=500)
    check: ClaimCheck
    where: dict[str, Scalar] = {}
    min_fraction: float = Field(0.75, gt=0, le=1)
