"""Data kind `array_file`: a data set the user provides as a local file (the paper scale of
compressed-sensing diffusion: MNIST, OCT images, climate fields, a return panel). Nothing is
downloaded: the file is read from the project, and its sha256, when the spec states one, is
checked before use."""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from ..registry import Kind, register
from ..spec.base import ProjectPath, Strict


class ArrayFile(Strict):
    """`npy_images`: a .npy array [n, h, w] (uint8 0-255 or floats in [0, 1]), resized to `shape`
    by bilinear interpolation, in [0, 1], pixel basis with the box [0, 1] unless `basis` says
    otherwise. `npy_fields`: a .npy array [n, h, w] of real values (climate fields), standardised
    by the training split's mean and std, in the DCT basis. `csv_returns`: a CSV of returns, one
    row per date (first column the date, a header row of asset names), `assets` columns, cut into
    non-overlapping windows of `days` rows; principal-component basis of the training windows.
    The split: the last `n_test` samples are held out, the `n_val` before them validate (in file
    order: time order for returns)."""
    kind: Literal["array_file"]
    path: ProjectPath
    format: Literal["npy_images", "npy_fields", "csv_returns"]
    shape: list[Annotated[int, Field(ge=1, le=100_000)]] | None = Field(None, min_length=2, max_length=2)  # (h, w) after resizing
    assets: int | None = Field(None, ge=1, le=100_000)
    days: int | None = Field(None, ge=1, le=100_000)
    basis: Literal["identity", "dct", "pca"] | None = None     # None: the format's default
    n_val: int = Field(500, ge=1)
    n_test: int = Field(2000, ge=2)
    sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")


    @model_validator(mode="after")
    def _shape(self):
        if self.format == "csv_returns" and (self.assets is None or self.days is None):
            raise ValueError("csv_returns needs `assets` and `days`")
        if self.format != "csv_returns" and self.shape is None:
            raise ValueError(f"{self.format} needs `shape: [h, w]`")
        return self

    @property
    def dim(self) -> int:
        return self.assets * self.days if self.format == "csv_returns" else self.shape[0] * self.shape[1]


register(Kind("data", "array_file", ArrayFile, code="engine.data.array_file",
              traits={"provides": "signals", "dim": lambda d: d.dim,
                      "images": lambda d: tuple(d.shape) if d.format == "npy_images" else None}))
