"""Data kind `sparse_signals`: synthetic signals that are exactly k-sparse in a known basis."""
from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from ..registry import Kind, register
from ..spec.base import Strict


class SparseSignals(Strict):
    """x = Psi c with c k-sparse. The support is one of `patterns` fixed random supports (drawn once
    from `seed`), and the k amplitudes are the pattern's fixed signs times (1 + `spread` N(0, 1)):
    a mixture of `patterns` Gaussians on k-dimensional coordinate subspaces of the basis, so the
    law has structure a diffusion model can learn and a sliced distance can see."""
    kind: Literal["sparse_signals"]
    dim: int = Field(256, ge=4, le=65_536)
    sparsity: int = Field(8, ge=1)
    basis: Literal["dct", "identity"] = "dct"
    patterns: int = Field(16, ge=1, le=100_000)
    spread: float = Field(0.3, ge=0, le=10)
    n_train: int = Field(4000, ge=2, le=10_000_000)
    n_val: int = Field(200, ge=1, le=1_000_000)
    n_test: int = Field(1000, ge=2, le=1_000_000)
    seed: int = Field(0, ge=0, le=2**31 - 1)

    @model_validator(mode="after")
    def _sparse(self):
        if self.sparsity > self.dim:
            raise ValueError(f"sparsity ({self.sparsity}) must be at most dim ({self.dim})")
        return self


register(Kind("data", "sparse_signals", SparseSignals, code="engine.data.sparse_signals",
              traits={"provides": "signals", "dim": lambda d: d.dim}))
