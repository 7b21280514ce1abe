"""Data kind `gaussian`: x0 ~ N(mean, std^2 I), known in closed form (no data stage)."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..registry import Kind, register
from ..spec.base import Strict


class GaussianData(Strict):
    """x0 ~ N(mean, std^2 I) in `dim` dimensions."""
    kind: Literal["gaussian"]
    dim: int = Field(2, ge=1, le=4096)
    mean: float = 0.0
    std: float = Field(1.0, gt=0)


register(Kind("data", "gaussian", GaussianData, traits={"provides": "vectors"}))
