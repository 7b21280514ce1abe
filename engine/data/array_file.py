"""A data set from a local file the user provides (engine/data/array_file_kind.py says the formats)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..errors import EngineError
from ..store import sha256_file
from ..sensing.signals import Signals
from ..sensing.sketch import dct2_basis, dct_basis, pca_basis


def _read(cfg) -> np.ndarray:
    path = Path(cfg.path)
    if not path.is_file():
        raise EngineError(f"data file {cfg.path} does not exist: the paper scale reads a file you provide "
                          "(README, 'Compressed-sensing diffusion')")
    if cfg.sha256 is not None and sha256_file(path) != cfg.sha256:
        raise EngineError(f"data file {cfg.path} does not match the sha256 its spec states")
    if cfg.format == "csv_returns":
        table = np.genfromtxt(path, delimiter=",", skip_header=1, dtype=np.float64)[:, 1:]
        if table.ndim != 2 or table.shape[1] != cfg.assets or not np.isfinite(table).all():
            raise EngineError(f"{cfg.path}: expected {cfg.assets} finite return columns after the date")
        n = len(table) // cfg.days
        return table[:n * cfg.days].reshape(n, cfg.days * cfg.assets)
    arr = np.load(path, allow_pickle=False)
    if arr.ndim != 3:
        raise EngineError(f"{cfg.path}: expected an array [n, h, w], got shape {arr.shape}")
    x = torch.from_numpy(arr.astype(np.float64))
    if cfg.format == "npy_images":
        x = x / 255.0 if arr.dtype == np.uint8 else x
    if tuple(x.shape[1:]) != tuple(cfg.shape):
        x = torch.nn.functional.interpolate(x[:, None], size=tuple(cfg.shape), mode="bilinear", align_corners=False)[:, 0]
    x = x.reshape(len(x), -1)
    return (x.clamp(0, 1) if cfg.format == "npy_images" else x).numpy()


def generate(cfg) -> Signals:
    x = torch.from_numpy(_read(cfg))
    n_train = len(x) - cfg.n_val - cfg.n_test
    if n_train < 2:
        raise EngineError(f"{cfg.path}: {len(x)} samples leave no training split (n_val {cfg.n_val}, n_test {cfg.n_test})")
    tr, va, te = x[:n_train], x[n_train:n_train + cfg.n_val], x[n_train + cfg.n_val:]
    if cfg.format == "npy_fields":
        mu, sd = float(tr.mean()), float(tr.std())
        tr, va, te = ((v - mu) / sd for v in (tr, va, te))
    default = {"npy_images": "identity", "npy_fields": "dct", "csv_returns": "pca"}[cfg.format]
    basis = cfg.basis or default
    psi = None if basis == "identity" else (pca_basis(tr) if basis == "pca" else
                                          dct2_basis(*cfg.shape) if cfg.shape else dct_basis(cfg.dim))
    box = (0.0, 1.0) if cfg.format == "npy_images" and basis == "identity" else None
    peak = 1.0 if cfg.format == "npy_images" else float(te.max() - te.min())
    return Signals(tr, va, te, psi, box, peak, basis)
