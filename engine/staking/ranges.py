"""[low, high] ranges of uniform draws shared by the staking declarations (stake_trading_kind.py,
stake_parity_kind.py): the field type and its order check. Pydantic and the standard library only."""
from __future__ import annotations

from typing import Annotated

from pydantic import Field

Rate = Annotated[float, Field(ge=0, le=1)]
Range = Annotated[list[Rate], Field(min_length=2, max_length=2)]


def draw(rng, r: list[float]) -> float:
    """One uniform draw from [low, high] (the low end itself when the range is a point)."""
    return float(rng.uniform(r[0], r[1])) if r[1] > r[0] else float(r[0])


def ordered(name: str, r: list[float]) -> None:
    """Refuse a range whose low end exceeds its high end."""
    if r[0] > r[1]:
        raise ValueError(f"{name}: the range [{r[0]}, {r[1]}] must be [low, high]")
