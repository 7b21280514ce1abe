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
    mean: float = Field(0.0, ge=-1e4, le=1e4)        # bounds keep every moment finite
    std: float = Field(1.0, gt=0, le=1e4)


register(Kind("data", "gaussian", GaussianData, traits={"provides": "vectors"}))
