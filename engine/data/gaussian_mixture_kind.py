"""Data kind `gaussian_mixture`: isotropic Gaussian components on the diagonal."""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, ValidationInfo, field_validator

from ..registry import Kind, register
from ..spec.base import Strict


class GaussianMixtureData(Strict):
    """x0 ~ sum_j w_j N(means_j 1, stds_j^2 I): isotropic components on the diagonal."""
    kind: Literal["gaussian_mixture"]
    dim: int = Field(2, ge=1, le=4096)
    means: list[Annotated[float, Field(ge=-1e4, le=1e4)]] = Field(min_length=1, max_length=64)
    stds: list[Annotated[float, Field(le=1e4)]] = Field(min_length=1, max_length=64)
    weights: list[Annotated[float, Field(gt=0)]] = Field(min_length=1, max_length=64)

    @field_validator("stds")
    @classmethod
    def _positive(cls, v: list[float]) -> list[float]:
        if any(s <= 0 for s in v):
            raise ValueError(f"every component std must be > 0 (got {v})")
        return v

    @field_validator("stds", "weights")
    @classmethod
    def _same_lengths(cls, v: list[float], info: ValidationInfo) -> list[float]:
        if "means" in info.data and len(v) != len(info.data["means"]):
            raise ValueError(f"{len(v)} {info.field_name} for {len(info.data['means'])} means: "
                             f"give one per component")
        return v


register(Kind("data", "gaussian_mixture", GaussianMixtureData, traits={"provides": "vectors"}))
