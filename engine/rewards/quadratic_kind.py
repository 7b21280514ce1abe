"""Reward kind `quadratic`: r(x) = -|x - center|^2 / scale, exact in expectation for Gaussians."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..registry import Kind, register
from ..spec.base import Strict


class QuadraticReward(Strict):
    """r(x) = -|x - center|^2 (center broadcast over dimensions)."""
    kind: Literal["quadratic"]
    center: float = Field(0.0, ge=-1e4, le=1e4)      # bounds keep -|x - c|^2 finite (defect 11)
    scale: float = Field(1.0, gt=0, le=1e4)


register(Kind("reward", "quadratic", QuadraticReward, code="engine.rewards.quadratic", traits={"accepts": ("vectors",)}))
