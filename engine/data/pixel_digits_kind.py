"""Data kind `pixel_digits`: scikit-learn's 8x8 handwritten digits as vectors in [0, 1]^64."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..registry import Kind, register
from ..spec.base import Strict


class PixelDigits(Strict):
    """The digits (shipped with scikit-learn, d = 64) in [0, 1], sparse in the pixel basis (about
    half of the pixels are 0), where projecting the proximal step on the box [0, 1] is exact.
    Fixed split: `n_test` held out, `n_val` of the rest choose the LASSO weight."""
    kind: Literal["pixel_digits"]
    n_val: int = Field(100, ge=1, le=500)
    n_test: int = Field(400, ge=2, le=800)
    split_seed: int = Field(0, ge=0, le=2**31 - 1)


register(Kind("data", "pixel_digits", PixelDigits, code="engine.data.pixel_digits",
              traits={"provides": "signals", "dim": lambda d: 64, "images": (8, 8),
                      "sample_metrics": (("judge_confidence", "a logistic-regression judge's mean top-class probability "
                                                              "on the recovered samples"),
                                         ("judge_confidence_full", "the same on the full-dimension samples"),
                                         ("judge_confidence_real", "the same on held-out digits"))}))
