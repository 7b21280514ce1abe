"""A data set for compressed sensing: splits in R^d, the orthonormal basis the data are sparse
(or compressible) in, and the box the proximal step may project on."""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Signals:
    train: torch.Tensor            # [n, d] float64
    val: torch.Tensor              # [n_val, d]: chooses the LASSO weight, never a test metric
    test: torch.Tensor             # [n_test, d]: held out
    basis: torch.Tensor | None     # Psi [d, d], orthonormal columns; None = the pixel (identity) basis
    box: tuple[float, float] | None  # exact only with the pixel basis
    peak: float                    # the signal range PSNR refers to
    basis_name: str

    @property
    def dim(self) -> int:
        return self.train.shape[1]


def load(data_cfg) -> Signals:
    """The data set a `signals` data kind describes (its implementation's `generate`), made once
    per process and config: a batched job's instances share it (callers never modify it)."""
    key = data_cfg.model_dump_json()
    if key not in _MADE:
        from .. import registry
        _MADE.clear()                  # one data set at a time is enough for a job
        _MADE[key] = registry.implementation(registry.kind("data", data_cfg.kind)).generate(data_cfg)
    return _MADE[key]


_MADE: dict[str, Signals] = {}
