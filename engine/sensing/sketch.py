"""The random sketch y = A x and the orthonormal bases the data are sparse in."""
from __future__ import annotations

import math

import torch


def gaussian_sketch(m: int, d: int, generator: torch.Generator) -> torch.Tensor:
    """A [m, d] with i.i.d. entries N(0, 1/m), so E ||A x||^2 = ||x||^2."""
    return torch.randn(m, d, generator=generator, dtype=torch.float64) / math.sqrt(m)


def dct_basis(d: int) -> torch.Tensor:
    """The orthonormal DCT-II synthesis matrix Psi [d, d]: x = Psi @ c has DCT coefficients c
    (column k is the k-th cosine; Psi.T @ Psi = I)."""
    n = torch.arange(d, dtype=torch.float64)[:, None]
    k = torch.arange(d, dtype=torch.float64)[None, :]
    psi = torch.cos(math.pi * (n + 0.5) * k / d) * math.sqrt(2.0 / d)
    psi[:, 0] = 1.0 / math.sqrt(d)
    return psi


def dct2_basis(h: int, w: int) -> torch.Tensor:
    """The orthonormal 2-D DCT-II synthesis matrix [h w, h w] of row-major h x w images: the
    Kronecker product of the two 1-D bases."""
    return torch.kron(dct_basis(h), dct_basis(w))


def pca_basis(x: torch.Tensor) -> torch.Tensor:
    """The principal axes of centred training data x [n, d] as columns, by decreasing variance
    (orthonormal): a data-estimated basis in which factor-model data are compressible."""
    xc = x.double() - x.double().mean(0)
    _, _, vh = torch.linalg.svd(xc, full_matrices=True)
    return vh.T.contiguous()
