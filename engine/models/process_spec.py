"""The forward processes a score model can use (part of a model family's spec)."""
from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import Field, ValidationInfo, field_validator

from ..spec.base import Strict


class VPProcess(Strict):
    """Variance preserving: beta(t) = beta_min + t (beta_max - beta_min), t in [0, 1]."""
    kind: Literal["vp"]
    beta_min: float = Field(0.1, gt=0, le=1000)
    beta_max: float = Field(20.0, gt=0, le=1000)     # abar(1) = exp(-beta_max / 2) stays a float64

    @field_validator("beta_max")
    @classmethod
    def _order(cls, v: float, info: ValidationInfo) -> float:
        if v < info.data.get("beta_min", v):
            raise ValueError(f"beta_max ({v}) must be >= beta_min ({info.data['beta_min']})")
        return v


class VEProcess(Strict):
    """Variance exploding: geometric sigma from sigma_min to sigma_max, then 0 at the end."""
    kind: Literal["ve"]
    sigma_min: float = Field(0.01, ge=1e-6, le=1e6)
    sigma_max: float = Field(20.0, gt=0, le=1e6)

    @field_validator("sigma_max")
    @classmethod
    def _order(cls, v: float, info: ValidationInfo) -> float:
        if "sigma_min" in info.data and v <= info.data["sigma_min"]:
            raise ValueError(f"sigma_max ({v}) must be > sigma_min ({info.data['sigma_min']})")
        return v


Process = Annotated[Union[VPProcess, VEProcess], Field(discriminator="kind")]
