"""Sampler kind `ddim`: DDIM with eta in [0, 1] (eta = 1 is DDPM's posterior variance)."""
from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from ..registry import Kind, register
from ..spec.base import Strict


class DDIMSampler(Strict):
    """DDIM with eta in [0, 1] (eta = 1 is DDPM's posterior variance)."""
    kind: Literal["ddim"]
    steps: int = Field(20, ge=1, le=10_000)
    eta: float = Field(1.0, ge=0)

    @field_validator("eta")
    @classmethod
    def _eta_at_most_one(cls, v: float) -> float:
        if v > 1:
            raise ValueError(f"DDIM eta must be <= 1 (got {v}); its step's square root turns negative beyond 1. "
                             f"For more noise use `kind: gddim` with `stochasticity: {v}`")
        return v


register(Kind("sampler", "ddim", DDIMSampler, code="engine.samplers.ddim", traits={"noise_field": "eta"}))
