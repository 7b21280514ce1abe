"""Data kind `digits`: scikit-learn's handwritten digits, materialised by the data stage."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..registry import Kind, register
from ..spec.base import Strict


class DigitsData(Strict):
    """scikit-learn's handwritten digits (8x8, shipped with the package) in [-1, 1], fixed split."""
    kind: Literal["digits"]
    size: Literal[8, 16] = 8
    holdout_fraction: float = Field(0.2, gt=0, lt=1)
    split_seed: int = Field(0, ge=0)


register(Kind("data", "digits", DigitsData, traits={"provides": "labelled_images"}))
