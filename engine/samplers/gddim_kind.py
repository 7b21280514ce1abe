"""Sampler kind `gddim`: generalized DDIM with stochasticity lambda (0 = ODE, 1 = DDPM)."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..registry import Kind, register
from ..spec.base import Strict


class GDDIMSampler(Strict):
    """Generalized DDIM with stochasticity lambda >= 0 (0 = ODE, 1 = DDPM)."""
    kind: Literal["gddim"]
    steps: int = Field(20, ge=1, le=10_000)
    stochasticity: float = Field(1.0, ge=0, le=1_000)


register(Kind("sampler", "gddim", GDDIMSampler, code="engine.samplers.gddim", traits={"noise_field": "stochasticity"}))
